"""Event-loop lag above a threshold, more than once: a pod that stops answering for seconds.

A `warning` when a pod logged at least [rules.loop_lag] min_lines event-loop lag lines at or
above lag_ms (defaults 3 and 2000 ms: a single slow start-up tick is common, repeated lag of
seconds outlasts most client timeouts). event_loop_block explains blocks; this one only says
the lag crossed the line."""

from __future__ import annotations

from ...scanstate import rule_threshold
from ..context import Context
from ..findings import Finding
from .base import Rule

QUERIES = ("event_loop_lag_high",)


def detect(ctx: Context) -> list[Finding]:
    lag = float(rule_threshold(ctx.opts, "loop_lag", "lag_ms"))
    least = int(rule_threshold(ctx.opts, "loop_lag", "min_lines"))
    svc = ctx.opts.service
    out = []
    for r in ctx.run("event_loop_lag_high", {"lag_ms": lag}):
        if r["lines_over"] < least:
            continue
        if svc and not ((r["pod"] or "").startswith(svc + "-") or r["service"] in (svc, svc + "-service")):
            continue
        out.append(Finding(
            rule="event_loop_lag_high", severity="warning", confidence=0.7,
            confidence_reasons=[f"{r['lines_over']} of {r['lag_lines']} lag lines at or above {lag:g} ms "
                                f"(max {r['max_lag_ms']:g} ms)"],
            title=f"Event loop of {r['pod']} lagged {r['max_lag_ms']:g} ms ({r['lines_over']} lines over {lag:g} ms)",
            entity={"service": r["service"], "pod": r["pod"]},
            start=r["first_ts"], end=r["last_ts"],
            metrics={"lines_over": r["lines_over"], "lag_lines": r["lag_lines"], "max_lag_ms": r["max_lag_ms"],
                     "lag_ms": lag},
            evidence=[ctx.ev(r["source_id"], r["line_no"], r["message"])],
            sql=ctx.sql_ref("event_loop_lag_high"),
        ))
    return out


RULE = Rule(
    name="loop_lag",
    produces=("event_loop_lag_high",),
    queries=QUERIES,
    detect=detect,
)
