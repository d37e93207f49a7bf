"""Resource exhaustion (backpressure): a pod runs out of file descriptors or memory."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, iso, isoed
from .base import Advice, RootRole, Rule

QUERIES = ("resource_exhaustion",)


def detect(ctx: Context) -> list[Finding]:
    out = []
    for r in ctx.run("resource_exhaustion"):
        why, parts = [], []
        if r["emfile"]:
            why.append(f"{r['emfile']} EMFILE ('too many open files') errors from {iso(r['first_emfile'])}, up to {r['peak_emfile_per_s']}/s")
            parts.append(f"{r['emfile']} EMFILE errors")
        if r["heap_oom"]:
            why.append(f"{r['heap_oom']} heap out-of-memory abort(s)")
            parts.append("heap out of memory")
        if r["oom_killed"]:
            why.append(f"{r['oom_killed']} OOM kill(s)")
            parts.append("OOM kills")
        if r["mem_growth_mb_per_min"] is not None and r["mem_growth_mb_per_min"] > 0:
            why.append(f"reported memory grew from {r['mem_first_mb']:g} to {r['mem_last_mb']:g} MB "
                       f"({r['mem_growth_mb_per_min']:g} MB/min over the run-up to {iso(r['mem_runup_end'])})")
        out.append(Finding(
            rule="resource_exhaustion", severity="incident" if (r["emfile"] >= 100 or r["heap_oom"] or r["oom_killed"]) else "warning",
            confidence=round(min(0.6 + 0.1 * len(why), 0.95), 2), confidence_reasons=why,
            title=f"{r['pod']} ran out of resources: " + ", ".join(parts),
            entity={"service": r["service"], "pod": r["pod"]},
            start=r["first_emfile"] or r["first_memory"] or r["first_error"],
            end=max(t for t in (r["last_memory"], r["last_error"]) if t is not None),
            metrics=isoed({k: v for k, v in r.items() if not k.startswith("example_") and k not in ("pod", "service")}),
            evidence=[ctx.ev(r["example_source_id"], r["example_line_no"], r["example_message"])],
            sql=ctx.sql_ref("resource_exhaustion"),
        ))
    return out


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    m = f.metrics
    return {"errors": (m["emfile"] or 0) + (m["heap_oom"] or 0) + (m["oom_killed"] or 0)}


def summary(ctx: Context) -> list[str]:
    x = ctx.top("resource_exhaustion")
    if not x:
        return []
    m = x.metrics
    backpressure = bool(m["emfile"]) and bool(m.get("mem_growth_mb_per_min") and m["mem_growth_mb_per_min"] > 0)
    txt = f"{x.pod} ran out of resources" + (", the pattern of work accepted faster than it is finished" if backpressure else "")
    bits = []
    if m["emfile"]:
        bits.append(f"{m['emfile']} 'too many open files' (EMFILE) errors from {m['first_emfile']}, up to {m['peak_emfile_per_s']}/s")
    if m["heap_oom"]:
        bits.append(f"{m['heap_oom']} heap out-of-memory abort(s)")
    if m["oom_killed"]:
        bits.append(f"{m['oom_killed']} OOM kill(s)")
    if m.get("mem_growth_mb_per_min"):
        bits.append(f"memory from {m['mem_first_mb']:g} to {m['mem_last_mb']:g} MB ({m['mem_growth_mb_per_min']:g} MB/min "
                    "over the run-up to the failure)")
    return [txt + ": " + "; ".join(bits) + "."]


RULE = Rule(
    name="resource_exhaustion",
    produces=("resource_exhaustion",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    explains=explains,
    summary_rank=40,
    impact_rank=10,
    advice=(Advice("bound_work_in_flight", "Bound the work in flight: a concurrency limit and a maximum queue length on "
                   "downstream calls, shed load (429/503) when full, time out downstream calls, and alert on open file "
                   "descriptors and heap use.", ("backpressure_chain",), rank=50),),  # exhaustion_chain.py tells the mechanisms apart
    root=(RootRole("resource_exhaustion", 9, "not_info"),),
)
