"""Feedback-loop hypothesis: do dependency errors kill workers, whose respawns cause more errors?
Five tests vote; rejected with at least 3 against and at most 1 for, supported the other way round."""

from __future__ import annotations

from ..context import Context
from ..findings import Hypothesis, first_lines, isoed
from .base import Rule, no_findings

QUERIES = ("feedback_loop",)
# error classes (parsers/catalogue.toml) that a call to another service fails with
DEPENDENCY_CLASSES = ("response_closed", "context_cancelled", "upstream_timeout", "read_timeout", "econnreset",
                      "econnrefused", "too_many_connections")
# errors that say the dependency never accepted the connection: no request reached it
NEVER_REACHED = ("econnrefused", "enotfound", "eai_again", "connection refused", "getaddrinfo")


def _never_reached(ctx: Context) -> str | None:
    """The reason the loop cannot close when the exits follow a refused connection: the respawned
    workers' calls never reached the dependency, so they cannot have caused its errors."""
    for pod, pc in sorted(ctx.per_pod("exit_precursor").items()):
        m = pc.metrics
        if m["share"] >= 0.8 and any(k in str(m["precursor"]).lower() for k in NEVER_REACHED):
            return (f"in {pod}, {m['exits_preceded']} of {m['exits']} exits came right after "
                    f"'{first_lines(m['precursor'], 1, 80)}': the dependency never accepted a connection, so the "
                    f"respawned workers' calls could not load it and cause more errors (no loop: a crash loop on a "
                    f"dependency that was never reached)")
    return None


def _onset(ctx: Context, lead: float | None) -> tuple[str, int, int]:
    """(reason, votes against, votes for) from the onset order of deaths and dependency errors."""
    o, tol = ctx.opts, ctx.opts.tolerance_s
    # an exit precursor is dependency evidence only when it is a dependency error (not, say, a TypeError)
    crash = [f for _, f in sorted(ctx.per_pod("exit_precursor").items()) if f.metrics["precursor"] in DEPENDENCY_CLASSES]
    if lead is None and crash:
        pc = crash[0].metrics
        return (f"no '{o.server_class}' or '{o.client_classes}' errors, but {pc['exits_preceded']} of {pc['exits']} "
                f"workers died within {o.precursor_s:g} s after a '{first_lines(pc['precursor'], 1, 80)}' error, "
                f"and every respawn met it again", 0, 2)
    if lead is None:
        return "no dependency errors in the window: nothing could have caused the deaths", 2, 0
    if abs(lead) <= tol:
        return f"first death and first dependency error are {abs(lead)} s apart, within the {tol:g} s tolerance: no order can be claimed", 0, 0
    if lead > 0:
        return f"the first death came {lead} s before the first dependency error", 1, 0
    return f"dependency errors began {-lead} s before the first death", 0, 1


def hypotheses(ctx: Context) -> list[Hypothesis]:
    o = ctx.opts
    dying = ctx.per_pod("worker_death_spiral")
    if not dying:
        return []
    fl = ctx.run("feedback_loop", {"tolerance_s": o.tolerance_s, "max_lag_s": o.max_lag_s, **ctx.error_classes,
                                   "trigger_pods": ",".join(sorted(dying))})[0]
    tol = o.tolerance_s
    why, votes_against, votes_for = _onset(ctx, fl["deaths_lead_errors_s"])
    reasons = [why]
    r_best = fl["best_lag_corr"]
    if r_best is None or r_best < 0.3:
        reasons.append(f"per-second deaths do not follow per-second dependency errors at any lag within {o.max_lag_s} s "
                       f"(best r = {r_best if r_best is not None else 'n/a'})")
        votes_against += 1
    elif fl["best_lag_s"] > 0:
        reasons.append(f"per-second errors follow deaths (best correlation at +{fl['best_lag_s']} s, r = {r_best})")
        votes_against += 1
    elif fl["best_lag_s"] < 0:
        reasons.append(f"per-second deaths follow errors (best correlation at {fl['best_lag_s']} s, r = {r_best})")
        votes_for += 1
    else:
        reasons.append(f"deaths and errors move in the same second (r = {r_best}): no direction")
    w_err, wo_err = fl["deaths_per_s_with_errors"], fl["deaths_per_s_without_errors"]
    if fl["deaths_without_errors"] and w_err:
        ratio = (wo_err or 0) / w_err
        reasons.append(f"{fl['deaths_without_errors']} deaths ({fl['deaths_without_errors_share']:.0%}) had no dependency error within {tol:g} s; "
                       f"{wo_err or 0} deaths/s in seconds without errors vs {w_err} with (ratio {ratio:.2f})")
        if ratio >= 0.5:
            votes_against += 1
        else:
            votes_for += 1
    n_dead, by_sig, by_exit = fl["deaths"], fl["deaths_by_signal"], fl["deaths_by_error_exit"]
    if n_dead and by_sig >= 0.9 * n_dead:
        reasons.append(f"{by_sig} of {n_dead} workers were killed by a signal (killed from outside, e.g. the cgroup OOM killer), "
                       f"not exited by an error handler")
        votes_against += 1
    elif n_dead and by_exit >= n_dead / 2:
        reasons.append(f"{by_exit} of {n_dead} workers exited by themselves with an error code, as an error handler would")
        votes_for += 1
    if fl["control_pods"]:
        if fl["control_deaths"] == 0:
            reasons.append(f"{fl['control_pods']} control pod(s) calling the same dependency lost no workers")
            votes_against += 1
        else:
            reasons.append(f"control pods lost {fl['control_deaths']} workers too")
            votes_for += 1
    verdict = ("rejected" if votes_against >= 3 and votes_for <= 1
               else "supported" if votes_for >= 3 and votes_against <= 1 else "inconclusive")
    reasons.append(f"{votes_against} test(s) against, {votes_for} for")
    never = _never_reached(ctx)
    if never:  # contradicts the loop's second half whatever the votes: the data rejects it
        reasons.insert(0, never)
        verdict = "rejected"
    return [Hypothesis(
        rule="feedback_loop",
        statement="Dependency errors kill workers, and the respawned workers' calls cause more dependency errors (a positive feedback loop).",
        verdict=verdict, reasons=reasons, metrics=isoed(fl), sql=ctx.sql_ref("feedback_loop"),
    )]


def summary(ctx: Context) -> list[str]:
    out = []
    for h in ctx.tested("feedback_loop"):
        m = h.metrics
        lead = m.get("deaths_lead_errors_s")
        tol = m.get("tolerance_s", ctx.opts.tolerance_s)
        if lead is None:
            order = h.reasons[0]
        elif abs(lead) <= tol:
            order = f"deaths and dependency errors began within {abs(lead):g} s of each other, inside the {tol:g} s tolerance"
        elif lead > 0:
            order = f"deaths began {lead:g} s before the first dependency error"
        else:
            order = f"dependency errors began {-lead:g} s before the first death"
        extra = ""
        if m.get("deaths_per_s_without_errors") is not None and m.get("deaths_per_s_with_errors") is not None:
            extra += (f"; workers died at {m['deaths_per_s_without_errors']:g}/s in seconds without dependency errors "
                      f"vs {m['deaths_per_s_with_errors']:g}/s with them")
        if m.get("deaths_by_signal") is not None and m.get("deaths"):
            if m["deaths_by_signal"] >= m["deaths"] / 2:
                extra += f"; {m['deaths_by_signal']} of {m['deaths']} were killed by a signal, not exited by an error handler"
            else:
                extra += f"; {m.get('deaths_by_error_exit')} of {m['deaths']} exited by themselves with an error code"
        if _never_reached(ctx):
            out.append(f"The feedback-loop theory is {h.verdict}: {h.reasons[0]}.")
            continue
        if m.get("control_pods"):
            extra += f"; {m['control_pods']} control pod(s) lost {m.get('control_deaths') or 0} worker(s)"
        out.append(f"The feedback-loop theory is {h.verdict}: {order}{extra}.")
    return out


RULE = Rule(
    name="feedback_loop",
    produces=(),
    tests=("feedback_loop",),
    needs=("worker_death_spiral", "exit_precursor"),
    queries=QUERIES,
    detect=no_findings,
    hypotheses=hypotheses,
    summary=summary,
    summary_rank=100,
)
