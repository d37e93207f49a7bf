"""Workers killed for running past their timeout (gunicorn's `WORKER TIMEOUT`, uWSGI's harakiri).

A sync worker that serves a request longer than the supervisor's timeout is killed mid-request:
that request fails (a 5xx at the proxy or access log), and the worker is respawned. The cause is
the slow request, not the worker: this names the request each killed worker was serving (the line
of the same pod, within the tolerance of the kill, that names a request, the one naming the killed
pid first) and the 5xx responses logged around the kills. An incident when 3+ workers were killed
and requests failed or a request in flight is named; the root-cause candidate for those deaths."""

from __future__ import annotations

from collections import Counter

from ..context import Context
from ..findings import Finding, Link, iso
from .base import Advice, RootRole, Rule

QUERIES = ("worker_timeouts",)
MIN_KILLS = 3


def detect(ctx: Context) -> list[Finding]:
    o = ctx.opts
    by_pod: dict[str, list[dict]] = {}
    for r in ctx.run("worker_timeouts", {"tolerance_s": o.tolerance_s}):
        by_pod.setdefault(r["pod"], []).append(r)
    out = []
    for pod, kills in by_pod.items():
        if len(kills) < MIN_KILLS:
            continue
        named = [k for k in kills if k["route_t"]]
        routes = Counter(f"{k['method']} {k['route_t']}" for k in named)
        top, top_n = routes.most_common(1)[0] if routes else (None, 0)
        n5 = kills[0]["http_5xx_near"]
        same = kills[0]["http_5xx_same_route"]
        why = [f"{len(kills)} workers killed by their supervisor for running past the timeout, "
               f"from {iso(kills[0]['kill_ts'])} to {iso(kills[-1]['kill_ts'])}"]
        if named:
            why.append(f"{len(named)} of {len(kills)} kills have a request in flight in the log "
                       f"({sum(k['names_pid'] for k in named)} naming the killed pid); {top_n} were {top}")
        if n5:
            why.append(f"{n5} 5xx responses within {o.tolerance_s:g} s of a kill"
                       + (f", {same} of them on the route a killed worker was serving" if same else ""))
        sev = "incident" if (n5 or named) else "warning"
        conf = 0.6 + (0.2 if named and top_n >= len(kills) / 2 else 0) + (0.15 if n5 else 0)
        ex = [ctx.ev(kills[0]["kill_source_id"], kills[0]["kill_line_no"], kills[0]["kill_message"])]
        ex += [ctx.ev(k["req_source_id"], k["req_line_no"], k["req_message"]) for k in named[:2]]
        title = f"{pod}: {len(kills)} workers killed for running past their timeout"
        if top and top_n >= len(kills) / 2:
            title += f", {top_n} of them serving {top}"
        out.append(Finding(
            rule="worker_timeout_kills", severity=sev, confidence=round(min(conf, 0.95), 2), confidence_reasons=why,
            title=title,
            entity={"service": kills[0]["service"], "pod": pod, "host": kills[0]["host"]},
            start=kills[0]["kill_ts"], end=kills[-1]["kill_ts"],
            metrics={"kills": len(kills), "requests_named": len(named), "naming_pid": sum(k["names_pid"] for k in named),
                     "top_route": top, "top_route_kills": top_n, "routes": dict(routes.most_common(5)),
                     "route_examples": sorted({k["route"] for k in named if f"{k['method']} {k['route_t']}" == top})[:3],
                     "http_5xx_near": n5, "http_5xx_same_route": same, "tolerance_s": o.tolerance_s,
                     "first_kill": iso(kills[0]["kill_ts"]), "last_kill": iso(kills[-1]["kill_ts"])},
            evidence=ex,
            sql=ctx.sql_ref("worker_timeouts"),
        ))
    return out


def links(ctx: Context) -> list[Link]:
    spirals = ctx.per_pod("worker_death_spiral")
    out = []
    for pod, f in ctx.per_pod("worker_timeout_kills").items():
        if pod in spirals:
            m = f.metrics
            out.append(Link(f, spirals[pod], f"{m['kills']} of {spirals[pod].metrics['deaths']} deaths were kills for "
                                             "running past the timeout" + (f" while serving {m['top_route']}" if m["top_route"] else "")))
    return out


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    m = f.metrics
    return {"deaths": m["kills"], "http_5xx": m["http_5xx_same_route"] or m["http_5xx_near"]}


def summary(ctx: Context) -> list[str]:
    f = ctx.top("worker_timeout_kills")
    if not f:
        return []
    m = f.metrics
    s = f"{m['kills']} workers of {f.pod} were killed for running past their timeout"
    if m["top_route"]:
        s += f", {m['top_route_kills']} of them while serving {m['top_route']}"
    return [s + (f"; {m['http_5xx_near']} requests failed with a 5xx around the kills." if m["http_5xx_near"] else ".")]


RULE = Rule(
    name="worker_timeout",
    produces=("worker_timeout_kills",),
    needs=("worker_death_spiral",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    summary_rank=45,
    explains=explains,
    root=(RootRole("worker_timeout_kills", 3, "not_info"),),
    advice=(Advice("bound_slow_requests",
                   "Give the slow request a time budget below the worker timeout, or move its work off the request "
                   "path (a job queue, async workers): a sync worker killed mid-request fails that request.",
                   ("worker_timeout_kills",), rank=12),),
)
