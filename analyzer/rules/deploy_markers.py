"""Deploy before deaths: the newest deploy or config change of the service logged before a pod's
first worker death, or before its first event-loop block."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, Link, iso
from .base import Advice, RootRole, Rule

QUERIES = ("deploy_markers",)


def _deploys(ctx: Context, firsts: dict[str, Finding], event: str, close_s: float, key: str) -> list[Finding]:
    """One finding per pod of `firsts` (the finding whose start is the pod's first `event`) with a deploy
    logged before it; a deploy within `close_s` of it is the likelier cause."""
    if not firsts:
        return []
    pods = sorted(firsts)
    lookback = ctx.opts.deploy_lookback_s
    rows = ctx.run("deploy_markers", {"until": ctx.window["end"], "pods": ",".join(pods),
                                      "first_deaths": ",".join(iso(firsts[p].start) for p in pods),
                                      "lookback_s": lookback}, key=key)
    out = []
    for r in rows:
        gap = r["seconds_before_first_death"]
        out.append(Finding(
            rule="deploy_before_deaths", severity="warning", confidence=0.8 if gap <= close_s else 0.6,
            confidence_reasons=[f"logged {gap:g} s before the first {event} in {r['pod']}",
                                "the newest deploy or config change of the service before "
                                + ("the deaths" if event == "worker death" else "it")],
            title=f"Deploy logged {gap:g} s before the first {event} in {r['pod']}",
            entity={"service": firsts[r["pod"]].entity.get("service"), "pod": r["pod"]},
            start=r["deploy_ts"], end=r["deploy_ts"],
            metrics={"seconds_before_first_death": gap, "lookback_s": lookback},
            evidence=[ctx.ev(r["source_id"], r["line_no"], r["message"])],
            sql=ctx.sql_ref(key),
        ))
    return out


def detect(ctx: Context) -> list[Finding]:
    return (_deploys(ctx, ctx.per_pod("worker_death_spiral"), "worker death", 120, "deploy_markers")
            + _deploys(ctx, ctx.per_pod("event_loop_block"), "event-loop block", 600, "deploy_markers:blocks"))


def links(ctx: Context) -> list[Link]:
    """A deploy before a spiral that no trigger or precursor explains: linked by time only."""
    spirals = ctx.per_pod("worker_death_spiral")
    explained = set(ctx.per_pod("exit_precursor")) | set(ctx.per_pod("host_shape_outlier"))
    return [Link(d, spirals[pod], f"deploy {d.metrics['seconds_before_first_death']:g} s before the first death (time only)", "time")
            for pod, d in ctx.per_pod("deploy_before_deaths").items() if pod in spirals and pod not in explained]


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    """Nothing by itself: a deploy is linked to what followed it by time only; it keeps its warning
    when the finding it came before explains impact (report.lower_unexplaining)."""
    return {}


def summary(ctx: Context) -> list[str]:
    d = ctx.top("deploy_before_deaths")
    if not d:
        return []
    b, t = ctx.top("event_loop_block"), ctx.top("host_shape_outlier")
    block_told = b and not (t and b.pod == t.pod)  # as the event_loop_block summary tells it
    what = "event-loop block" if block_told and not ctx.top("worker_death_spiral") else "death"
    return [f"A deploy was logged {d.metrics['seconds_before_first_death']:g} s before the first {what}."]


RULE = Rule(
    name="deploy_markers",
    produces=("deploy_before_deaths",),
    needs=("worker_death_spiral", "event_loop_block"),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    explains=explains,
    summary_rank=60,
    advice=(Advice("validate_config_before_fork", "Check configuration and dependencies once in the primary before "
                   "forking (fail the deploy's readiness, not every worker), and roll back the change logged before the deaths.",
                   ("exit_precursor", "deploy_before_deaths"), rank=70),),
    root=(RootRole("deploy_before_deaths", 2, "starts_chain"),),
)
