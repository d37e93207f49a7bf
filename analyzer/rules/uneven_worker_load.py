"""Uneven worker load: inside one pod, one worker PID serves many times what its siblings serve
(a long-lived keep-alive connection pinned to one worker, `NODE_CLUSTER_SCHED_POLICY=none`, ...),
so the pod's capacity is one worker's while the others idle. The per-pod rate looks normal; only
the per-PID view shows it."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, iso
from .base import Advice, RootRole, Rule

QUERIES = ("uneven_worker_load",)
MIN_REQUESTS = 50  # pods with fewer requests in the window are not judged
WARN_RATIO = 2.5  # busiest PID's requests over the median of the others'
INCIDENT_RATIO = 4.0


def detect(ctx: Context) -> list[Finding]:
    rows = ctx.run("uneven_worker_load", {"min_requests": MIN_REQUESTS})
    out = []
    for pod in dict.fromkeys(r["pod"] for r in rows):
        pids = [r for r in rows if r["pod"] == pod]
        busy = next(r for r in pids if r["pid"] == r["busiest_pid"])
        ratio = busy["busiest_vs_median_other"]
        if ratio is None or ratio < WARN_RATIO or busy["requests"] < MIN_REQUESTS:
            continue
        others = [r for r in pids if r is not busy]
        other_5xx = sum(r["http_5xx"] for r in others)
        p99_vs = (round(busy["p99_ms"] / busy["others_median_p99_ms"], 2)
                  if busy["p99_ms"] is not None and busy["others_median_p99_ms"] else None)
        matters = []
        if p99_vs is not None and p99_vs >= 1.5:
            matters.append(f"its p99 is {p99_vs:g}x the other PIDs' median p99 ({busy['p99_ms']:g} vs {busy['others_median_p99_ms']:g} ms)")
        if busy["http_5xx"] and busy["http_5xx"] / max(busy["requests"], 1) > other_5xx / max(sum(r["requests"] for r in others), 1):
            matters.append(f"{busy['http_5xx']} 5xx on the busy PID against {other_5xx} on the others")
        why = [f"PID {busy['pid']} served {busy['requests']} of the pod's {busy['pod_requests']} requests "
               f"({busy['share'] * 100:.1f} %, {busy['req_per_s']:g}/s): {ratio:g}x the median of the other "
               f"{len(others)} PIDs ({', '.join(str(r['pid']) + ': ' + str(r['requests']) for r in others)})",
               f"max/min over the pod's {busy['pids']} worker PIDs: {busy['max_over_min']:g}"
               if busy["max_over_min"] is not None else "a started worker served nothing"]
        why += matters or [f"no latency or error penalty visible on the busy PID (p99 {busy['p99_ms']} ms)"]
        out.append(Finding(
            rule="uneven_worker_load", severity="incident" if ratio >= INCIDENT_RATIO or matters else "warning",
            confidence=round(min(0.55 + 0.1 * len(why) + (0.1 if ratio >= INCIDENT_RATIO else 0), 0.95), 2),
            confidence_reasons=why,
            title=f"Uneven worker load in {pod}: PID {busy['pid']} serves {ratio:g}x the median of its siblings",
            entity={"service": busy["service"], "pod": pod, "pid": busy["pid"]},
            start=busy["pod_first_request"], end=busy["last_request"],
            metrics={"busiest_pid": busy["pid"], "busiest_requests": busy["requests"], "busiest_req_per_s": busy["req_per_s"],
                     "busiest_share": busy["share"], "busiest_vs_median_other": ratio, "max_over_min": busy["max_over_min"],
                     "pod_requests": busy["pod_requests"], "pod_span_s": busy["pod_span_s"], "pids": busy["pids"],
                     "busiest_p99_ms": busy["p99_ms"], "others_median_p99_ms": busy["others_median_p99_ms"],
                     "p99_vs_others": p99_vs, "busiest_5xx": busy["http_5xx"], "others_5xx": other_5xx,
                     "matters": bool(matters), "first_request": iso(busy["pod_first_request"]),
                     "per_pid": {str(r["pid"]): {"requests": r["requests"], "req_per_s": r["req_per_s"], "share": r["share"],
                                                 "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "http_5xx": r["http_5xx"]}
                                 for r in pids}},
            evidence=ctx.evidence("http_request", pod=pod, limit=2, key=f"evidence:uneven:{pod}"),
            sql=ctx.sql_ref("uneven_worker_load"),
        ))
    return out


def summary(ctx: Context) -> list[str]:
    x = ctx.top("uneven_worker_load")
    if not x:
        return []
    m = x.metrics
    return [f"Inside {x.pod}, worker PID {m['busiest_pid']} served {m['busiest_requests']} of {m['pod_requests']} requests "
            f"({m['busiest_vs_median_other']:g}x the median of its {m['pids'] - 1} siblings): the pod works at one worker's "
            f"capacity while the others idle; the per-pod rate hides it."]


def explains(ctx: Context, f: Finding) -> dict:
    """The skew itself is the impact: the busy PID's share of the pod's requests (and its 5xx)."""
    m = f.metrics
    return {"requests_on_one_worker": (m["busiest_requests"], m["pod_requests"]), "http_5xx": m["busiest_5xx"] or 0}


RULE = Rule(
    name="uneven_worker_load",
    produces=("uneven_worker_load",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    summary_rank=36,
    impact_rank=16,
    advice=(Advice("spread_connections_over_workers", "Spread the load over the workers: recycle long-lived keep-alive "
                   "connections (server.maxRequestsPerSocket, a shorter keep-alive at the caller), let the heavy caller "
                   "use more connections, keep the primary's round-robin scheduling (NODE_CLUSTER_SCHED_POLICY=rr), and "
                   "watch requests per worker PID, not only per pod.", ("uneven_worker_load",), rank=35),),
    explains=explains,
    root=(RootRole("uneven_worker_load", 6, "not_info"),),
)
