"""What `pmortem scan` remembers between runs, and the scan's own analysis.

A scheduled scan must not page twice for the same thing. Every finding has a stable id
(analyzer.findings.finding_id: rule, service, pod, start); the table `scan_findings` (migration
6) keeps, per id, the severity it was last reported at and whether a user acknowledged it.
A scan reports a finding when it is new, or when its severity rose above the one reported
(or acknowledged) before; `--all` reports every finding of the window that is not
acknowledged.

Statuses: `open` (seen, not acknowledged), `acknowledged` (`pmortem ack ID`, until a date or
for good; a rise in severity re-opens it), `resolved` (open, and a later scan's window starts
after its last log time without seeing it again).

The analysis opens the database read-only (as `pmortem report` does); the state is written
afterwards through a second, short writable connection. If that one cannot be had within
--wait, nothing is printed and nothing is marked reported: the next scan tells it again.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from dataclasses import dataclass, field

from .errors import UserError

SEVERITY_RANK = {"info": 0, "warning": 1, "incident": 2}
STATUSES = ("open", "acknowledged", "resolved")

# [rules.<rule>] keys that set an analysis option (pmortem.toml): rule -> key -> (Options field, type)
RULE_OPTIONS: dict[str, dict[str, tuple[str, type]]] = {
    "host_shape": {"outlier_share": ("rare_share", float)},
    "event_loop_block": {"lag_ms": ("block_lag_ms", float)},
}

# The thresholds the rules read from [rules.<rule>] and their defaults (docs/scheduled-scans.md)
RULE_DEFAULTS: dict[str, dict[str, float | int]] = {
    # rare: in at most rare_starts starts, or under rare_share of them, and above the usual range (p90)
    "host_shape": {"rare_starts": 2, "rare_share": 0.01, "outlier_share": 0.05},
    "worker_sizing": {"min_ratio": 1.0},  # workers / CPU limit above this is listed
    "respawn_backoff": {"max_delay_ms": 1000, "min_respawns": 3},
    "loop_lag": {"lag_ms": 2000, "min_lines": 3},
    "event_loop_block": {"lag_ms": 500},
}


def rules_config(config_path: str | None) -> dict[str, dict]:
    """[rules.<rule>] tables of pmortem.toml, checked: unknown rules and non-numbers are refused."""
    import tomllib

    path = config_path or "pmortem.toml"
    if not os.path.exists(path):
        if config_path:
            raise UserError(f"config file {config_path} does not exist")
        return {}
    try:
        with open(path, "rb") as fh:
            cfg = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc})") from None
    rules = cfg.get("rules", {})
    if not isinstance(rules, dict):
        raise UserError(f"{path}: [rules] must hold tables, e.g. [rules.host_shape]")
    out: dict[str, dict] = {}
    for name, table in rules.items():
        if name not in RULE_DEFAULTS:
            raise UserError(
                f"{path}: [rules.{name}] is not a rule with thresholds; known: {', '.join(RULE_DEFAULTS)}"
            )
        if not isinstance(table, dict):
            raise UserError(f"{path}: [rules.{name}] must be a table of key = number")
        for k, v in table.items():
            if k not in RULE_DEFAULTS[name] and k not in RULE_OPTIONS.get(name, {}):
                raise UserError(
                    f"{path}: [rules.{name}] has no threshold {k!r}; known: {', '.join(RULE_DEFAULTS[name])}"
                )
            if isinstance(v, bool) or not isinstance(v, int | float) or v < 0:
                raise UserError(f"{path}: [rules.{name}] {k} = {v!r} must be a number of at least 0")
        out[name] = dict(table)
    return out


def rule_threshold(opts, rule: str, key: str):
    """A rule's threshold: [rules.<rule>] in pmortem.toml, else its default."""
    table = (getattr(opts, "rules", None) or {}).get(rule, {})
    return table.get(key, RULE_DEFAULTS[rule][key])


# ---------------------------------------------------------------- the analysis


@dataclass
class ScanResult:
    window: dict
    findings: list[dict]  # every finding of the window
    report: list[dict] = field(default_factory=list)  # what this scan tells (new, risen, or --all)
    acknowledged: int = 0  # findings of the window silenced by an acknowledgement
    resolved: int = 0
    seconds: float = 0.0
    cached: bool = False  # the analysis was the last scan's (nothing changed since)


def _in_window(f: dict, start: dt.datetime | None, end: dt.datetime | None) -> bool:
    """A finding overlaps the window (one with no time at all is kept)."""
    from .api import parse_time

    s, e = parse_time(f.get("start")), parse_time(f.get("end"))
    if s is None and e is None:
        return True
    s, e = s or e, e or s
    return not ((start is not None and e < start) or (end is not None and s > end))


def _config_text(config: str | None) -> str:
    path = config or "pmortem.toml"
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return ""


# bumped when the analysis of unchanged data changes (2: --last on a log where no line is an event)
CACHE_VERSION = 2


def cache_key(con, since, until, last, config: str | None) -> str:
    """What the analysis depends on: every source's fingerprint and offsets, the events (count
    and newest), the rolled-up baseline, the window asked for, the config file, pmortem's
    version and rules. Equal keys give equal findings."""
    import hashlib

    from . import __version__
    from .analyzer import rules
    from .db import SCHEMA_VERSION

    parts = [
        __version__,
        SCHEMA_VERSION,
        CACHE_VERSION,
        [r.name for r in rules.REGISTRY],
        con.execute(
            "SELECT source_id, fingerprint, size, bytes_done, lines_done, status FROM sources ORDER BY source_id"
        ).fetchall(),
        con.execute("SELECT count(*), max(ts) FROM events").fetchone(),
        con.execute("SELECT count(*), sum(starts) FROM cpu_count_history").fetchone(),
        [since, until, last],
        _config_text(config),
    ]
    return hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()


def analyse(
    db: str,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    last: dt.timedelta | None,
    config: str | None,
    wait: float,
    data: str | None = None,
) -> tuple[dict, list[dict], str, bool]:
    """The window (--last ends at the newest event) and the findings that overlap it, the cache
    key, and whether they came from the cache (the last scan's analysis, nothing having changed).
    Read-only; runs the rules' detectors only (no hypotheses, timeline or template surge)."""
    from .api import check_data
    from .db import open_data, open_existing

    # data: a Parquet dataset (`ingest --engine spark --out DIR`), read through DuckDB views
    con = open_data(data) if data else open_existing(db, wait=wait, read_only=True)
    try:
        check_data(con, data or db, since, until, None)
        key = cache_key(con, since, until, last, config)
        hit = con.execute('SELECT "window", findings FROM scan_cache WHERE key = $k', {"k": key}).fetchone()
        if hit:  # nothing changed since the last scan: its analysis stands (and polars stays unimported)
            return json.loads(hit[0]), json.loads(hit[1]), key, True
        from .analyzer.findings import finding_id
        from .analyzer.redact import load_redactor
        from .analyzer.report import Options
        from .api import peers_from_config

        redact = load_redactor(config)
        peers = peers_from_config(config)
        rules = rules_config(config)
        extra = {}
        for rule, keys in RULE_OPTIONS.items():
            for k, (attr, typ) in keys.items():
                if k in rules.get(rule, {}):
                    extra[attr] = typ(rules[rule][k])
        t0, t1 = since, until
        if last is not None:
            latest = newest(con, t1)
            if latest is not None:
                t1 = t1 or latest + dt.timedelta(microseconds=1)
                t0 = t0 or (t1 - last)
        if t0 is not None and t1 is None:
            t1 = newest(con) + dt.timedelta(microseconds=1)
        if t1 is not None and t0 is None:
            t0 = oldest(con)
        opts = Options(since=t0, until=t1, peers=peers, command="pmortem scan", rules=rules, **extra)
        data = _ScanAnalysis(con, opts, redact).run()
    finally:
        con.close()
    window = data["window"]
    w0, w1 = (None, None) if t0 is None else (t0, t1)
    findings = [f for f in data["findings"] if _in_window(f, w0, w1)]
    for f in findings:
        if window.get("start") and f.get("start") == window["start"]:
            # it began before the window (its start is the window's own): an id made from that
            # start would change with every window; keyed without it, it is told once
            e = f.get("entity") or {}
            f["id"] = finding_id(f["rule"], e.get("service"), e.get("pod"), None)
    return window, findings, key, False


def _scan_analysis_class():
    from .analyzer.findings import iso
    from .analyzer.report import Analysis

    class ScanAnalysis(Analysis):
        """The report's rules, their findings only: a scan tells findings, so it skips what only
        the written postmortem shows (hypotheses, the causal chain, the timeline, the template
        surge that re-reads log files, coverage), but settles severities as the report does."""

        def run(self) -> dict:
            ctx = self.ctx
            self.findings(hypotheses=False)
            win = ctx.window
            return {
                "window": {"start": iso(win["start"]), "end": iso(win["end"]), "basis": win["basis"]},
                "findings": [f.to_dict(self.redact) for f in ctx.findings],
            }

    return ScanAnalysis


def _ScanAnalysis(con, opts, redact):  # noqa: N802 - a class made on first use (lazy imports)
    return _scan_analysis_class()(con, opts, redact)


# ---------------------------------------------------------------- the state


def anchor(f: dict) -> str:
    """A link-friendly anchor: `<rule>-<id>` in lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9]+", "-", f"{f['rule']}-{f['id']}".lower()).strip("-")


def one_line(text: str | None, limit: int = 200) -> str:
    t = " ".join(str(text or "").split())
    return t if len(t) <= limit else t[: limit - 1] + "…"


def entity_name(entity: dict | None) -> str:
    e = entity or {}
    return e.get("pod") or e.get("service") or e.get("host") or ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def update_state(
    db: str,
    window: dict,
    findings: list[dict],
    *,
    all_: bool,
    wait: float,
    dry_run: bool = False,
    cache: tuple[str, bool] | None = None,
    data: str | None = None,
) -> ScanResult:
    """Decide what this scan tells, and remember it, in one short writable transaction
    (dry_run: decide only, through a read-only connection; nothing is written)."""
    from .api import parse_time
    from .db import connect

    res = ScanResult(window=window, findings=findings)
    now = _now()
    # the analysis has checked the schema version. A Parquet dataset keeps no scan memory (it
    # is never written): its scan_findings is an empty table of an in-memory connection
    if data:
        from .db import open_data

        con = open_data(data)
    else:
        con = connect(db, wait=wait, read_only=dry_run, migrate=False)
    try:
        con.execute("BEGIN TRANSACTION")
        ids = [f["id"] for f in findings]
        known = {}
        if ids:
            rows = con.execute(
                "SELECT id, status, reported_severity, ack_until FROM scan_findings WHERE list_contains($ids, id)",
                {"ids": ids},
            ).fetchall()
            known = {r[0]: r[1:] for r in rows}
        for f in findings:
            rank = SEVERITY_RANK.get(f["severity"], 0)
            prev = known.get(f["id"])
            status = "open"
            ack_until = None
            if prev is None:
                tell = True
            else:
                pstatus, psev, pack_until = prev
                risen = rank > SEVERITY_RANK.get(psev or "info", -1) if psev else True
                acked = pstatus == "acknowledged" and (pack_until is None or pack_until > now)
                if acked and not risen:
                    tell, status, ack_until = False, "acknowledged", pack_until
                    res.acknowledged += 1
                else:
                    tell = risen or all_
            if tell:
                res.report.append(f)
            if dry_run:
                continue
            summary = one_line(f.get("title"))
            con.execute(
                """
                INSERT INTO scan_findings (id, rule, severity, entity, first_seen, last_seen, reported_at,
                                           reported_severity, status, ack_until, ack_reason, summary, scanned_at)
                VALUES ($id, $rule, $sev, $entity, $first, $last, $rep_at, $rep_sev, $status, $ack_until, NULL, $summary, $now)
                ON CONFLICT (id) DO UPDATE SET
                    severity = excluded.severity, entity = excluded.entity, last_seen = excluded.last_seen,
                    first_seen = coalesce(scan_findings.first_seen, excluded.first_seen),
                    reported_at = coalesce(excluded.reported_at, scan_findings.reported_at),
                    reported_severity = CASE WHEN excluded.reported_at IS NOT NULL THEN excluded.reported_severity
                                             ELSE scan_findings.reported_severity END,
                    status = excluded.status,
                    ack_until = CASE WHEN excluded.status = 'acknowledged' THEN scan_findings.ack_until END,
                    ack_reason = CASE WHEN excluded.status = 'acknowledged' THEN scan_findings.ack_reason END,
                    summary = excluded.summary, scanned_at = excluded.scanned_at
                """,
                {
                    "id": f["id"],
                    "rule": f["rule"],
                    "sev": f["severity"],
                    "entity": json.dumps(f.get("entity") or {}, default=str),
                    "first": parse_time(f.get("start")),
                    "last": parse_time(f.get("end")) or parse_time(f.get("start")),
                    "rep_at": now if tell else None,
                    "rep_sev": f["severity"] if tell else None,
                    "status": status,
                    "ack_until": ack_until,
                    "summary": summary,
                    "now": now,
                },
            )
        # open findings the logs have moved past: the window starts after their last log time
        w0 = parse_time(window.get("start"))
        if w0 is not None and not dry_run:
            res.resolved = len(
                con.execute(
                    "UPDATE scan_findings SET status = 'resolved' "
                    "WHERE status = 'open' AND last_seen < $w0 AND NOT list_contains($ids, id) RETURNING id",
                    {"w0": w0, "ids": ids},
                ).fetchall()
            )
        if cache and not cache[1] and not dry_run:
            con.execute("DELETE FROM scan_cache")
            con.execute(
                "INSERT INTO scan_cache VALUES ($k, $w, $f, $now)",
                {"k": cache[0], "w": json.dumps(window), "f": json.dumps(findings, default=str), "now": now},
            )
        con.execute("COMMIT")
    except BaseException:
        try:
            con.execute("ROLLBACK")
        except Exception:  # noqa: BLE001 - the transaction may be gone already (Ctrl-C)
            pass
        raise
    finally:
        con.close()
    return res


def scan(
    db: str,
    *,
    since=None,
    until=None,
    last=None,
    config: str | None = None,
    wait: float = 10.0,
    all_: bool = False,
    dry_run: bool = False,
    data: str | None = None,
) -> ScanResult:
    t = time.perf_counter()
    window, findings, key, cached = analyse(
        db, since=since, until=until, last=last, config=config, wait=wait, data=data
    )
    res = update_state(
        db, window, findings, all_=all_, wait=wait, dry_run=dry_run, cache=(key, cached), data=data
    )
    res.cached = cached
    res.seconds = time.perf_counter() - t
    return res


def inputs_unchanged(paths: list[str], db: str, wait: float) -> bool:
    """True when every file PATHS name is a source the database holds complete, with the same
    size and not modified since it was ingested: the ingest would skip them all, so it (and the
    parsers it imports) need not start. Anything else (stdin, a glob, a new, grown, touched or
    damaged file, a path that does not exist) is False: the ingest runs and decides, or says
    what is wrong."""
    from pathlib import Path

    from .parsers.readers import InputError, expand_paths

    if not paths or "-" in paths or not os.path.exists(db):
        return False
    try:
        files = expand_paths(list(paths))
    except (InputError, OSError):
        return False
    from .db import open_existing
    from .errors import PmortemError

    try:
        con = open_existing(db, wait=wait, read_only=True)
    except PmortemError:
        return False  # older schema and the like: the ingest upgrades it or says why not
    try:
        known = {
            a: (size, status, at)
            for a, size, status, at in con.execute(
                "SELECT abspath, size, status, ingested_at FROM sources"
            ).fetchall()
        }
    finally:
        con.close()
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            return False
        k = known.get(str(Path(f).resolve()))
        if k is None or k[1] != "complete" or k[0] != st.st_size or k[2] is None:
            return False
        if st.st_mtime > k[2].timestamp():
            return False
    return True


def alert_object(f: dict) -> dict:
    """One finding as an alerting pipeline wants it."""
    return {
        "id": f["id"],
        "severity": f["severity"],
        "rule": f["rule"],
        "entity": entity_name(f.get("entity")),
        "entity_detail": {k: v for k, v in (f.get("entity") or {}).items() if v is not None},
        "first_seen": f.get("start"),
        "last_seen": f.get("end"),
        "summary": one_line(f.get("title")),
        "anchor": anchor(f),
        "confidence": f.get("confidence"),
        "evidence": (f.get("evidence") or [])[:3],
    }


# ---------------------------------------------------------------- ack, findings, prune


def ack(db: str, fid: str, *, until: dt.datetime | None, reason: str | None, wait: float) -> dict:
    from .db import open_existing

    con = open_existing(db, wait=wait)
    try:
        rows = con.execute(
            "SELECT id, rule, severity, summary FROM scan_findings WHERE id LIKE $p || '%' ORDER BY id",
            {"p": fid.strip().lower()},
        ).fetchall()
        if not rows:
            raise UserError(f"no finding {fid!r} in {db}; `pmortem findings --db {db}` lists them")
        if len(rows) > 1:
            raise UserError(
                f"{fid!r} matches {len(rows)} findings ({', '.join(r[0] for r in rows[:5])}); give more of the id"
            )
        full, rule, sev, summary = rows[0]
        con.execute(
            "UPDATE scan_findings SET status = 'acknowledged', ack_until = $u, ack_reason = $r, "
            "reported_severity = CASE WHEN $rank_sev > coalesce(CASE reported_severity WHEN 'info' THEN 0 "
            "WHEN 'warning' THEN 1 WHEN 'incident' THEN 2 END, -1) THEN severity ELSE reported_severity END "
            "WHERE id = $id",
            {"u": until, "r": reason, "id": full, "rank_sev": SEVERITY_RANK.get(sev, 0)},
        )
    finally:
        con.close()
    return {"id": full, "rule": rule, "severity": sev, "summary": summary, "until": until, "reason": reason}


FINDINGS_COLUMNS = [
    "id",
    "status",
    "severity",
    "rule",
    "entity",
    "first_seen",
    "last_seen",
    "reported_at",
    "reported_severity",
    "ack_until",
    "ack_reason",
    "summary",
]


def list_findings(db: str, *, wait: float, status: str | None = None) -> list[dict]:
    from .db import open_existing

    con = open_existing(db, wait=wait, read_only=True)
    try:
        rows = con.execute(
            f"SELECT {', '.join(FINDINGS_COLUMNS)} FROM scan_findings "
            "WHERE $s IS NULL OR status = $s "
            "ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, "
            "CASE severity WHEN 'incident' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END, first_seen, id",
            {"s": status},
        ).fetchall()
    finally:
        con.close()
    out = []
    for r in rows:
        d = dict(zip(FINDINGS_COLUMNS, r, strict=True))
        d["entity"] = entity_name(json.loads(d["entity"]) if d["entity"] else {})
        out.append(d)
    return out


@dataclass
class PruneResult:
    cutoff: dt.datetime | None
    deleted: dict
    kept: dict


def _tables(con) -> set[str]:
    # (information_schema: tables and views; `scan --data`'s tables are views over Parquet)
    return {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}


def newest(con, until: dt.datetime | None = None) -> dt.datetime | None:
    """The time of the newest line read (at or before `until`): the newest event or request counted
    in the rollup; with neither (a log where no line is an event), the end of the newest minute of
    the line index."""
    t = _tables(con)
    parts = ["SELECT max(ts) FROM events WHERE ts <= coalesce($u, ts)"]
    if "requests" in t:
        parts.append("SELECT max(last_ts) FROM requests WHERE last_ts <= coalesce($u, last_ts)")
    (latest,) = con.execute(f"SELECT max(x) FROM ({' UNION ALL '.join(parts)}) AS t(x)", {"u": until}).fetchone()
    if latest is None and "line_index" in t:
        (latest,) = con.execute(
            "SELECT least(max(minute) + INTERVAL 59999999 MICROSECOND, coalesce($u, max(minute) + INTERVAL 1 MINUTE))"
            " FROM line_index WHERE minute <= coalesce($u, minute)", {"u": until}
        ).fetchone()
    return latest


def oldest(con) -> dt.datetime | None:
    """The time of the oldest line read (as `newest`)."""
    t = _tables(con)
    parts = ["SELECT min(ts) FROM events"] + (["SELECT min(first_ts) FROM requests"] if "requests" in t else [])
    (first,) = con.execute(f"SELECT min(x) FROM ({' UNION ALL '.join(parts)}) AS t(x)").fetchone()
    if first is None and "line_index" in t:
        (first,) = con.execute("SELECT min(minute) FROM line_index").fetchone()
    return first


def prune(db: str, older_than: dt.timedelta, *, wait: float) -> PruneResult:
    """Delete events, line_index, lines, rejects and request rollup rows older than the newest event minus
    `older_than` (log time, as --last). Kept: every source row (fingerprints, offsets: a
    re-ingest stays incremental), scan_findings, and the CPU counts of pruned pod starts,
    rolled up into cpu_count_history (the host-shape rule's baseline)."""
    from .analyzer.sqlrun import load_sql
    from .db import open_existing

    con = open_existing(db, wait=wait)
    try:
        latest = newest(con)
        if latest is None:
            return PruneResult(None, {}, _kept(con))
        cutoff = latest - older_than
        con.execute("BEGIN TRANSACTION")
        try:
            # the pod starts about to go, rolled up per (service, cpu_count)
            rolled = con.execute(
                f"""
                WITH starts AS ({load_sql("cpu_count_starts").rstrip().rstrip(";")})
                SELECT coalesce(service, '') AS service, cpu_count, count(*) AS starts, min(ts), max(ts)
                FROM starts GROUP BY ALL
                """,
                {"cutoff": cutoff},
            ).fetchall()
            for service, cpu, n, first, last_ in rolled:
                hit = con.execute(
                    "UPDATE cpu_count_history SET starts = starts + $n, first_seen = least(first_seen, $f), "
                    "last_seen = greatest(last_seen, $l) WHERE service = $s AND cpu_count = $c RETURNING 1",
                    {"n": n, "f": first, "l": last_, "s": service, "c": cpu},
                ).fetchall()
                if not hit:
                    con.execute(
                        "INSERT INTO cpu_count_history VALUES ($s, $c, $n, $f, $l)",
                        {"n": n, "f": first, "l": last_, "s": service, "c": cpu},
                    )
            deleted = {}
            # rejects carry no time: those before the first line a source keeps (all of a source that keeps none)
            (deleted["rejects"],) = con.execute(
                """
                DELETE FROM rejects r WHERE r.line_no < coalesce(
                    (SELECT min(li.first_line) FROM line_index li WHERE li.source_id = r.source_id AND li.minute >= date_trunc('minute', $c::TIMESTAMPTZ)),
                    9223372036854775807)
                """,
                {"c": cutoff},
            ).fetchone()
            (deleted["events"],) = con.execute("DELETE FROM events WHERE ts < $c", {"c": cutoff}).fetchone()
            (deleted["line_index"],) = con.execute(
                "DELETE FROM line_index WHERE minute + INTERVAL 1 MINUTE <= $c", {"c": cutoff}
            ).fetchone()
            (deleted["lines"],) = con.execute("DELETE FROM lines WHERE ts < $c", {"c": cutoff}).fetchone()
            # request rollup rows whose requests all came before the cutoff
            (deleted["requests"],) = con.execute("DELETE FROM requests WHERE last_ts < $c", {"c": cutoff}).fetchone()
            deleted["rolled_up_starts"] = sum(r[2] for r in rolled)
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except Exception:  # noqa: BLE001
                pass
            raise
        con.execute("CHECKPOINT")
        kept = _kept(con)
    finally:
        con.close()
    return PruneResult(cutoff, deleted, kept)


def _kept(con) -> dict:
    q = {
        "sources": "SELECT count(*) FROM sources",
        "events": "SELECT count(*) FROM events",
        "line_index": "SELECT count(*) FROM line_index",
        "rejects": "SELECT count(*) FROM rejects",
        "scan_findings": "SELECT count(*) FROM scan_findings",
        "cpu_count_history_starts": "SELECT coalesce(sum(starts), 0) FROM cpu_count_history",
    }
    return {k: con.execute(v).fetchone()[0] for k, v in q.items()}


def db_size(db: str) -> int:
    return os.path.getsize(db) if os.path.exists(db) else 0
