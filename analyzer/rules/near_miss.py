"""Near misses: earlier pod starts with the trigger's CPU count, and what followed them."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, iso
from .base import Advice, Rule

QUERIES = ("near_misses",)


def detect(ctx: Context) -> list[Finding]:
    o = ctx.opts
    out = []
    for cpu in sorted({f.metrics["cpu_count"] for f in ctx.per_pod("host_shape_outlier", last=True).values()}):
        key = f"near_misses:{cpu}"
        for r in ctx.run("near_misses", {"cpu_count": cpu, "after_s": o.near_miss_after_s, "service": o.service}, key=key):
            ended = (f"ended when the service started on {r['next_host']} ({r['next_cpu_count']} cores), {r['next_pod']}"
                     if r["next_pod"] else "no replacement start found within an hour")
            out.append(Finding(
                rule="near_miss", severity="warning", confidence=0.8 if r["deaths"] else 0.5,
                confidence_reasons=[f"same trigger value ({cpu} cores) on {r['host']}",
                                    f"{r['deaths']} worker deaths in the next {o.near_miss_after_s} s" if r["deaths"]
                                    else "no worker deaths logged after it"],
                title=f"Near miss {iso(r['ts'])}: {r['pod']} saw {cpu} cores; {r['deaths']} worker deaths; {ended}",
                entity={"service": o.service or "", "pod": r["pod"], "host": r["host"]},
                start=r["ts"], end=r["last_death"] or r["ts"],
                metrics={"cpu_count": cpu, "deaths": r["deaths"], "worker_starts": r["starts"],
                         "peak_deaths_per_s": r["peak_deaths_per_s"], "spiral_s": r["spiral_s"],
                         "next_pod": r["next_pod"], "next_host": r["next_host"], "next_cpu_count": r["next_cpu_count"],
                         "next_start": iso(r["next_ts"])},
                evidence=[ctx.ev(r["source_id"], r["line_no"], r["message"])],
                sql=ctx.sql_ref(key),
            ))
    return out


def summary(ctx: Context) -> list[str]:
    nm = ctx.of("near_miss")
    return [f"It happened before: {len(nm)} near miss(es), first at {iso(nm[0].start)}."] if nm else []


RULE = Rule(
    name="near_miss",
    produces=("near_miss",),
    needs=("host_shape_outlier",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    summary_rank=110,
    advice=(Advice("alert_on_host_shape", "Alert when a pod logs a CPU count far above its limit: this trigger was seen "
                   "before and went unnoticed.", ("near_miss",), rank=80),),
)
