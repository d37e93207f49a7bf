"""Respawn without backoff: a primary restarts dead workers at once, every time.

A risk before the spiral: whatever kills a worker (a memory limit, a bad request, a fork bomb)
is then repeated as fast as the primary can fork. Listed as a `warning` when a pod respawned
at least [rules.respawn_backoff] min_respawns workers a median of at most max_delay_ms after
their deaths, and the delays did not grow."""

from __future__ import annotations

from ...scanstate import rule_threshold
from ..context import Context
from ..findings import Finding
from .base import Advice, Rule

QUERIES = ("respawn_backoff",)


def detect(ctx: Context) -> list[Finding]:
    max_ms = float(rule_threshold(ctx.opts, "respawn_backoff", "max_delay_ms"))
    least = int(rule_threshold(ctx.opts, "respawn_backoff", "min_respawns"))
    svc = ctx.opts.service
    out = []
    for r in ctx.run("respawn_backoff"):
        if r["respawns"] < least or r["backs_off"] or r["median_delay_ms"] is None or r["median_delay_ms"] > max_ms:
            continue
        if svc and not ((r["pod"] or "").startswith(svc + "-") or r["service"] in (svc, svc + "-service")):
            continue
        out.append(Finding(
            rule="respawn_without_backoff", severity="warning", confidence=0.8,
            confidence_reasons=[f"{r['respawns']} workers respawned a median {r['median_delay_ms']:g} ms after they died "
                                f"(the longest {r['max_delay_ms']:g} ms)",
                                f"the delays did not grow (first third {r['early_median_ms']:g} ms, "
                                f"last third {r['late_median_ms']:g} ms)"],
            title=f"{r['pod']} respawns dead workers at once ({r['respawns']} times, no backoff)",
            entity={"service": r["service"], "pod": r["pod"]},
            start=r["first_exit"], end=r["last_exit"],
            metrics={k: r[k] for k in ("respawns", "median_delay_ms", "max_delay_ms", "early_median_ms",
                                       "late_median_ms", "backs_off")},
            evidence=[ctx.ev(r["source_id"], r["line_no"], r["message"])],
            sql=ctx.sql_ref("respawn_backoff"),
        ))
    return out


RULE = Rule(
    name="respawn_backoff",
    produces=("respawn_without_backoff",),
    queries=QUERIES,
    detect=detect,
    advice=(Advice("respawn_with_backoff",
                   "Respawn dead workers with an exponential backoff and a cap on restarts per minute.",
                   ("respawn_without_backoff",), rank=35),),
)
