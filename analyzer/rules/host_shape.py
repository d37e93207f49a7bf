"""Host shape (the trigger): a pod started on a host whose CPU count is rare in the history, or above
the pod's CPU limit (Node's os.cpus() sees the host's cores, not the container's quota)."""

from __future__ import annotations

from ...scanstate import rule_threshold
from ..context import Context
from ..findings import Finding, Link
from .base import Advice, RootRole, Rule

QUERIES = ("host_shape_survey",)


def _survey(ctx: Context) -> list[dict]:
    svc = ctx.opts.service
    rows = ctx.run("host_shape_survey", {"rare_share": ctx.opts.rare_share,
                                         "rare_starts": int(rule_threshold(ctx.opts, "host_shape", "rare_starts")),
                                         "rare_share_strict": float(rule_threshold(ctx.opts, "host_shape", "rare_share"))})
    if svc:
        rows = [s for s in rows if (s["pod"] or "").startswith(svc + "-") or s["service"] in (svc, svc + "-service")]
    return rows


def detect(ctx: Context) -> list[Finding]:
    survey = _survey(ctx)
    dist = {s["cpu_count"]: s["observations_of_value"] for s in survey}
    distribution = {str(k): v for k, v in sorted(dist.items())}
    spirals = ctx.per_pod("worker_death_spiral")
    out = []
    for s in survey:
        if not (s["is_outlier"] and s["in_window"]):
            continue
        conf, why = 0.5, [f"{s['cpu_count']} cores seen in {s['observations_of_value']} of {s['observations_total']} starts ({s['share']:.1%})"]
        if s["cpu_limit"]:
            if s["cores_over_limit"] and s["cores_over_limit"] >= 4:
                conf += 0.2
                why.append(f"{s['cpu_count']} cores seen vs a CPU limit of {s['cpu_limit']:g} ({s['limit_basis']}): os.cpus() leaks the host's cores")
        else:
            why.append("no pod object or config gives the CPU limit")
        if s["pod"] in spirals:
            conf += 0.2
            why.append(f"the same pod then lost {spirals[s['pod']].metrics['deaths']} workers")
        out.append(Finding(
            rule="host_shape_outlier", severity="incident" if s["pod"] in spirals else "warning",
            confidence=round(min(conf, 0.99), 2), confidence_reasons=why,
            title=f"{s['pod']} started on a {s['cpu_count']}-core host" + (f" ({s['host']})" if s["host"] else ""),
            entity={"service": s["service"], "pod": s["pod"], "host": s["host"]},
            start=s["ts"], end=s["ts"],
            metrics={"cpu_count": s["cpu_count"], "cpu_limit": s["cpu_limit"], "limit_basis": s["limit_basis"],
                     "cores_over_limit": s["cores_over_limit"],
                     "observations_in_history": s["observations_of_value"], "observations_total": s["observations_total"],
                     "share": s["share"], "median_cpu_count": s["median_cpu_count"], "distribution": distribution},
            evidence=[ctx.ev(s["source_id"], s["line_no"], s["message"])],
            sql=ctx.sql_ref("host_shape_survey"),
        ))
    if out:
        return out
    leaks = [s for s in survey if s["in_window"] and s["cores_over_limit"] and s["cores_over_limit"] > 1]
    if not leaks:
        return []
    s0 = max(leaks, key=lambda s: s["cores_over_limit"])
    return [Finding(
        rule="cpu_count_above_limit", severity="info", confidence=0.8,
        confidence_reasons=["CPU-count lines compared with the pod's CPU limit"],
        title=f"{len(leaks)} pod start(s) saw more cores than their CPU limit (up to {s0['cpu_count']} vs {s0['cpu_limit']:g})",
        entity={"service": s0["service"], "pod": None, "host": None},
        start=min(s["ts"] for s in leaks), end=max(s["ts"] for s in leaks),
        metrics={"pods": len(leaks), "max_cpu_count": s0["cpu_count"], "cpu_limit": s0["cpu_limit"],
                 "limit_basis": s0["limit_basis"], "distribution": distribution},
        evidence=[ctx.ev(s["source_id"], s["line_no"], s["message"]) for s in leaks[: ctx.opts.evidence_lines]],
        sql=ctx.sql_ref("host_shape_survey"),
    )]


def links(ctx: Context) -> list[Link]:
    spirals = ctx.per_pod("worker_death_spiral")
    out = []
    for pod, t in ctx.per_pod("host_shape_outlier", last=True).items():
        s = spirals.get(pod)
        if s:
            gap = (s.start - t.start).total_seconds() if s.start and t.start else None
            cores = t.metrics["cpu_count"]
            out.append(Link(t, s, f"same pod {pod}: {cores} workers forked for {cores} cores seen, "
                                  f"first death {gap:.1f} s after the CPU-count line"))
    return out


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    """The deaths of the spiral in the same pod: the workers it forked for cores the pod does not have."""
    s = ctx.per_pod("worker_death_spiral").get(f.pod) if f.rule == "host_shape_outlier" else None
    return {"deaths": s.metrics["deaths"]} if s else {}


def summary(ctx: Context) -> list[str]:
    t = ctx.top("host_shape_outlier")
    if not t:
        return []
    m = t.metrics
    where = f" on host {t.entity['host']}" if t.entity.get("host") else ""
    limit = f"its limit is {m['cpu_limit']:g} CPU" if m.get("cpu_limit") is not None else "no pod spec gives its CPU limit"
    return [f"Pod {t.pod} started{where} and saw {m['cpu_count']} CPU cores "
            f"({limit}; {m['observations_in_history']} of {m['observations_total']} starts in the history saw that many)."]


RULE = Rule(
    name="host_shape",
    produces=("host_shape_outlier", "cpu_count_above_limit"),
    needs=("worker_death_spiral",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    explains=explains,
    risks=("host_shape_outlier",),  # a rare host shape is a warning before any worker dies (scan)
    summary_rank=10,
    advice=(Advice("size_workers_from_quota",
                   "Remove cluster mode (one process per pod, scale with replicas) or size the worker count from the "
                   "container's CPU quota (cgroup cpu.max / os.availableParallelism() capped by the limit), never os.cpus().",
                   ("host_shape_outlier", "cpu_count_above_limit"), rank=10),),
    root=(RootRole("host_shape_outlier", 1, "cause"),),
)
