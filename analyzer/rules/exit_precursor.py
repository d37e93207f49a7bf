"""Exit precursor (a crash loop): most workers exit by themselves, right after the same error."""

from __future__ import annotations

from ..context import Context
from ..findings import Finding, Link, first_lines, signal_exits
from .base import RootRole, Rule

QUERIES = ("exit_precursors",)


def detect(ctx: Context) -> list[Finding]:
    o = ctx.opts
    spirals = ctx.per_pod("worker_death_spiral")
    if not spirals:
        return []
    out: dict[str, Finding] = {}
    for r in ctx.run("exit_precursors", {"pods": ",".join(sorted(spirals)), "before_s": o.precursor_s}):
        sp = spirals[r["pod"]]
        killed = signal_exits(sp.metrics["exit_codes"])
        if r["pod"] in out or r["share"] < 0.8 or killed >= sp.metrics["deaths"] / 2:
            continue
        out[r["pod"]] = Finding(
            rule="exit_precursor", severity="incident", confidence=round(min(0.5 + 0.45 * r["share"], 0.95), 2),
            confidence_reasons=[
                f"{r['exits_preceded']} of {r['exits']} worker exits came within {o.precursor_s:g} s after this error "
                f"(median {r['median_gap_s']} s before the exit)",
                f"{sp.metrics['deaths'] - killed} of {sp.metrics['deaths']} workers exited by themselves (not killed by a signal)",
            ],
            title=f"Workers of {r['pod']} die right after '{first_lines(r['precursor'], 1, 120)}'",
            entity={"service": sp.entity.get("service"), "pod": r["pod"], "host": sp.entity.get("host")},
            start=sp.start, end=sp.end,
            metrics={"precursor": r["precursor"], "exits": r["exits"], "exits_preceded": r["exits_preceded"],
                     "share": r["share"], "median_gap_s": r["median_gap_s"], "before_s": o.precursor_s},
            evidence=[ctx.ev(r["example_source_id"], r["example_line_no"], r["example_message"])],
            sql=ctx.sql_ref("exit_precursors"),
        )
    return list(out.values())


def links(ctx: Context) -> list[Link]:
    spirals = ctx.per_pod("worker_death_spiral")
    deploys = ctx.per_pod("deploy_before_deaths")
    out = []
    for pod, pf in ctx.per_pod("exit_precursor").items():
        d = deploys.get(pod)
        if d:
            out.append(Link(d, pf, f"the deploy came {d.metrics['seconds_before_first_death']:g} s before the first death; "
                                   f"the error that precedes the deaths started after it", "time"))
        out.append(Link(pf, spirals[pod], f"{pf.metrics['exits_preceded']} of {pf.metrics['exits']} exits within "
                                          f"{ctx.opts.precursor_s:g} s after this error (median {pf.metrics['median_gap_s']} s)"))
    return out


def explains(ctx: Context, f: Finding) -> dict[str, int]:
    return {"deaths": f.metrics["exits_preceded"]}


def summary(ctx: Context) -> list[str]:
    pc = ctx.top("exit_precursor")
    if not pc:
        return []
    m = pc.metrics
    return [f"{m['exits_preceded']} of {m['exits']} exits came right after the error "
            f"'{first_lines(m['precursor'], 1, 120)}' (median {m['median_gap_s']} s before the exit): a crash loop."]


RULE = Rule(
    name="exit_precursor",
    produces=("exit_precursor",),
    needs=("worker_death_spiral",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    explains=explains,
    summary_rank=50,
    root=(RootRole("exit_precursor", 3, "starts_chain"),),
)
