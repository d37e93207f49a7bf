"""The first fatal line: a pod says it is crash-looping, out of file descriptors or out of heap.

One `incident` finding per pod and kind, at its first line in the window (so its id stays the
same while the lines keep coming): crash_loop ("Back-off restarting failed container",
CrashLoopBackOff), emfile (EMFILE, too many open files), heap_oom (JavaScript heap out of
memory, java.lang.OutOfMemoryError)."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding
from .base import Rule

QUERIES = ("fatal_lines",)
WHAT = {"crash_loop": "is crash-looping", "emfile": "ran out of file descriptors (EMFILE)",
        "heap_oom": "ran out of heap"}


def detect(ctx: Context) -> list[Finding]:
    svc = ctx.opts.service
    out = []
    for r in ctx.run("fatal_lines"):
        if svc and not ((r["pod"] or "").startswith(svc + "-") or r["service"] in (svc, svc + "-service")):
            continue
        who = r["pod"] or r["service"] or "a source with no pod"
        out.append(Finding(
            rule=f"fatal_{r['error_class']}", severity="incident", confidence=0.9,
            confidence_reasons=[f"{r['lines']} {r['error_class']} line(s), the first at {r['first_ts']}"],
            title=f"{who} {WHAT[r['error_class']]}",
            entity={"service": r["service"], "pod": r["pod"]},
            start=r["first_ts"], end=r["last_ts"],
            metrics={"error_class": r["error_class"], "lines": r["lines"]},
            evidence=[ctx.ev(r["source_id"], r["line_no"], r["message"])],
            sql=ctx.sql_ref("fatal_lines"),
        ))
    return out


RULE = Rule(
    name="fatal_line",
    produces=("fatal_crash_loop", "fatal_emfile", "fatal_heap_oom"),
    queries=QUERIES,
    detect=detect,
)
