"""What rules produce: findings, hypotheses, chain links and recommendations, and their JSON shape."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

SEVERITY_ORDER = {"incident": 0, "warning": 1, "info": 2}
ENTITY_KEYS = ("service", "namespace", "pod", "container", "host", "pid")
IMPACT_NAMES = {"deaths": "worker deaths", "timeouts": "timeouts", "http_5xx": "5xx responses", "errors": "errors",
                "requests_on_one_worker": "requests on one worker", "denied_sessions": "requests denied"}


def explained_text(explained: dict | None) -> str:
    """'24 of 24 timeouts, 3 of 5 worker deaths' from a finding's explained impact ({kind: {n, of}})."""
    return ", ".join(f"{v['n']:,} of {v['of']:,} {IMPACT_NAMES.get(k, k)}" for k, v in (explained or {}).items() if v.get("n"))


MEASURED_IMPACT = ("deaths", "timeouts", "http_5xx", "errors")  # the kinds queries/impact.sql times


def impact_onset(pod: str | None, explained: dict, rows: list[dict]) -> dt.datetime | None:
    """When the impact a finding explains began: per kind it explains, the first of that kind in its
    own pod when it explains all of its pod's (the deaths of a spiral), else the first in the whole
    window when it explains all of that kind (the 5xx a proxy logged, say); the earliest of those.
    A share of some other impact has no known start and is skipped: None when nothing it explains
    is timed (kinds queries/impact.sql does not measure, too). `rows`: impact.sql's, one per pod,
    with the count and first_<kind> of each kind."""
    firsts = []
    for kind, v in (explained or {}).items():
        if kind not in MEASURED_IMPACT or not v.get("n"):
            continue
        own = [r for r in rows if pod is not None and r["pod"] == pod and r[kind]]
        if own and sum(r[kind] for r in own) <= v["n"]:
            firsts += [r[f"first_{kind}"] for r in own]
        elif v["n"] >= v["of"]:
            firsts += [r[f"first_{kind}"] for r in rows if r[kind]]
    return min(firsts, default=None)


def iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if t else None


def finding_id(rule: str, service: str | None, pod: str | None, start: dt.datetime | None) -> str:
    key = f"{rule}|{service or ''}|{pod or ''}|{iso(start) or ''}"
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def rounded(x, nd: int = 3):
    return round(x, nd) if isinstance(x, float) else x


def first_lines(msg: str | None, n: int = 2, limit: int = 400) -> str:
    if not msg:
        return ""
    lines = [ln for ln in str(msg).split("\n") if ln.strip()][:n]
    s = "\n".join(lines)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def isoed(row: dict) -> dict:
    """A query row with its timestamps as ISO strings, as metrics show them."""
    return {k: (iso(v) if isinstance(v, dt.datetime) else v) for k, v in row.items()}


def signal_exits(exit_codes: str | None) -> int:
    """Exits by a kill, from an exit-code histogram ('SIGKILL:120, 1:3, timeout:4'): a signal, or a
    supervisor's timeout kill (exit_mode timeout, worker_lifecycle.sql)."""
    n = 0
    for part in (exit_codes or "").split(","):
        code, _, cnt = part.strip().rpartition(":")
        if (code.startswith("SIG") or code == "timeout") and cnt.isdigit():
            n += int(cnt)
    return n


@dataclass
class Finding:
    rule: str
    severity: str  # incident | warning | info
    confidence: float
    confidence_reasons: list[str]
    title: str
    entity: dict
    start: dt.datetime | None
    end: dt.datetime | None
    metrics: dict
    evidence: list[dict]
    sql: dict
    id: str = ""
    # impact it explains: {kind: n} (kinds of queries/impact.sql: deaths, timeouts, http_5xx, errors),
    # set by report.py from the rule's `explains`; `explained` adds the totals: {kind: {"n", "of"}}
    explains: dict = field(default_factory=dict)
    explained: dict = field(default_factory=dict)
    # when the impact it explains began (impact_onset), set by report.py with `explained`
    impact_onset: dt.datetime | None = None

    @property
    def pod(self) -> str | None:
        return self.entity.get("pod")

    def assign_id(self) -> None:
        self.id = finding_id(self.rule, self.entity.get("service"), self.pod, self.start)
        for k in ENTITY_KEYS:
            self.entity.setdefault(k, None)

    def sort_key(self) -> tuple:
        return (SEVERITY_ORDER[self.severity], -self.confidence, iso(self.start) or "", self.id)

    def to_dict(self, redact: Callable[[str], str]) -> dict:
        return {"id": self.id, "rule": self.rule, "severity": self.severity, "confidence": self.confidence,
                "title": redact(self.title), "entity": self.entity, "start": iso(self.start), "end": iso(self.end),
                "metrics": self.metrics, "confidence_reasons": self.confidence_reasons, "evidence": self.evidence,
                "explains": self.explained, "sql": self.sql}

    def explained_share(self) -> float:
        """The largest share of one kind of observed impact this finding explains (0 when none)."""
        return max((v["n"] / v["of"] for v in self.explained.values() if v["of"]), default=0.0)

    def lag_after_impact(self, tolerance_s: float = 0.0) -> float | None:
        """Seconds this finding began after the first of the impact it explains, beyond `tolerance_s`
        (clocks of different sources, a proxy's whole-second stamps); None when it precedes its
        impact or either time is unknown. A finding that began after its impact cannot have caused it."""
        if self.start is None or self.impact_onset is None:
            return None
        late = (self.start - self.impact_onset).total_seconds()
        return late if late > tolerance_s else None

    def explains_text(self) -> str:
        """'24 of 24 timeouts', kinds joined; '' when it explains nothing."""
        return explained_text(self.explained)


@dataclass
class Hypothesis:
    rule: str
    statement: str
    verdict: str  # supported | rejected | inconclusive
    reasons: list[str]
    metrics: dict
    sql: dict

    def to_dict(self) -> dict:
        return {"rule": self.rule, "statement": self.statement, "verdict": self.verdict, "reasons": self.reasons,
                "metrics": self.metrics, "sql": self.sql}


@dataclass
class Link:
    cause: Finding
    effect: Finding
    basis: str
    kind: str = "mechanism"  # "mechanism": entity and a measured relation | "time": only came before it

    def to_dict(self) -> dict:
        return {"cause": self.cause.id, "effect": self.effect.id, "basis": self.basis, "kind": self.kind}


@dataclass
class Recommendation:
    id: str
    text: str
    findings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "findings": self.findings, "text": self.text}
