"""Worker death spiral (the mechanism): a primary respawns workers that keep dying, with no backoff.
Graceful stops (exit code 0, SIGTERM/SIGQUIT after a logged shutdown or reload, as nginx's old
workers at a reload) are not deaths (worker_lifecycle.sql); a death is a crash (non-zero code, a
fault signal) or a kill (any other signal);
a respawn delay that grows, or a circuit breaker that opens, is the fix working: the finding is
then titled as a contained crash loop, with the circuit-open line as evidence."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, iso, signal_exits
from .base import Advice, RootRole, Rule

QUERIES = ("worker_lifecycle",)


def _timeouts(exit_codes: str | None) -> int:
    """Deaths a supervisor's timeout kill caused, from the exit-code histogram ('timeout:11, 1:2')."""
    return sum(int(n) for code, _, n in (p.strip().rpartition(":") for p in (exit_codes or "").split(","))
               if code == "timeout" and n.isdigit())


def detect(ctx: Context) -> list[Finding]:
    out = []
    for r in ctx.run("worker_lifecycle", {"service": ctx.opts.service}):
        if r["exits"] < 5:
            continue
        sev = "incident" if (r["peak_deaths_per_s"] >= 2 or r["exits"] >= 20) else "warning"
        conf, why = 0.6, ["worker exits counted from the primary's own log lines"]
        if r["median_respawn_latency_s"] is not None and r["median_respawn_latency_s"] < 1:
            conf += 0.15
            why.append(f"respawned after a median {r['median_respawn_latency_s']} s: no backoff delay")
        contained = bool(r["respawn_backs_off"] or r["circuit_opens"])
        if r["respawn_backs_off"]:
            why.append(f"the respawn delay grows (backoff ratio {r['backoff_ratio']}, up to {r['max_respawn_latency_s']} s): "
                       "the primary backs off")
        elif r["backoff_ratio"] is not None:
            conf += 0.1
            why.append(f"respawn delay does not grow (backoff ratio {r['backoff_ratio']})")
        if r["circuit_opens"]:
            why.append(f"a circuit breaker opened {r['circuit_opens']} time(s), first at {iso(r['first_circuit_open'])}: "
                       "forking stopped")
        if r["graceful_exits"]:
            why.append(f"{r['graceful_exits']} graceful stop(s) (exit code 0, or SIGTERM/SIGQUIT after a logged shutdown or "
                       "reload) not counted as deaths")
        if r["sigkill_exits"] >= r["exits"] / 2:
            conf += 0.1
            why.append(f"{r['sigkill_exits']} of {r['exits']} exits by SIGKILL (cgroup OOM killer)")
        out.append(Finding(
            rule="worker_death_spiral", severity=sev, confidence=round(min(conf, 0.99), 2), confidence_reasons=why,
            title=(f"Worker crash loop in {r['pod']}, contained: "
                   + " and ".join(x for x in ("respawn backs off" if r["respawn_backs_off"] else "",
                                              "circuit breaker opened" if r["circuit_opens"] else "") if x)
                   if contained else f"Workers of {r['pod']} killed for timeouts and respawned"
                   if _timeouts(r["exit_codes"]) >= r["exits"] / 2
                   else f"Worker {'death spiral' if sev == 'incident' else 'crash loop'} in {r['pod']}"),
            entity={"service": r["service"], "pod": r["pod"], "host": r["host"]},
            start=r["first_exit"], end=r["last_exit"],
            metrics={"deaths": r["exits"], "worker_starts": r["starts"], "peak_deaths_per_s": r["peak_deaths_per_s"],
                     "peak_second": iso(r["peak_second"]), "mean_deaths_per_s": r["mean_deaths_per_s"],
                     "median_lifetime_s": r["median_lifetime_s"], "p90_lifetime_s": r["p90_lifetime_s"],
                     "median_respawn_latency_s": r["median_respawn_latency_s"],
                     "p90_respawn_latency_s": r["p90_respawn_latency_s"],
                     "max_respawn_latency_s": r["max_respawn_latency_s"],
                     "backoff_ratio": r["backoff_ratio"], "respawn_backs_off": r["respawn_backs_off"],
                     "exit_codes": r["exit_codes"], "graceful_exits": r["graceful_exits"], "crash_exits": r["crash_exits"],
                     "killed_exits": r["killed_exits"], "circuit_opens": r["circuit_opens"],
                     "first_circuit_open": iso(r["first_circuit_open"]), "contained": contained},
            evidence=([ctx.ev(r["circuit_source_id"], r["circuit_line_no"], r["circuit_message"])] if r["circuit_opens"] else [])
            + ctx.evidence("worker_exit", pod=r["pod"], key=f"evidence:death:{r['pod']}")
            + ctx.evidence("worker_start", pod=r["pod"], limit=2, key=f"evidence:start:{r['pod']}"),
            sql=ctx.sql_ref("worker_lifecycle"),
        ))
    return out


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    return {"deaths": f.metrics["deaths"]}


def summary(ctx: Context) -> list[str]:
    s = ctx.top("worker_death_spiral")
    if not s:
        return []
    m = s.metrics
    killed = signal_exits(m["exit_codes"])
    n = m["deaths"]
    life = f" after a median life of {m['median_lifetime_s']:g} s" if m.get("median_lifetime_s") is not None else ""
    how = (f"{n} workers were killed by a signal" if killed >= n / 2
           else f"{n} workers exited (exit codes {m['exit_codes']}){life}")
    lead = "It forked one worker per core into its memory limit; " if ctx.top("host_shape_outlier") else f"In {s.pod}, "
    respawn = (f" and were respawned after a median {m['median_respawn_latency_s']:g} s"
               if m.get("median_respawn_latency_s") is not None else "")
    if m.get("contained"):
        fix = [x for x in ("the respawn delay grew" if m.get("respawn_backs_off") else "",
                           f"a circuit breaker opened at {m['first_circuit_open']}" if m.get("circuit_opens") else "") if x]
        return [f"{lead}{how} (peak {m['peak_deaths_per_s']}/s){respawn}; {' and '.join(fix)}: "
                "a crash loop the backoff contained."]
    what = "a death spiral" if s.severity == "incident" else "a crash loop"
    return [f"{lead}{how} (peak {m['peak_deaths_per_s']}/s){respawn} with no backoff: {what}."]


RULE = Rule(
    name="worker_death_spiral",
    produces=("worker_death_spiral",),
    queries=QUERIES,
    detect=detect,
    summary=summary,
    explains=explains,
    summary_rank=20,
    impact_rank=30,
    advice=(
        Advice("respawn_backoff", "Respawn workers with exponential backoff and a circuit breaker (stop forking after "
               "N deaths in M seconds and fail the pod's readiness).", ("worker_death_spiral",), rank=20,
               when=lambda f: not f.metrics.get("contained")),
        Advice("event_loop_lag", "Instrument event-loop lag and worker deaths per second as metrics with alerts, so the "
               "spiral is seen in minutes, not from the dependency's errors.",
               ("worker_death_spiral", "paired_client_server_errors"), rank=40,
               # the spiral was seen from the dependency's errors: only when those errors line up with deaths
               when=lambda f: f.rule == "paired_client_server_errors" and bool(f.metrics.get("death_aligned"))),
    ),
    root=(RootRole("worker_death_spiral", 9, "not_info"),),
)
