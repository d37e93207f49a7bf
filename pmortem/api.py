"""pmortem as a library: what the command line does, as two calls.

    import pmortem

    summary = pmortem.ingest(["samples/forkbomb"], db="incident.duckdb")
    rep = pmortem.report("incident.duckdb", service="checkout")
    rep.incident, rep.findings          # the verdict, and the findings as dicts
    rep.to_markdown(); rep.to_json()    # the postmortem, as `pmortem report` writes it

Errors a caller can fix raise `pmortem.PmortemError` (subclasses: DatabaseMissing,
NotAPmortemDatabase, SchemaTooOld, SchemaTooNew, DatabaseLocked, NoData, UnknownService,
UserError); nothing here prints or exits. `pmortem.report` opens the database read-only and
never writes to it. This module imports only the standard library at import time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .errors import NoData, UnknownService, UserError

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

    from .ingest import IngestSummary

DEFAULT_DB = "pmortem.duckdb"  # the same as pmortem.db.DEFAULT_DB (not imported: it imports duckdb)

__all__ = ["ingest", "report", "Report", "IngestSummary", "parse_size", "parse_duration", "parse_time"]


def __getattr__(name: str):
    if name == "IngestSummary":
        from .ingest import IngestSummary

        return IngestSummary
    raise AttributeError(name)


# ---------------------------------------------------------------- values users type

_SIZE_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b|b)\s*", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
MIN_MEMORY = 16 * 10**6


def parse_size(value: str | int, name: str = "size") -> str:
    """'512MB', '1.5GiB', '2 gb' -> the DuckDB spelling ('512MB', '1.5GiB', '2GB'); an int is bytes."""
    if isinstance(value, int) and not isinstance(value, bool):
        n, text = value, f"{value}B"
    else:
        m = _SIZE_RE.fullmatch(str(value))
        if not m:
            raise UserError(
                f"{name} {value!r} is not a size; use a number and a unit, e.g. 512MB, 2GB or 1.5GiB"
            )
        unit = m.group(2).lower()
        canon = {
            "b": "B",
            "kb": "KB",
            "mb": "MB",
            "gb": "GB",
            "tb": "TB",
            "kib": "KiB",
            "mib": "MiB",
            "gib": "GiB",
            "tib": "TiB",
        }[unit]
        n, text = float(m.group(1)) * _SIZE_UNITS[unit], f"{m.group(1)}{canon}"
    if n < MIN_MEMORY:
        raise UserError(f"{name} {value!r} is too small; DuckDB needs at least 16MB (e.g. 512MB)")
    return text


_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_duration(value: str | float | int | dt.timedelta, name: str = "duration") -> dt.timedelta:
    """'90s', '30m', '1h30m', '2d' -> timedelta; a number is seconds."""
    if isinstance(value, dt.timedelta):
        td = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        td = dt.timedelta(seconds=value)
    else:
        text = str(value).strip().replace(" ", "")
        parts = _DURATION_RE.findall(text)
        if not text or "".join(n + u for n, u in parts) != text:
            raise UserError(
                f"{name} {value!r} is not a duration; use a number and a unit, e.g. 30m, 1h, 2d or 1h30m"
            )
        td = dt.timedelta(seconds=sum(float(n) * _DURATION_UNITS[u.lower()] for n, u in parts))
    if td <= dt.timedelta(0):
        raise UserError(f"{name} {value!r} must be longer than zero, e.g. 30m or 1h")
    return td


def parse_time(value: str | dt.datetime | None, name: str = "time") -> dt.datetime | None:
    """ISO 8601 text or a datetime -> an aware datetime (UTC when it names no zone)."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        t = value
    elif isinstance(value, dt.date):
        t = dt.datetime(value.year, value.month, value.day)
    else:
        try:
            t = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise UserError(
                f"{name} {value!r} is not a time; use ISO 8601, e.g. 2022-04-08T20:50:00Z"
            ) from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def ingest_environment() -> None:
    """Before an ingest imports numpy (through pyarrow): OpenBLAS would start a thread per core
    that busy-waits after start-up; pmortem does no linear algebra, and on a 2-core node those
    threads take CPU from the ingest's own two. A user's value wins."""
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _malloc_arenas(2)


def _malloc_arenas(n: int) -> None:
    """At most `n` glibc malloc arenas (unless MALLOC_ARENA_MAX says otherwise). The ingest's
    threads (scan, its helper per chunk, writer) each got an arena of their own, and memory
    freed in one stayed held there: a 1 GB request-heavy ingest peaked at 397-407 MB RSS, with
    two arenas at 371-378 MB, in the same time (bench/README.md). Elsewhere (musl, macOS): nothing."""
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux") or "MALLOC_ARENA_MAX" in os.environ:
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-8, n)  # M_ARENA_MAX
    except (OSError, AttributeError):
        pass


# ---------------------------------------------------------------- ingest


def ingest(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
    db: str | os.PathLike = DEFAULT_DB,
    *,
    input_format: str | None = None,
    service: str | None = None,
    pod: str | None = None,
    host: str | None = None,
    namespace: str | None = None,
    container: str | None = None,
    tz: str = "UTC",
    encoding: str | None = None,
    store_lines: bool = False,
    threads: int | None = None,
    memory_limit: str | int | None = None,
    config: str | os.PathLike | None = None,
    wait: float = 10.0,
    progress: bool | None = False,
    engine: str = "local",
    out: str | os.PathLike | None = None,
    spark_master: str | None = None,
    split_size: str | int | None = None,
) -> IngestSummary:
    """Parse log files, directories, globs, .gz/.zst files (or "-" for stdin) into the database
    `db` (created when missing, upgraded when older). Safe to repeat: unchanged files are
    skipped, appended ones add their new lines, an interrupted run resumes.

    The keyword options are `pmortem ingest`'s (service/pod/host/namespace/container label
    sources that carry no metadata). Returns an IngestSummary: `.sources` (one SourceSummary
    each: path, action, format, lines, events, rejected, error), `.totals()`, `.seconds`.
    A damaged source (a truncated gzip, say) is kept as far as it reads and named in its
    `error`; it does not raise.

    engine="spark": parse on Apache Spark (pip install 'pmortem[spark]') into the Parquet dataset
    `out` instead of `db` (pmortem/spark; `report(data=out)` reads it); `spark_master` (default:
    spark-submit's, else local[*]), `split_size`: the byte range per task of a large plain file."""
    ingest_environment()
    if engine not in ("local", "spark"):
        raise UserError(f"unknown engine {engine!r}; choose local or spark")
    if engine == "spark" and out is None:
        raise UserError("--engine spark writes a Parquet dataset: pass --out DIR")
    if engine == "local" and (out is not None or spark_master is not None):
        raise UserError("--out and --spark-master go with --engine spark")
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    paths = [os.fspath(p) for p in paths]
    if not paths:
        raise UserError("no paths given; pass files, directories, globs or - for stdin")
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise UserError(f"threads {threads!r} must be a whole number of at least 1")
    if wait < 0:
        raise UserError(f"wait {wait!r} must be zero or more seconds")
    mem = parse_size(memory_limit, "memory limit") if memory_limit is not None else None
    if threads:
        # polars reads this once, when it is first imported
        os.environ.setdefault("POLARS_MAX_THREADS", str(threads))
    from .ingest import IngestOptions
    from .ingest import ingest as run

    opts = IngestOptions(
        input_format=input_format,
        labels={"service": service, "pod": pod, "host": host, "namespace": namespace, "container": container},
        tz=tz,
        encoding=encoding,
        store_lines=store_lines,
        wait=wait,
        threads=threads,
        memory_limit=mem,
        config_path=os.fspath(config) if config is not None else None,
    )
    if engine == "spark":
        from .spark import ingest as run_spark

        split = None
        if split_size is not None:
            m = _SIZE_RE.fullmatch(str(split_size)) if not isinstance(split_size, int) else None
            split = (
                split_size
                if isinstance(split_size, int)
                else (int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]) if m else None)
            )
            if not split or split < 1:
                raise UserError(f"split size {split_size!r} is not a size; use bytes or e.g. 64MiB, 1GB")
        return run_spark(
            paths, os.fspath(out), opts, master=spark_master, split_bytes=split, progress=progress
        )
    return run(paths, os.fspath(db), opts, progress=progress)


# ---------------------------------------------------------------- report


class Report:
    """A postmortem: `data` is the dict `pmortem report --format json` writes."""

    def __init__(self, data: dict, redactor: Any):
        self.data = data
        self._redactor = redactor

    @property
    def incident(self) -> bool:
        return bool(self.data.get("incident"))

    @property
    def findings(self) -> list[dict]:
        return self.data.get("findings", [])

    @property
    def window(self) -> dict:
        return self.data.get("window", {})

    def to_markdown(self, sql: str = "appendix", **kw) -> str:
        """`sql`: inline, appendix (each query once, at the end), sidecar (with `sql_file=`, the
        name of the file `to_sql()` goes to) or none; `skeleton=True` adds the human sections."""
        from .analyzer.render import render_markdown

        return render_markdown(self.data, self._redactor, sql=sql, **kw)

    def to_sql(self, report_name: str | None = None) -> str:
        """The SQL file beside the report (`--sql sidecar`): each cited query once."""
        from .analyzer.render import render_sql_sidecar

        return render_sql_sidecar(self.data, self._redactor, report_name)

    def to_html(self, sql: str = "appendix", **kw) -> str:
        """One self-contained HTML page (no network), rendered from the Markdown report."""
        from .analyzer.render import render_html

        return render_html(self.data, self._redactor, sql=sql, **kw)

    def to_json(self) -> str:
        from .analyzer.render import render_json
        from .safe_text import visible_obj

        return render_json(visible_obj(self.data))  # decoded values carry no raw control characters

    def __repr__(self) -> str:
        w = self.window or {}
        return (
            f"<pmortem.Report {'incident' if self.incident else 'no incident'}, {len(self.findings)} findings, "
            f"{w.get('start')} .. {w.get('end')}>"
        )


def peers_from_config(config_path: str | None) -> dict:
    """[peers] of the config file: address (host or host:port) -> service name."""
    from .parsers.catalogue import CatalogueError, load_config

    try:
        cfg, path = load_config(config_path)
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    peers = cfg.get("peers", {})
    if not isinstance(peers, dict):
        raise UserError(f'{path}: [peers] must be a table of address = "service" entries')
    return peers


_SERVICE_MATCH = "(starts_with(pod, $service || '-') OR service IN ($service, $service || '-service'))"


def _fmt_ts(t) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if t is not None else "?"


def check_data(
    con: duckdb.DuckDBPyConnection,
    db: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    service: str | None,
) -> None:
    """Refuse, before any analysis, a database with no events, a --service that matches no
    event (naming the services there are) and a window that holds no events (naming the span
    the database holds). The service matches as the detectors match it: a pod name prefix
    (`checkout` -> checkout-7c9d-x2k9p) or the service name (or NAME-service)."""
    # data is every line read: events, the requests counted in the rollup (parsers/requests.py),
    # and the per-minute line index, which holds the lines no rule made an event of (a log of
    # plain lines, or of request lines alone, is data); each row with the span it covers
    # (information_schema: tables and views; `report --data`'s tables are views over Parquet).
    # Each table is asked on its own: a bare count(*) / min / max is answered from the tables'
    # statistics, and a look for one matching row stops at the first (row-group min/max of `ts`
    # skip the rest); a UNION ALL of the three would read every row of each before the report.
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    spans = [("events", "ts", "ts")]
    if "requests" in tables:
        spans.append(("requests", "first_ts", "last_ts"))
    if "line_index" in tables:
        spans.append(("line_index", "minute", "minute + INTERVAL 59999999 MICROSECOND"))

    def any_row(where: str, params: dict) -> bool:
        return any(
            con.execute(f"SELECT 1 FROM {t} WHERE {where.format(lo=lo, hi=hi)} LIMIT 1", params).fetchone()
            for t, lo, hi in spans
        )

    if not any(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t, _, _ in spans):
        raise NoData(
            f"database {db} holds no events; `pmortem sources --db {db}` shows what was read and rejected"
        )
    if service is not None and not any_row(_SERVICE_MATCH, {"service": service}):
        names = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT service FROM events WHERE service IS NOT NULL ORDER BY 1"
            ).fetchall()
        ]
        shown = ", ".join(names[:20]) + (f" (and {len(names) - 20} more)" if len(names) > 20 else "")
        raise UnknownService(
            f"no events of service {service!r} in {db}; services there: {shown or '(none named)'}"
        )
    if since is None and until is None:
        return
    where = [
        "{hi} >= $since" if since else None,
        "{lo} <= $until" if until else None,
        _SERVICE_MATCH if service is not None else None,
    ]
    params = {k: v for k, v in (("since", since), ("until", until), ("service", service)) if v is not None}
    if not any_row(" AND ".join(w for w in where if w), params):
        first = last = None
        for t, lo, hi in spans:
            a, b = con.execute(f"SELECT min({lo}), max({hi}) FROM {t}").fetchone()
            first = a if first is None or (a is not None and a < first) else first
            last = b if last is None or (b is not None and b > last) else last
        what = f" of service {service!r}" if service is not None else ""
        raise NoData(
            f"no events{what} between {_fmt_ts(since) if since else 'the start'} and {_fmt_ts(until) if until else 'the end'}; "
            f"the database holds {_fmt_ts(first)} .. {_fmt_ts(last)}"
        )


# the report's DuckDB memory limit unless told: 512MB bounds the buffer pool below the 1 GB goal at
# any archive size, and at 100M lines costs no time against 1GB (bench/README.md, report vs events)
REPORT_MEMORY_LIMIT = "512MB"


def report(
    db: str | os.PathLike = DEFAULT_DB,
    since: str | dt.datetime | None = None,
    until: str | dt.datetime | None = None,
    service: str | None = None,
    *,
    last: str | dt.timedelta | None = None,
    tolerance: float = 2.0,
    config: str | os.PathLike | None = None,
    wait: float = 10.0,
    command: str | None = None,
    memory_limit: str | int | None = None,
    threads: int | None = None,
    progress: bool | None = False,
    data: str | os.PathLike | None = None,
) -> Report:
    """The postmortem of the database `db`, opened read-only (the file is never written).

    since/until: the window (ISO 8601 text or datetime, UTC when no zone); by default found
    from the data. `last` ("1h", "30m" or a timedelta): only the most recent span of log time.
    service: one service (pod name prefix or service name). tolerance: seconds within which
    two events count as one. config: pmortem.toml with [[redact]] and [peers].
    memory_limit ("512MB", "1GB", bytes): DuckDB's memory limit (default REPORT_MEMORY_LIMIT), threads: its
    threads (default all cores); progress: the stage line on stderr (None: when it is a terminal).
    Raises NoData for an empty database or window, UnknownService for a service with no
    events, DatabaseMissing / NotAPmortemDatabase / SchemaTooOld for a file it cannot read."""
    from .analyzer.redact import load_redactor
    from .analyzer.report import Analysis, Options, build_report
    from .db import open_existing
    from .progress import Stages

    db = os.fspath(db)
    t0, t1 = parse_time(since, "since"), parse_time(until, "until")
    if t0 and t1 and t0 >= t1:
        raise UserError("since must be before until")
    span = parse_duration(last, "last") if last is not None else None
    if tolerance < 0:
        raise UserError(f"tolerance {tolerance!r} must be zero or more seconds")
    cfg = os.fspath(config) if config is not None else None
    redact = load_redactor(cfg)
    peers = peers_from_config(cfg)
    if command is None:
        args = [repr(db)] + [
            f"{k}={v!r}"
            for k, v in (("since", since), ("until", until), ("service", service), ("last", last))
            if v is not None
        ]
        command = f"pmortem.report({', '.join(args)})"
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise UserError(f"threads {threads!r} must be a whole number of at least 1")
    mem = parse_size(memory_limit, "memory limit") if memory_limit is not None else REPORT_MEMORY_LIMIT
    if data is not None:
        # a Parquet dataset (`ingest --engine spark --out DIR`): DuckDB views over its files
        from .db import open_data

        db = os.fspath(data)
        con = open_data(db)
    else:
        con = open_existing(db, wait=wait, read_only=True)
    stages = Stages(Analysis.stages(), enabled=progress)
    try:
        con.execute("SET memory_limit = ?", [mem])
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        check_data(con, db, t0, t1, service)
        if span is not None:
            (latest,) = con.execute(
                "SELECT max(ts) FROM events WHERE ts <= coalesce($u, ts)", {"u": t1}
            ).fetchone()
            if latest is not None:
                t1 = t1 or latest
                t0 = t0 or (t1 - span)
        opts = Options(
            since=t0, until=t1, service=service, tolerance_s=float(tolerance), peers=peers, command=command
        )
        data = build_report(con, opts, redact, stages)
    finally:
        stages.close()
        con.close()
    return Report(data, redact)
