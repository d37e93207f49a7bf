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
        # the test: the timeouts fall inside the pod's own blocks (>= 80 %), and either routes that touch
        # no dependency (health checks) time out too, or the pod called no dependency at all
        inside = m["timeouts"] >= 0.8 * m["timeouts_total"]
        why = [f"{m['timeouts']} of {m['timeouts_total']} timeouts came while the event loop of {b.pod} was blocked"]
        if m["health_timeouts"]:
            why.append(f"{m['health_timeouts']} of them were health checks, which touch no database or other dependency")
        calls = m.get("dependency_calls")
        if calls == 0:
            why.append(f"{b.pod} logged 0 calls to any dependency in the window: no dependency was involved")
        elif calls:
            why.append(f"{b.pod} logged {calls} dependency call(s) in the window")
        if m["top_route"]:
            why.append(f"the request that held the loop ({m['top_route']}) is CPU work in the process itself")
        contradicted = inside and (m["health_timeouts"] or calls == 0)
        why.append("test: rejected when at least 80 % of the timeouts fall inside the blocks and health checks time out "
                   "too or no dependency call was made; " + ("both hold" if contradicted else "it does not hold"))
        out.append(Hypothesis(
            rule="slow_dependency",
            statement="A slow shared dependency (the database, say) made every route time out.",
            verdict="rejected" if contradicted else "inconclusive",
            reasons=why,
            metrics={k: m.get(k) for k in ("timeouts", "timeouts_total", "health_timeouts", "timeout_routes", "dependency_calls")},
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
