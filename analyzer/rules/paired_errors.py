"""Paired client/server errors (a symptom): the dependency's server-side errors matched to its
callers' client-side errors, and how many fall right after a worker death."""

from __future__ import annotations

import statistics

from ..context import Context
from ..findings import Finding, Link, rounded
from .base import Rule

QUERIES = ("paired_errors",)


def detect(ctx: Context) -> list[Finding]:
    o = ctx.opts
    paired = ctx.run("paired_errors", {"tolerance_s": o.tolerance_s, **ctx.error_classes})
    if not paired:
        return []
    pairs = [p for p in paired if p["link"]]
    links_by: dict[str, int] = {}
    for p in pairs:
        links_by[p["link"]] = links_by.get(p["link"], 0) + 1
    aligned = [p for p in paired if p["death_aligned"]]
    offs = [p["offset_s"] for p in pairs if p["offset_s"] is not None]
    doffs = [p["death_offset_s"] for p in aligned if p["death_offset_s"] is not None]
    conf = statistics.mean(p["link_confidence"] for p in pairs) if pairs else 0.4
    why = [f"{len(pairs)} of {len(paired)} server errors paired with a client error ({', '.join(f'{k}: {v}' for k, v in sorted(links_by.items())) or 'none'})",
           f"{len(aligned)} of {len(paired)} server errors within {o.tolerance_s:g} s of a worker death"]
    if len(aligned) >= len(paired) / 2:
        conf = min(conf + 0.2, 0.99)
    ex = [ctx.ev(p["server_source_id"], p["server_line"], p["server_message"]) for p in paired[:3]]
    ex += [ctx.ev(p["client_source_id"], p["client_line"], p["client_message"]) for p in pairs[:3]]
    server_name = paired[0]["server_service"]
    return [Finding(
        rule="paired_client_server_errors", severity="warning", confidence=round(conf, 2), confidence_reasons=why,
        title=f"{server_name} logged {len(paired)} '{o.server_class}' errors: the other side of dying callers",
        entity={"service": server_name, "pod": None},
        start=paired[0]["server_ts"], end=paired[-1]["server_ts"],
        metrics={"server_errors": len(paired), "client_errors": paired[0]["client_errors_total"], "pairs": len(pairs),
                 "tolerance_s": o.tolerance_s, "links": links_by,
                 "median_offset_s": rounded(statistics.median(offs)) if offs else None,
                 "death_aligned": len(aligned), "death_aligned_share": rounded(len(aligned) / len(paired)),
                 "median_death_offset_s": rounded(statistics.median(doffs)) if doffs else None,
                 "caller_pods": sorted({p["caller_pod"] or p["death_pod"] for p in aligned if (p["caller_pod"] or p["death_pod"])}),
                 "server_class": o.server_class, "client_classes": o.client_classes.split(",")},
        evidence=ex,
        sql=ctx.sql_ref("paired_errors"),
    )]


def links(ctx: Context) -> list[Link]:
    out = []
    for pe in ctx.of("paired_client_server_errors"):
        m = pe.metrics
        for s in ctx.of("worker_death_spiral"):
            if s.pod in m["caller_pods"]:
                out.append(Link(s, pe, f"{m['death_aligned']} of {m['server_errors']} server errors within "
                                       f"{ctx.opts.tolerance_s:g} s of a death in this pod (median offset {m['median_death_offset_s']} s)"))
    return out


def summary(ctx: Context) -> list[str]:
    p = ctx.top("paired_client_server_errors")
    if not p:
        return []
    m = p.metrics
    return [f"The dependency logged {m['server_errors']} '{ctx.opts.server_class}' errors, "
            f"{m['death_aligned']} of them within {m['tolerance_s']:g} s of a worker death."]


RULE = Rule(
    name="paired_errors",
    produces=("paired_client_server_errors",),
    queries=QUERIES,
    detect=detect,
    links=links,
    summary=summary,
    summary_rank=90,
    impact_rank=50,
)
