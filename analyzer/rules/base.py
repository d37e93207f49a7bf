"""What a rule module declares: the `Rule` it exports as `RULE`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..findings import Finding, Hypothesis, Link

if TYPE_CHECKING:
    from ..context import Context


@dataclass(frozen=True)
class Advice:
    """A recommendation a rule makes when it has findings."""

    id: str
    text: str
    rules: tuple[str, ...]  # findings of these rules call for it; their ids are listed rule by rule
    rank: int  # place in the recommendations list, lowest first
    # which of those findings' evidence needs it (None: all of them); no such finding, no advice
    when: Callable[[Finding], bool] | None = None


@dataclass(frozen=True)
class RootRole:
    """How a rule's finding can be the root cause. The lowest rank with a candidate wins;
    within a rank, the most severe finding."""

    rule: str
    rank: int
    when: str  # "cause": causes a link | "starts_chain": a cause and no effect | "not_info": warning or worse


@dataclass(frozen=True)
class Rule:
    name: str  # the module's name
    produces: tuple[str, ...]  # finding rule ids
    detect: Callable[[Context], list[Finding]]
    tests: tuple[str, ...] = ()  # hypothesis rule ids
    needs: tuple[str, ...] = ()  # rule ids whose findings detect() reads: earlier in the registry
    queries: tuple[str, ...] = ()  # queries/*.sql it runs
    hypotheses: Callable[[Context], list[Hypothesis]] | None = None
    links: Callable[[Context], list[Link]] | None = None
    summary: Callable[[Context], list[str]] | None = None  # sentences for the summary of an incident
    summary_rank: int = 1000  # place of those sentences in the summary, lowest first
    advice: tuple[Advice, ...] = ()
    root: tuple[RootRole, ...] = ()
    # the observed impact (queries/impact.sql kinds) a finding of it explains: {kind: n}. A rule that
    # declares it has its warnings lowered to info when they explain no impact and link to none that does
    explains: Callable[[Context, Finding], dict[str, int]] | None = None
    # finding ids that are risks: a warning before any impact (a rare host shape), so the rule's
    # explains() makes them root candidates but never lowers them to info for explaining nothing yet
    risks: tuple[str, ...] = ()
    impact_rank: int | None = None  # its lines in the Impact section: templates/rules/<name>.impact.md.j2, per finding

    @property
    def impact_template(self) -> str:
        return f"rules/{self.name}.impact.md.j2"


def no_findings(ctx: Context) -> list[Finding]:
    """detect() of a rule that only tests a hypothesis."""
    return []
