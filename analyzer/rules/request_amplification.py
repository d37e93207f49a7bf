"""Request amplification (a symptom): the dying pod calls a dependency far more often than its
healthy siblings, because every new worker fetches at startup. Its onset is the first of the
amplified calls and its end the last (not the analysis window's bounds); rates are over each pod's
own active span."""

from __future__ import annotations

import statistics

from ..context import Context
from ..findings import Finding, Link, rounded
from .base import Advice, Rule

QUERIES = ("request_amplification",)


def detect(ctx: Context) -> list[Finding]:
    rows = ctx.run("request_amplification", {"service": ctx.opts.service})
    spirals = ctx.per_pod("worker_death_spiral")
    inc_rows = [a for a in rows if a["pod"] in spirals]
    ctl_rows = [a for a in rows if a["pod"] not in spirals and a["deaths"] == 0]
    if not inc_rows:
        return []
    inc_per_min = sum(a["calls_per_min"] for a in inc_rows) / len(inc_rows)
    normal = statistics.median(a["calls_per_min"] for a in ctl_rows) if ctl_rows else None
    factor = round(inc_per_min / normal, 2) if normal else None
    if factor is not None and factor < 1.5:
        return []
    corr = [a["corr_calls_starts"] for a in inc_rows if a["corr_calls_starts"] is not None]
    top = max(inc_rows, key=lambda a: a["calls"])
    why = [f"calls per minute of the dying pod(s) vs the median of {len(ctl_rows)} control pod(s) of the same service "
           "in the same window, each over its own active span (first to last line)"]
    conf = 0.6
    if corr and max(corr) >= 0.5:
        conf += 0.25
        why.append(f"calls track worker starts second by second (r = {max(corr)})")
    if not ctl_rows:
        conf -= 0.2
        why.append("no control pods: no normal rate to compare")
    return [Finding(
        rule="request_amplification", severity="warning", confidence=round(conf, 2), confidence_reasons=why,
        title=f"{top['pod']} called {ctx.peer_name(top['peer'])} {factor if factor else '?'}x as often as healthy pods",
        entity={"service": top["service"], "pod": top["pod"], "host": spirals[top["pod"]].entity["host"]},
        # the amplification's own span: the first to the last call of the dying pod(s)
        start=min(a["first_call"] for a in inc_rows), end=max(a["last_call"] for a in inc_rows),
        metrics={"normal_per_min": rounded(normal, 2), "incident_per_min": rounded(inc_per_min, 2), "factor": factor,
                 "peer": top["peer"], "peer_service": ctx.peer_services().get(top["peer"]),
                 "incident_calls": sum(a["calls"] for a in inc_rows),
                 "control_pods": len(ctl_rows), "corr_calls_worker_starts": max(corr) if corr else None,
                 "window_min": top["window_min"], "active_min": top["active_min"], "basis": top["basis"]},
        evidence=ctx.evidence("dependency_call", pod=top["pod"], key=f"evidence:calls:{top['pod']}"),
        sql=ctx.sql_ref("request_amplification"),
    )]


def links(ctx: Context) -> list[Link]:
    spirals = ctx.per_pod("worker_death_spiral")
    out = []
    for a in ctx.of("request_amplification"):
        if a.pod not in spirals:
            continue
        r = a.metrics["corr_calls_worker_starts"]
        # a correlation is support only when strong and positive; a weak or negative one is not cited
        why = (f"calls track worker starts second by second (r = {r})" if r is not None and r >= 0.5
               else f"{a.metrics['factor']}x the calls per minute of healthy pods while its workers respawned")
        out.append(Link(spirals[a.pod], a, f"same pod: each new worker fetches at startup; {why}"))
    return out


def summary(ctx: Context) -> list[str]:
    a = ctx.top("request_amplification")
    if not a:
        return []
    m = a.metrics
    return [f"Every new worker re-fetched from {ctx.peer_name(m['peer'])}: {m['incident_per_min']} calls/min vs "
            f"{m['normal_per_min']} on healthy pods ({m['factor']}x)."]


RULE = Rule(
    name="request_amplification",
    produces=("request_amplification",),
    needs=("worker_death_spiral",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    summary_rank=80,
    impact_rank=40,
    advice=(Advice("startup_fetch_cache", "Fetch startup data once per pod (in the primary or a shared cache), not once per worker.",
                   ("request_amplification",), rank=30),),
)
