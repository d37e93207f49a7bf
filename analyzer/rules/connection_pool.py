"""Connection-pool multiplication: every worker of a pod opens its own database pool, so the pod
wants workers x pool size connections; above the database's `max_connections` the database refuses
them (`too many clients`), the workers' queries fail and the proxy returns 5xx."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, isoed
from .base import Advice, RootRole, Rule

QUERIES = ("upstreams", "connection_pool")


def detect(ctx: Context) -> list[Finding]:
    out = []
    for r in ctx.run("connection_pool", {"tolerance_s": ctx.opts.tolerance_s, "upstreams": ctx.upstreams}):
        wanted, limit = r["connections_wanted"], r["max_connections"]
        if wanted is None or limit is None or wanted <= limit:
            continue  # fits (or can't tell): not this rule's
        errors = r["client_errors"] or r["server_errors"]
        why = [f"{r['workers']} workers ({r['workers_basis']}) x pool {r['pool_max']} = {wanted} connections wanted, "
               f"max_connections {limit}" + (f" ({r['reserved_connections']} reserved for superusers)"
                                             if r["reserved_connections"] is not None else "")]
        if r["client_errors"]:
            why.append(f"{r['client_errors']} 'too many clients' errors in the pod's workers, from "
                       f"{r['client_pids']} PID(s) ({r['client_errors_by_pid']}): all workers, not one bad worker")
        if r["server_errors"]:
            why.append(f"{r['server_errors']} refusals logged by the database {r['db_pod']}; {r['pairs']} of the "
                       f"pod's errors within {ctx.opts.tolerance_s:g} s of one")
        if r["http_5xx"]:
            why.append(f"{r['http_5xx']} 5xx at the proxy for this pod, {r['http_5xx_paired']} within "
                       f"{ctx.opts.tolerance_s:g} s of a 'too many clients' error")
        starts = [t for t in (r["first_server_error"], r["first_client_error"]) if t is not None]
        ev = [ctx.ev(r["config_source_id"], r["config_line_no"], r["config_message"])]
        if r["limit_source_id"] is not None:
            ev.append(ctx.ev(r["limit_source_id"], r["limit_line_no"], r["limit_message"]))
        if r["server_source_id"] is not None:
            ev.append(ctx.ev(r["server_source_id"], r["server_line_no"], r["server_message"]))
        if r["client_source_id"] is not None:
            ev.append(ctx.ev(r["client_source_id"], r["client_line_no"], r["client_message"]))
        out.append(Finding(
            rule="connection_pool_multiplication",
            severity="incident" if errors else "warning",
            confidence=round(min(0.55 + 0.12 * len(why), 0.95), 2), confidence_reasons=why,
            title=(f"{r['pod']}: {r['workers']} workers x pool {r['pool_max']} = {wanted} database connections "
                   f"> max_connections {limit}" + (f"; {errors} 'too many clients' errors, {r['http_5xx']} 5xx"
                                                   if errors else " (no refusals yet)")),
            entity={"service": r["service"], "pod": r["pod"]},
            start=min(starts) if starts else None, end=r["last_client_error"],
            metrics=isoed({k: v for k, v in r.items() if not k.endswith(("_source_id", "_line_no", "_message"))
                           and k not in ("pod", "service")}),
            evidence=ev, sql=ctx.sql_ref("connection_pool"),
        ))
    return out


def summary(ctx: Context) -> list[str]:
    x = ctx.top("connection_pool_multiplication")
    if not x:
        return []
    m = x.metrics
    s = (f"{x.pod} runs {m['workers']} workers with a database pool of {m['pool_max']} each: {m['connections_wanted']} "
         f"connections wanted against max_connections {m['max_connections']}")
    if m["client_errors"] or m["server_errors"]:
        s += (f"; from {m['first_server_error'] or m['first_client_error']} the database refused connections "
              f"({m['server_errors']} 'too many clients' on {m['db_pod']}, {m['client_errors']} in the workers, "
              f"spread over {m['client_pids']} PIDs) and the proxy returned {m['http_5xx']} 5xx")
    return [s + "."]


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    m = f.metrics
    return {"errors": (m["client_errors"] or 0) + (m["server_errors"] or 0), "http_5xx": m["http_5xx"] or 0}


RULE = Rule(
    name="connection_pool",
    produces=("connection_pool_multiplication",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    summary_rank=35,
    impact_rank=15,
    advice=(Advice("size_pools_to_the_database", "Size the pools to the database: workers x pool size (x replicas) "
                   "must stay below max_connections minus the reserved and admin connections (e.g. a pool of "
                   "max_connections / workers / replicas), or put a pooler (PgBouncer) in front of the database; "
                   "alert on the database's connection count.", ("connection_pool_multiplication",), rank=30),),
    explains=explains,
    root=(RootRole("connection_pool_multiplication", 5, "not_info"),),
)
