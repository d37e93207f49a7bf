"""The rules the analyzer runs, one module per rule. Adding a rule: a module exporting `RULE`
(see base.Rule) and its line in REGISTRY.

REGISTRY is the run order: a rule reads the findings of the rules it `needs`, so those come
earlier (a test checks it). Where the rules' sentences stand in the summary and their advice in
the recommendations is set by their own ranks, not by this order."""

from __future__ import annotations

from . import (
    connection_pool,
    crash_loop_cause,
    deploy_markers,
    error_surge,
    event_loop_block,
    exhaustion_chain,
    exit_precursor,
    fatal_line,
    feedback_loop,
    host_shape,
    loop_lag,
    near_miss,
    paired_errors,
    request_amplification,
    resource_exhaustion,
    respawn_backoff,
    session_loss,
    slow_dependency,
    uneven_worker_load,
    worker_death_spiral,
    worker_sizing,
    worker_timeout,
)
from .base import Advice, RootRole, Rule

REGISTRY: list[Rule] = [
    worker_death_spiral.RULE,
    host_shape.RULE,
    request_amplification.RULE,
    paired_errors.RULE,
    exit_precursor.RULE,
    worker_timeout.RULE,
    feedback_loop.RULE,
    near_miss.RULE,
    event_loop_block.RULE,
    resource_exhaustion.RULE,
    deploy_markers.RULE,
    slow_dependency.RULE,
    connection_pool.RULE,
    crash_loop_cause.RULE,
    exhaustion_chain.RULE,
    uneven_worker_load.RULE,
    session_loss.RULE,
    # risks a scan reports before an incident (issue 15)
    worker_sizing.RULE,
    respawn_backoff.RULE,
    fatal_line.RULE,
    loop_lag.RULE,
    error_surge.RULE,  # last: a surge another rule's incident explains stays info
]


def rule_ids() -> list[str]:
    """Every finding and hypothesis rule id the registry can produce."""
    return [r for rule in REGISTRY for r in (*rule.produces, *rule.tests)]


__all__ = ["REGISTRY", "Advice", "RootRole", "Rule", "rule_ids"]
