"""Slow-dependency hypothesis, tested by the event-loop blocks: did a slow shared dependency (the
database, say) make every route time out? Health checks, which touch no dependency, timing out
inside the blocks reject it."""

from __future__ import annotations

from ..context import Context
from ..findings import Hypothesis
from .base import Rule, no_findings


def hypotheses(ctx: Context) -> list[Hypothesis]:
    out = []
    for b in ctx.of("event_loop_block"):
        m = b.metrics
        if not (m["timeouts"] and "," in (m["timeout_routes"] or "")):
            continue  # timeouts on one route only: nothing says every route was hit
        why = [f"{m['timeouts']} of {m['timeouts_total']} timeouts came while the event loop of {b.pod} was blocked"]
        if m["health_timeouts"]:
            why.append(f"{m['health_timeouts']} of them were health checks, which touch no database or other dependency")
        why.append(f"the request that held the loop ({m['top_route'] or 'unknown'}) is CPU work in the process itself")
        out.append(Hypothesis(
            rule="slow_dependency",
            statement="A slow shared dependency (the database, say) made every route time out.",
            verdict="rejected" if (m["health_timeouts"] and m["timeouts"] >= 0.8 * m["timeouts_total"]) else "inconclusive",
            reasons=why,
            metrics={k: m[k] for k in ("timeouts", "timeouts_total", "health_timeouts", "timeout_routes")},
            sql=b.sql,
        ))
    return out


def summary(ctx: Context) -> list[str]:
    return [f"The slow-dependency theory is {h.verdict}: {h.reasons[0]}" + (f"; {h.reasons[1]}" if len(h.reasons) > 2 else "") + "."
            for h in ctx.tested("slow_dependency")]


RULE = Rule(
    name="slow_dependency",
    produces=(),
    tests=("slow_dependency",),
    needs=("event_loop_block",),
    detect=no_findings,
    hypotheses=hypotheses,
    summary=summary,
    summary_rank=70,
)
