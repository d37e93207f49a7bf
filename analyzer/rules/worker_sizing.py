"""Workers sized from the host's cores: a primary forks more workers than its container may use.

A risk before any worker dies: Node's os.cpus() (and friends) report the host's cores, not the
container's CPU quota, so a pod on a big host forks workers that the CPU limit then throttles
and the memory limit cannot hold. Alone it is `info`; on a pod that also started on a rare host
shape it is a `warning`. Threshold: [rules.worker_sizing] min_ratio (workers / limit)."""

from __future__ import annotations

from ...scanstate import rule_threshold
from ..context import Context
from ..findings import Finding
from .base import Advice, Rule

QUERIES = ("worker_sizing",)


def detect(ctx: Context) -> list[Finding]:
    rare = ctx.per_pod("host_shape_outlier")
    ratio = float(rule_threshold(ctx.opts, "worker_sizing", "min_ratio"))
    out = []
    for r in ctx.run("worker_sizing", {"min_ratio": ratio}):
        if ctx.opts.service and not ((r["pod"] or "").startswith(ctx.opts.service + "-")
                                     or r["service"] in (ctx.opts.service, ctx.opts.service + "-service")):
            continue
        why = [f"forked {r['workers']} workers against a CPU limit of {r['cpu_limit']:g} ({r['limit_basis']})"]
        conf = 0.6
        if r["cpu_count_seen"] == r["workers"]:
            why.append(f"the same pod logged {r['cpu_count_seen']} CPUs just before: the count follows the host's cores")
            conf += 0.2
        on_rare = r["pod"] in rare
        if on_rare:
            why.append(f"the pod started on a rare host shape ({rare[r['pod']].metrics['cpu_count']} cores)")
            conf += 0.1
        out.append(Finding(
            rule="workers_above_cpu_limit", severity="warning" if on_rare else "info",
            confidence=round(min(conf, 0.95), 2), confidence_reasons=why,
            title=f"{r['pod']} forked {r['workers']} workers for a {r['cpu_limit']:g}-CPU limit",
            entity={"service": r["service"], "pod": r["pod"], "host": r["host"]},
            start=r["ts"], end=r["ts"],
            metrics={"workers": r["workers"], "cpu_count_seen": r["cpu_count_seen"], "cpu_limit": r["cpu_limit"],
                     "limit_basis": r["limit_basis"], "workers_over_limit": r["workers_over_limit"],
                     "rare_host_shape": on_rare},
            evidence=[ctx.ev(r["source_id"], r["line_no"], r["message"])],
            sql=ctx.sql_ref("worker_sizing"),
        ))
    return out


RULE = Rule(
    name="worker_sizing",
    produces=("workers_above_cpu_limit",),
    needs=("host_shape_outlier",),
    queries=QUERIES,
    detect=detect,
    advice=(Advice("cap_workers_at_quota",
                   "Cap the worker count at the container's CPU quota (cgroup cpu.max), not the host's cores.",
                   ("workers_above_cpu_limit",), rank=12),),
)
