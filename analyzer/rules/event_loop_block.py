"""Event-loop block: a request holds a pod's event loop, and every route times out behind it."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, Link
from .base import Advice, RootRole, Rule

QUERIES = ("event_loop_blocks",)
METRICS = ("blocks", "max_lag_ms", "blocked_s", "top_route", "blocks_with_route", "route_median_ms", "timeouts",
           "timeout_routes", "timeout_route_examples", "health_timeouts", "timeouts_total", "dependency_calls")


def detect(ctx: Context) -> list[Finding]:
    o = ctx.opts
    triggers = ctx.per_pod("host_shape_outlier")
    out = []
    for r in ctx.run("event_loop_blocks", {"min_lag_ms": o.block_lag_ms}):
        # an incident when requests timed out behind the blocks; lag alone is worth knowing;
        # on a pod with a host-shape trigger it is a symptom (its workers starve for CPU)
        sev = "incident" if r["timeouts"] else "info"
        if r["pod"] in triggers and sev == "incident":
            sev = "warning"
        why = [f"{r['blocks']} event-loop lag line(s) of at least {o.block_lag_ms:g} ms (max {r['max_lag_ms']:g} ms)"]
        conf = 0.6
        if r["top_route"]:
            why.append(f"in {r['blocks_with_route']} of {r['blocks']} blocks a {r['top_route']} request completed as the block "
                       f"ended, after a median {r['route_median_ms']:g} ms: it held the loop")
            conf += 0.2 * r["blocks_with_route"] / r["blocks"]
        if r["timeouts"]:
            why.append(f"{r['timeouts']} of {r['timeouts_total']} timeouts in the window fell inside a block "
                       f"(routes: {r['timeout_routes']}"
                       + (f"; e.g. {r['timeout_route_examples']})" if r["timeout_route_examples"] else ")"))
            conf += 0.15
        out.append(Finding(
            rule="event_loop_block", severity=sev, confidence=round(min(conf, 0.95), 2), confidence_reasons=why,
            title=f"Event loop of {r['pod']} blocked up to {r['max_lag_ms']:g} ms"
                  + (f" by {r['top_route']} requests" if r["top_route"] else ""),
            entity={"service": r["service"], "pod": r["pod"]},
            start=r["first_block_start"], end=r["last_block_end"],  # onset: the block starts lag ms before its line
            metrics={k: r[k] for k in METRICS},
            evidence=[ctx.ev(r["lag_source_id"], r["lag_line_no"], r["lag_message"])]
            + ([ctx.ev(r["req_source_id"], r["req_line_no"], r["req_message"])] if r["req_source_id"] else []),
            sql=ctx.sql_ref("event_loop_blocks"),
        ))
    return out


def links(ctx: Context) -> list[Link]:
    triggers = ctx.per_pod("host_shape_outlier", last=True)
    spirals = ctx.per_pod("worker_death_spiral")
    deploys = ctx.per_pod("deploy_before_deaths")
    out = []
    for pod, b in ctx.per_pod("event_loop_block").items():
        m = b.metrics
        if pod in triggers:  # a symptom of the mechanism: the spiral's workers share the pod's CPU
            out.append(Link(spirals.get(pod, triggers[pod]), b,
                            f"same pod {pod}: {triggers[pod].metrics['cpu_count']} workers share its CPU limit, "
                            f"so each event loop waits for CPU (max lag {m['max_lag_ms']:g} ms)"))
        d = deploys.get(pod)
        if d and d.start <= b.start:
            out.append(Link(d, b, f"deploy {d.metrics['seconds_before_first_death']:g} s before the first block"
                                  + (f"; the blocking route is {m['top_route']}" if m["top_route"] else ""), "time"))
    return out


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    return {"timeouts": f.metrics["timeouts"]}


def told(ctx: Context) -> Finding | None:
    """The block the summary tells: not one on the trigger's pod, whose starving workers the trigger
    and the spiral already explain."""
    b, t = ctx.top("event_loop_block"), ctx.top("host_shape_outlier")
    return None if (b and t and b.pod == t.pod) else b


def summary(ctx: Context) -> list[str]:
    b = told(ctx)
    if not b:
        return []
    m = b.metrics
    txt = f"The event loop of {b.pod} was blocked {m['blocks']} time(s), up to {m['max_lag_ms']:g} ms"
    if m["top_route"]:
        txt += f", each time by a {m['top_route']} request (median {m['route_median_ms']:g} ms of work on the loop)"
    if m["timeouts"]:
        where = [x for x in (m["timeout_routes"], f"{m['health_timeouts']} of them health checks" if m["health_timeouts"] else None) if x]
        txt += f"; {m['timeouts']} requests timed out behind it" + (f" ({', '.join(where)})" if where else "")
    return [txt + "."]


RULE = Rule(
    name="event_loop_block",
    produces=("event_loop_block",),
    needs=("host_shape_outlier",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    explains=explains,
    summary_rank=30,
    impact_rank=20,
    advice=(Advice("unblock_event_loop", "Take the CPU-bound work off the event loop (precompile templates at build or "
                   "start time, move heavy rendering to worker_threads), give the endpoint a time budget, and alert on "
                   "event-loop lag.", ("event_loop_block",), rank=60),),
    root=(RootRole("event_loop_block", 4, "starts_chain"), RootRole("event_loop_block", 9, "not_info")),
)
