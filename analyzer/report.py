"""Run the rules over the incident window, link their findings into a chain, pick the root
cause and write the report dict. The rules themselves live in analyzer/rules/, one module each."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import duckdb

from .. import __version__
from . import rules
from .context import Context
from .findings import Finding, Link, Recommendation, first_lines, impact_onset, iso, isoed
from .redact import Redactor
from .sqlrun import Runner
from .surge import template_surge

SCHEMA_VERSION = 2
UTC = dt.UTC


@dataclass
class Options:
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    service: str | None = None
    tolerance_s: float = 2.0
    server_class: str = "response_closed"
    client_classes: str = "context_cancelled,read_timeout"
    rare_share: float = 0.05
    gap_min: int = 10
    pad_before_s: int = 120
    pad_after_s: int = 60
    near_miss_after_s: int = 900
    max_lag_s: int = 5
    peers: dict | None = None  # [peers] in pmortem.toml: address -> service name
    block_lag_ms: float = 500.0  # event-loop lag at or above this is a block
    precursor_s: float = 2.0  # an error this close before a worker exit counts as its precursor
    deploy_lookback_s: float = 1800.0  # how far before the first death a deploy marker is looked for
    evidence_lines: int = 5
    command: str = "pmortem report"
    rules: dict | None = None  # [rules.<rule>] thresholds of pmortem.toml (pmortem.scanstate.rule_threshold)


def find_window(con: duckdb.DuckDBPyConnection, runner: Runner, o: Options) -> dict:
    """The window to analyse: the one given, else the densest island of worker exits and errors, padded."""
    info: dict = {"basis": "given", "first_bad": None, "last_bad": None}
    if o.since and o.until:
        return {**info, "start": o.since, "end": o.until}
    rows = runner.run("incident_window", {"service": o.service, "gap_min": o.gap_min})
    w = rows[0] if rows else {}
    if w.get("first_bad"):
        start = w["first_bad"] - dt.timedelta(seconds=o.pad_before_s)
        end = w["last_bad"] + dt.timedelta(seconds=o.pad_after_s)
        start = start.replace(second=0, microsecond=0)
        info = {"basis": "detected: densest island of impact (worker exits, errors, 5xx, timeouts)", **{k: w[k] for k in w}}
    else:
        # the data's span: events, the requests counted in the rollup (parsers/requests.py), and
        # the lines no rule made an event of (the per-minute line index: to the end of its minute)
        lo, hi = con.execute(
            "SELECT min(a), max(b) FROM (SELECT min(ts) AS a, max(ts) AS b FROM events WHERE ts IS NOT NULL"
            " UNION ALL SELECT min(first_ts), max(last_ts) FROM requests"
            " UNION ALL SELECT min(minute), max(minute) + INTERVAL 59999999 MICROSECOND FROM line_index)"
        ).fetchone()
        if lo is None:  # nothing with a time: an empty window at the epoch, never the wall clock
            lo = hi = dt.datetime(1970, 1, 1, tzinfo=UTC)
            info = {**info, "basis": "no timestamped events in the data", "empty": True}
        else:
            info = {**info, "basis": "no worker exits or errors found: the whole time range of the data"}
        start, end = lo, hi + dt.timedelta(microseconds=1)
    return {**info, "start": o.since or start, "end": o.until or end}


IMPACT_KINDS = ("deaths", "timeouts", "http_5xx", "errors")


def impact_totals(ctx: Context) -> dict:
    """The observed impact in the window (queries/impact.sql): totals per kind and the first of it."""
    rows = ctx.run("impact")
    tot = {k: sum(r[k] for r in rows) for k in IMPACT_KINDS}
    tot["first_impact"] = min((r["first_impact"] for r in rows if r["first_impact"]), default=None)
    tot["rows"] = rows  # per pod, with the first of each kind: when what a finding explains began
    return tot


def explain(ctx: Context, totals: dict) -> None:
    """Each finding's explained impact: the rule's count per kind, next to the total observed."""
    by_rule = {r: rule for rule in rules.REGISTRY for r in rule.produces}
    for f in ctx.findings:
        rule = by_rule.get(f.rule)
        if rule and rule.explains:
            # n, or (n, of) for an impact the window totals do not measure (requests on one worker, say)
            got = {k: (v if isinstance(v, tuple) else (v, totals.get(k) or v)) for k, v in rule.explains(ctx, f).items()}
            f.explains = {k: int(n) for k, (n, _) in got.items() if n}
            f.explained = {k: {"n": min(int(n), int(of)), "of": int(of)} for k, (n, of) in got.items() if n}
            f.impact_onset = impact_onset(f.pod, f.explained, totals["rows"])


def lower_unexplaining(ctx: Context, chain: list[Link]) -> None:
    """A warning of a rule that measures impact, which explains none and is linked to no finding that
    does, is worth knowing but no alarm: info (a deploy before a boot-time lag spike, say)."""
    declares = {r for rule in rules.REGISTRY if rule.explains for r in rule.produces if r not in rule.risks}
    linked: dict[str, set[str]] = {}
    for c in chain:
        linked.setdefault(c.cause.id, set()).add(c.effect.id)
        linked.setdefault(c.effect.id, set()).add(c.cause.id)
    by_id = {f.id: f for f in ctx.findings}
    for f in ctx.findings:
        if f.rule in declares and f.severity != "info" and not f.explains \
                and not any(by_id[o].explains for o in linked.get(f.id, ())):
            f.severity = "info"
            f.confidence_reasons.append("it explains none of the observed impact (deaths, timeouts, 5xx, errors): info")


def root_cause(findings: list[Finding], chain: list[Link], tolerance_s: float = 2.0,
               passed_over: list[Finding] | None = None) -> Finding | None:
    """The root cause: among the candidates the rules declare (rules.base.RootRole), only findings
    that explain some of the observed impact and came before it; the lowest rank wins, and within a
    rank the one that explains the largest share of one kind of impact. Links by time only (a deploy
    logged before) make no cause: a finding is a cause when a measured relation ties it to its effect.

    The root precedes its impact: a candidate that began more than `tolerance_s` after the first of
    the impact it explains (Finding.lag_after_impact) cannot have caused it. It is passed over, says
    so, and is chained after the root when both explain the same kind of impact. The candidates passed
    over for that reason are appended to `passed_over` when given (the report names them when no
    candidate is left: the logs then hold the impact but not what came before it)."""
    mech = [c for c in chain if c.kind != "time"]
    causes = {c.cause.id for c in mech}
    effects = {c.effect.id for c in mech}
    test = {"cause": lambda f: f.id in causes,
            "starts_chain": lambda f: f.id in causes and f.id not in effects,
            "not_info": lambda f: f.severity != "info"}
    roles = [role for rule in rules.REGISTRY for role in rule.root]
    late: list[Finding] = []
    root = None
    for rank in sorted({role.rank for role in roles}):
        tier = [role for role in roles if role.rank == rank]
        cands = [f for f in findings if f.explains and any(role.rule == f.rule and test[role.when](f) for role in tier)]
        late += [f for f in cands if f.lag_after_impact(tolerance_s) is not None and f not in late]
        cands = [f for f in cands if f not in late]
        if cands:
            root = max(cands, key=lambda f: f.explained_share())  # max keeps the first (most severe) of equals
            break
    linked = {(c.cause.id, c.effect.id) for c in chain} | {(c.effect.id, c.cause.id) for c in chain}
    for f in late:
        f.confidence_reasons.append(
            f"not the root cause: it began {f.lag_after_impact(tolerance_s):.3g} s after the first of the impact it "
            f"explains ({iso(f.impact_onset)}), so it came after what it would have caused")
        if root and root.start and (root.id, f.id) not in linked and set(root.explains) & set(f.explains):
            chain.append(Link(root, f, f"{root.rule} began first ({iso(root.start)}); {f.rule} began "
                                       f"{(f.start - root.start).total_seconds():.3g} s later, after the first of the "
                                       "impact both explain", "time"))
    if passed_over is not None:
        passed_over += late
    return root


def recommendations(ctx: Context) -> list[Recommendation]:
    recs = []
    for advice in sorted((a for rule in rules.REGISTRY for a in rule.advice), key=lambda a: a.rank):
        ids = [f.id for r in advice.rules for f in ctx.of(r) if advice.when is None or advice.when(f)]
        if ids:
            recs.append(Recommendation(advice.id, advice.text, ids))
    return recs


def summary(ctx: Context, incident: bool, surge: dict) -> str:
    if not incident:
        deaths = sum(f.metrics.get("deaths", 0) for f in ctx.of("worker_death_spiral"))
        text = (f"No incident found in the window: {deaths} worker deaths, no host-shape outlier "
                f"and no incident-level finding ({len(ctx.findings)} finding(s) at warning/info level).")
        rows = surge.get("rows") or []
        if rows and surge.get("baseline_lines"):
            top = rows[0]
            text += (f" Most surging log template: \"{top['template'][:120]}\" ({top['window_count']} in the window vs "
                     f"{top['baseline_count']} in the baseline; see 'Log templates that surged').")
        return text
    told = sorted((rule for rule in rules.REGISTRY if rule.summary), key=lambda rule: rule.summary_rank)
    return " ".join(s for rule in told for s in rule.summary(ctx))


def _quiet(stage: str) -> None:
    pass


class Analysis:
    # stages told to `progress`: the window, each rule, the timeline, the template surge, coverage
    STAGES_AFTER_RULES = 3

    def __init__(self, con: duckdb.DuckDBPyConnection, opts: Options, redact: Redactor, progress=None):
        con.execute("SET TimeZone = 'UTC'")
        runner = Runner(con)
        self.con, self.opts, self.redact, self.runner = con, opts, redact, runner
        self.progress = progress or _quiet
        self.progress("finding the incident window")
        self.ctx = Context(con, opts, redact, runner, find_window(con, runner, opts))

    @classmethod
    def stages(cls) -> int:
        return 1 + len(rules.REGISTRY) + cls.STAGES_AFTER_RULES

    def findings(self, *, hypotheses: bool = True) -> tuple[dict, list[Link]]:
        """Every rule's findings with ids, explained impact, the chain, and severities settled
        (a warning that explains nothing is info): what both the report and `scan` tell.
        Returns the impact totals and the chain; the findings are in ctx.findings, sorted."""
        ctx = self.ctx
        for rule in rules.REGISTRY:
            self.progress(f"rule {rule.name}")
            ctx.findings += rule.detect(ctx)
            if hypotheses and rule.hypotheses:
                ctx.hypotheses += rule.hypotheses(ctx)
        for f in ctx.findings:
            f.assign_id()
        totals = impact_totals(ctx)
        explain(ctx, totals)
        chain = [link for rule in rules.REGISTRY if rule.links for link in rule.links(ctx)]
        lower_unexplaining(ctx, chain)
        ctx.findings.sort(key=Finding.sort_key)
        return totals, chain

    def run(self) -> dict:
        ctx, o, win = self.ctx, self.opts, self.ctx.window
        totals, chain = self.findings()
        incident = any(f.severity == "incident" for f in ctx.findings)
        passed: list[Finding] = []
        root = root_cause(ctx.findings, chain, o.tolerance_s, passed) if incident else None
        recs = recommendations(ctx)
        self.progress("timeline")
        timeline = self.timeline(win)
        self.progress("log templates that surged")
        surge = self.surge(win)
        self.progress("coverage")
        coverage = ctx.run("coverage")
        return {
            "schema_version": SCHEMA_VERSION,
            "pmortem_version": __version__,
            "command": self.redact(o.command),
            "incident": incident,
            "window": {"start": None if win.get("empty") else iso(win["start"]),
                       "end": None if win.get("empty") else iso(win["end"]), "basis": win["basis"]},
            "service": o.service,
            "root_cause": root.id if root else None,
            "root_passed_over": [f.id for f in passed],
            "impact": {k: totals[k] for k in IMPACT_KINDS} | {"first": iso(totals["first_impact"])},
            "summary": summary(ctx, incident, surge),
            "findings": [f.to_dict(self.redact) for f in ctx.findings],
            "chain": [c.to_dict() for c in chain],
            "hypotheses": [h.to_dict() for h in ctx.hypotheses],
            "recommendations": [r.to_dict() for r in recs],
            "timeline": timeline,
            "template_surge": surge,
            "coverage": [isoed(c) | {"path": self.redact(c["path"])} for c in coverage],
            "sources": [{"source_id": sid, "path": self.redact(p), "fingerprint": fp, "format": fmt, "lines": n, "status": st}
                        for sid, p, fp, fmt, n, st in self.con.execute(
                            "SELECT source_id, path, fingerprint, format, lines, status FROM sources ORDER BY source_id").fetchall()],
            "queries": {k: self.runner.sql_ref(k) for k in self.runner.ran},
            "redaction": [{"name": n, "regex": rx.pattern, "replacement": rp} for n, rx, rp in self.redact.rules],
        }

    def timeline(self, win) -> dict:
        fb, lb = win.get("first_bad"), win.get("last_bad")
        start = (fb - dt.timedelta(seconds=10)) if fb else win["start"]
        end = (lb + dt.timedelta(seconds=10)) if lb else win["end"]
        span = max((end - start).total_seconds(), 1)
        bucket = max(1, math.ceil(span / 60))
        rows = self.runner.run("timeline", {"since": start, "until": end, "bucket_s": bucket,
                                            "server_class": self.opts.server_class,
                                            "client_classes": self.opts.client_classes})
        return {"bucket_s": bucket, "start": iso(start), "end": iso(end),
                "rows": [{**r, "bucket": iso(r["bucket"])} for r in rows]}

    def surge(self, win) -> dict:
        """Templates that surged or appeared in the window (re-read through line_index)."""
        try:
            s = template_surge(self.con, win["start"], win["end"])
        except Exception as exc:  # noqa: BLE001 - a damaged source must not sink the whole report
            return {"window": {"start": iso(win["start"]), "end": iso(win["end"])}, "baseline": {"start": None, "end": None},
                    "bytes_read": 0, "window_lines": 0, "baseline_lines": 0, "duplicate_lines": 0, "skipped": [], "rows": [], "error": str(exc)[:200]}
        for k in ("window", "baseline"):
            s[k] = {kk: (iso(v) if isinstance(v, dt.datetime) else v) for kk, v in s[k].items()}
        for r in s["rows"]:
            r["first_seen"] = iso(r["first_seen"])
            r["template"] = self.redact(r["template"])
            r["example"] = {**r["example"], "source": self.redact(r["example"]["source"]),
                            "text": self.redact(first_lines(r["example"]["text"]))}
        return s


def build_report(con: duckdb.DuckDBPyConnection, opts: Options, redact: Redactor, progress=None) -> dict:
    """The report dict; `progress(stage)` (optional) is called as each stage starts."""
    return Analysis(con, opts, redact, progress).run()
