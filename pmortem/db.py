"""The embedded DuckDB file: connection with lock wait, and numbered migrations.

Migrations are appended, never edited: a database made by an older pmortem is
upgraded in place by a writing command (ingest, migrate, `sql --write`); the read-only
analysis commands refuse it with the command that upgrades it. One made by a newer
pmortem, or a DuckDB file pmortem did not make, is refused and never written.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable

import duckdb

from .errors import (
    DatabaseLocked,
    DatabaseMissing,
    NotAPmortemDatabase,
    PmortemError,
    SchemaTooNew,
    SchemaTooOld,
    UserError,
)

DEFAULT_DB = "pmortem.duckdb"


def _m1_initial(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        CREATE TABLE sources (
            source_id      INTEGER PRIMARY KEY,
            path           TEXT,      -- as given on the command line
            abspath        TEXT,      -- resolved absolute path ('-' for stdin)
            compression    TEXT,      -- gzip | zstd | NULL
            size           BIGINT,    -- bytes on disk when last ingested
            head_len       INTEGER,   -- bytes hashed for head_hash
            head_hash      TEXT,      -- fingerprint of the first head_len bytes on disk
            tail_hash      TEXT,      -- fingerprint of the 4 KiB before `size`
            fingerprint    TEXT,      -- head_hash:size, shown to users
            bytes_done     BIGINT,    -- decompressed bytes fully ingested (resume point)
            lines_done     BIGINT,    -- lines fully ingested (resume point)
            format         TEXT,      -- envelope (cri, kubectl_prefix, docker, loki, ...) or document kind
            service        TEXT,
            namespace      TEXT,
            pod            TEXT,
            container      TEXT,
            host           TEXT,
            entity_source  TEXT,      -- JSON: which source (path | flag | config) set each entity
            lines          BIGINT,
            lines_parsed   BIGINT,
            lines_rejected BIGINT,
            lines_folded   BIGINT,    -- continuation lines folded into the event above them
            lines_generic  BIGINT,    -- parsed lines no catalogue rule classified (indexed, not copied)
            events         BIGINT,
            first_ts       TIMESTAMPTZ,
            last_ts        TIMESTAMPTZ,
            status         TEXT,      -- ingesting | complete | damaged
            error          TEXT,      -- what went wrong (truncated gzip, ...), if anything
            ingested_at    TIMESTAMPTZ
        );
        CREATE TABLE events (
            source_id     INTEGER,
            ts            TIMESTAMPTZ,
            ts_text       TEXT,
            line_no       BIGINT,
            byte_offset   BIGINT,
            line_count    INTEGER,
            service       TEXT,
            namespace     TEXT,
            pod           TEXT,
            container     TEXT,
            host          TEXT,
            pid           BIGINT,
            stream        TEXT,
            level         TEXT,
            kind          TEXT,
            message       TEXT,
            attrs         JSON,
            trace_id      TEXT,
            span_id       TEXT,
            cpu_count     INTEGER,
            exit_code     INTEGER,
            signal        TEXT,
            error_class   TEXT,
            status        INTEGER,
            duration_ms   DOUBLE,
            route         TEXT,
            peer          TEXT,
            entity_source JSON
        );
        CREATE TABLE rejects (
            source_id   INTEGER,
            line_no     BIGINT,
            byte_offset BIGINT,
            reason      TEXT,
            sample      TEXT
        );
        CREATE TABLE line_index (
            source_id    INTEGER,
            minute       TIMESTAMPTZ,
            service      TEXT,
            pod          TEXT,
            container    TEXT,
            level        TEXT,
            lines        BIGINT,
            first_line   BIGINT,
            last_line    BIGINT,
            first_offset BIGINT,
            end_offset   BIGINT
        );
        CREATE TABLE lines (
            source_id   INTEGER,
            line_no     BIGINT,
            byte_offset BIGINT,
            ts          TIMESTAMPTZ,
            service     TEXT,
            pod         TEXT,
            container   TEXT,
            level       TEXT,
            line        TEXT
        );
        """
    )


def _m2_cross_export_dedup(con: duckdb.DuckDBPyConnection) -> None:
    # The same line exported twice (kubectl logs and /var/log/pods, or Loki) must count once:
    # events carry a key of (pod, container, ts, message) and sources count what they shared.
    con.execute(
        """
        ALTER TABLE events ADD COLUMN dedup_key UBIGINT;
        UPDATE events SET dedup_key = hash(coalesce(pod, ''), coalesce(container, ''), ts, message);
        ALTER TABLE sources ADD COLUMN lines_duplicate BIGINT DEFAULT 0;
        UPDATE sources SET lines_duplicate = 0;
        """
    )


def _m3_content_fingerprint(con: duckdb.DuckDBPyConnection) -> None:
    # A rotated log is often compressed on the way (app.log -> app.log.1.gz): its bytes on disk
    # change, its content does not. Fingerprint the decompressed head and size as well.
    con.execute(
        """
        ALTER TABLE sources ADD COLUMN content_head TEXT;   -- hash of the first 4 KiB of the decompressed content
        ALTER TABLE sources ADD COLUMN content_size BIGINT; -- decompressed size when the format records it
        """
    )


def _m4_encoding(con: duckdb.DuckDBPyConnection) -> None:
    # `ingest --encoding latin-1`: re-reading a window (template surge) must decode the same way
    con.execute("ALTER TABLE sources ADD COLUMN encoding TEXT")


def _m5_open_tail(con: duckdb.DuckDBPyConnection) -> None:
    # A file's last event may go on when the file grows (more stack frames, or the rest of
    # an unterminated last line): it is stored as a chunk of its own, and what it added is
    # recorded here, so an append can take it back and read it again whole.
    con.execute("ALTER TABLE sources ADD COLUMN tail JSON")


def _m6_scan_state(con: duckdb.DuckDBPyConnection) -> None:
    # `pmortem scan` remembers what it reported (a finding is told once, again only when its
    # severity rises), what a user acknowledged (`pmortem ack`), and a rolled-up baseline of
    # CPU counts seen at pod start that outlives `pmortem prune` (the host-shape rule reads it).
    con.execute(
        """
        CREATE TABLE scan_findings (
            id                TEXT PRIMARY KEY,  -- the finding's stable id (rule, service, pod, start)
            rule              TEXT,
            severity          TEXT,              -- as last seen: info | warning | incident
            entity            JSON,
            first_seen        TIMESTAMPTZ,       -- log time the finding starts
            last_seen         TIMESTAMPTZ,       -- log time it was last seen (its end)
            reported_at       TIMESTAMPTZ,       -- wall clock of the scan that last reported it
            reported_severity TEXT,              -- the severity it was last reported (or acknowledged) at
            status            TEXT,              -- open | acknowledged | resolved
            ack_until         TIMESTAMPTZ,       -- an acknowledgement ends then (NULL: for good)
            ack_reason        TEXT,
            summary           TEXT,              -- one line
            scanned_at        TIMESTAMPTZ        -- wall clock of the last scan that saw it
        );
        CREATE TABLE cpu_count_history (
            service    TEXT,
            cpu_count  INTEGER,
            starts     BIGINT,                   -- pod starts that saw this CPU count (pruned events)
            first_seen TIMESTAMPTZ,
            last_seen  TIMESTAMPTZ
        );
        CREATE TABLE scan_cache (                -- the last scan's analysis, reused while nothing changed
            key        TEXT,                     -- hash of the sources' fingerprints and offsets, events, window, config
            "window"   JSON,
            findings   JSON,
            created_at TIMESTAMPTZ
        );
        """
    )


def _m7_requests(con: duckdb.DuckDBPyConnection) -> None:
    # Requests as rollups, not rows (parsers/requests.py): every request line counted per
    # (source, service, pod, pid, second, method, route template, status, upstream) with its
    # latency sum, max and fixed buckets; only failed, aborted and slow requests stay events.
    # first_line/last_line: the lines the row counts (an append takes back the open tail's).
    # the bucket columns spelled out (parsers.requests.BUCKET_COLUMNS today): a migration is
    # frozen, a later change of the buckets is a migration of its own
    bounds = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
    buckets = ",\n            ".join([f"le_{b}ms BIGINT" for b in bounds] + ["gt_10000ms BIGINT"])
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS requests (
            source_id      INTEGER,
            service        TEXT,
            pod            TEXT,
            pid            BIGINT,
            second         TIMESTAMPTZ,
            method         TEXT,
            route          TEXT,     -- template: ids in the path as :id, no query
            status         INTEGER,  -- NULL: aborted (no response)
            upstream       TEXT,
            requests       BIGINT,
            latency_n      BIGINT,   -- requests with a latency
            latency_sum_ms DOUBLE,
            latency_max_ms DOUBLE,
            {buckets},
            latencies_ms   DOUBLE[],     -- every request's latency (exact quantiles over any rows)
            first_ts       TIMESTAMPTZ,  -- the first and last request's exact time
            last_ts        TIMESTAMPTZ,
            first_line     BIGINT,
            last_line      BIGINT
        )
        """
    )
    # A database of an older pmortem kept every request as an `http_request` event: its
    # requests are rolled up here once (the detectors count requests in this table), the
    # events stay. Route templates as parsers/requests.py makes them (two passes, frozen here).
    h = "[0-9a-fA-F]"
    hex_id = "|".join(f"{h}{{{a}}}\\d{h}{{{max(5 - a, 0)},}}" for a in range(6)) + f"|{h}{{6,}}\\d{h}*"
    seg = f"/(?:\\d+|{h}{{8}}-{h}{{4}}-{h}{{4}}-{h}{{4}}-{h}{{12}}|{hex_id})(/|$)"
    path = "split_part(route, '?', 1)"
    tmpl = f"regexp_replace(regexp_replace({path}, '{seg}', '/:id\\1', 'g'), '{seg}', '/:id\\1', 'g')"
    bucket = " + ".join(f"CASE WHEN duration_ms > {b} THEN 1 ELSE 0 END" for b in bounds)
    sums = ", ".join(f"count(*) FILTER (WHERE b = {i})" for i in range(len(bounds) + 1))
    con.execute(
        f"""
        INSERT INTO requests
        SELECT source_id, service, pod, pid, second, method, route, status, upstream, count(*), count(duration_ms),
               sum(duration_ms), max(duration_ms), {sums},
               list(duration_ms) FILTER (WHERE duration_ms IS NOT NULL), min(ts), max(ts), min(line_no), max(line_no)
        FROM (
            SELECT source_id, service, pod, pid, date_trunc('second', ts) AS second,
                   regexp_extract(CAST(attrs AS VARCHAR), '"method":"([A-Z]+)"', 1) AS method0,
                   nullif(method0, '') AS method, {tmpl} AS route, status,
                   coalesce(attrs->>'upstream_addr', attrs->>'upstream') AS upstream, duration_ms,
                   CASE WHEN duration_ms IS NOT NULL THEN {bucket} END AS b, ts, line_no
            FROM events WHERE kind = 'http_request'
        )
        WHERE NOT EXISTS (SELECT 1 FROM requests)
        GROUP BY source_id, service, pod, pid, second, method, route, status, upstream
        """
    )


MIGRATIONS: list[tuple[str, Callable[[duckdb.DuckDBPyConnection], None]]] = [
    ("initial schema: sources, events, rejects, line_index, lines", _m1_initial),
    ("cross-export deduplication: events.dedup_key, sources.lines_duplicate", _m2_cross_export_dedup),
    ("content fingerprint: sources.content_head, sources.content_size", _m3_content_fingerprint),
    ("input encoding: sources.encoding", _m4_encoding),
    ("open tail of a file: sources.tail", _m5_open_tail),
    ("scan memory: scan_findings, scan_cache; rolled-up baseline: cpu_count_history", _m6_scan_state),
    ("requests as rollups: the requests table", _m7_requests),
]
SCHEMA_VERSION = len(MIGRATIONS)


def _holder(msg: str) -> str:
    m = re.search(r"PID (\d+)", msg)
    if not m:
        return "another process"
    pid = int(m.group(1))
    try:
        import psutil

        p = psutil.Process(pid)
        cmd = " ".join(p.cmdline()[:4]) or p.name()
        return f"process {pid} ({cmd})"
    except Exception:  # noqa: BLE001 - the process may be gone or hidden; the pid still helps
        return f"process {pid}"


# Rows per row group in the files pmortem writes (DuckDB's default: 122,880). A transaction's
# full row groups go straight into compressed blocks; what is left over goes through the WAL
# and is compressed again at the next checkpoint. An ingest commits 10-30k events at a time,
# so with the default nearly every row took the second road; with 8,192 most take the first.
# A 1 GB corpus: DuckDB's share of the ingest 0.55 -> 0.45 s, the whole ingest about 0.15 s
# faster, the file 19 -> 20 MB (bench/README.md).
ROW_GROUP_SIZE = 8192

# DuckDB's memory limit while ingesting (`--memory-limit` overrides). The ingest only appends
# chunk-sized batches, so what DuckDB holds beyond them is cache: the blocks it has written
# (kept until evicted, growing with the database: 70 MB of a 1 GB request-heavy ingest's
# 116 MB at 512MB, 107 MB of 128MB at 4.4 GB) and the rows appended since the last
# checkpoint. 64MB bounds it: that ingest's peak RSS 510 (512MB) -> 457 (128MB) -> 398 MB,
# within the noise in CPU; a second source's duplicate check against the first's events
# neither fails nor slows (bench/README.md, issue 18 step 3). --store-lines appends every
# line: 256MB (its peak under 1 GB for a 1 GB input).
INGEST_MEMORY_LIMIT = "64MB"
INGEST_MEMORY_LIMIT_STORE_LINES = "256MB"


def _open_writable(path: str) -> duckdb.DuckDBPyConnection:
    """The file attached with pmortem's row group size (an ATTACH option only) and made the
    default database; the same file lock as duckdb.connect(path)."""
    quoted = path.replace("'", "''")
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{quoted}' AS pmortem (ROW_GROUP_SIZE {ROW_GROUP_SIZE})")
        con.execute("USE pmortem")
    except BaseException:
        con.close()
        raise
    return con


def _open_error(path: str, msg: str) -> PmortemError:
    if "not a valid DuckDB database" in msg or "not a valid duckdb" in msg.lower():
        return NotAPmortemDatabase(
            f"{path} is not a pmortem database (not a DuckDB file); pass the --db that `pmortem ingest` wrote"
        )
    return UserError(f"cannot open database {path}: {msg.splitlines()[0]}")


def connect(
    path: str, *, wait: float = 10.0, read_only: bool = False, migrate: bool = True
) -> duckdb.DuckDBPyConnection:
    """Open the database, waiting up to `wait` seconds for another pmortem to let go.

    Writable (ingest, migrate, `sql --write`): a new file gets the schema, an older pmortem's
    is upgraded in place. Read-only (report, scan's analysis, sources, sql): nothing is
    written, so an older schema is refused with the command that upgrades it."""
    if read_only and not os.path.exists(path):
        raise DatabaseMissing(
            f"no database at {path}; run `pmortem ingest PATH... --db {path}` first, or pass --db"
        )
    deadline = time.monotonic() + max(wait, 0)
    delay = 0.1
    while True:
        try:
            con = duckdb.connect(path, read_only=True) if read_only else _open_writable(path)
            break
        except duckdb.IOException as exc:
            msg = str(exc)
            if "lock" not in msg.lower():
                raise _open_error(path, msg) from None
            if time.monotonic() >= deadline:
                raise DatabaseLocked(
                    f"database {path} is in use by {_holder(msg)}; waited {wait:g}s. "
                    "Let it finish, or pass --wait SECONDS to wait longer."
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        except duckdb.Error as exc:
            raise _open_error(path, str(exc)) from None
    try:
        if migrate and not read_only:
            migrate_db(con, path)
        else:
            v = check_version(con, path)
            if read_only and v == 0:
                raise NotAPmortemDatabase(
                    f"{path} is an empty DuckDB database, not pmortem's; run `pmortem ingest PATH... --db {path}` first"
                )
            if read_only and v < SCHEMA_VERSION:
                raise SchemaTooOld(
                    f"database {path} has schema version {v}, older than this pmortem's ({SCHEMA_VERSION}); "
                    f"run `pmortem migrate --db {path}` (or any `pmortem ingest --db {path} ...`) to upgrade it"
                )
    except BaseException:
        con.close()
        raise
    return con


def _user_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    return {r[0] for r in rows}


def _current_version(con: duckdb.DuckDBPyConnection) -> int:
    if "schema_migrations" not in _user_tables(con):
        return 0
    return con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]


def check_version(con: duckdb.DuckDBPyConnection, path: str) -> int:
    """The schema version; refuses a database of a newer pmortem, and a DuckDB file with
    tables of its own but no pmortem schema (someone else's database: never written to)."""
    tables = _user_tables(con)
    if "schema_migrations" not in tables:
        if tables or not _is_new(con):
            raise NotAPmortemDatabase(
                f"{path} is a DuckDB database but not pmortem's (no schema_migrations, sources or events table); "
                "pass the --db that `pmortem ingest` wrote, or a new file name"
            )
        return 0
    v = con.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()[0]
    if v > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database {path} has schema version {v}, newer than this pmortem knows ({SCHEMA_VERSION}); "
            "upgrade pmortem (pip install -U pmortem) or use another --db"
        )
    if v >= 1 and not {"sources", "events"} <= tables:
        raise NotAPmortemDatabase(
            f"{path} has a schema_migrations table but no sources/events tables; it is not pmortem's"
        )
    return v


def _is_new(con: duckdb.DuckDBPyConnection) -> bool:
    """No tables, views or sequences at all: a file DuckDB just created (or an empty one)."""
    n = con.execute(
        "SELECT (SELECT count(*) FROM duckdb_views() WHERE database_name = current_database() AND NOT internal)"
        " + (SELECT count(*) FROM duckdb_sequences() WHERE database_name = current_database())"
    ).fetchone()[0]
    return n == 0


def migrate_db(con: duckdb.DuckDBPyConnection, path: str) -> None:
    v = check_version(con, path)
    if v == SCHEMA_VERSION:
        return
    con.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TIMESTAMPTZ)"
    )
    for i in range(v, SCHEMA_VERSION):
        name, fn = MIGRATIONS[i]
        con.execute("BEGIN TRANSACTION")
        try:
            fn(con)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [i + 1, name])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise


def open_existing(path: str, *, wait: float = 10.0, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """An existing database: read-only for the analysis commands (checked, never written),
    writable (and upgraded) otherwise."""
    if not os.path.exists(path):
        raise DatabaseMissing(
            f"no database at {path}; run `pmortem ingest PATH... --db {path}` first, or pass --db"
        )
    return connect(path, wait=wait, read_only=read_only)


def open_data(path: str) -> duckdb.DuckDBPyConnection:
    """A Parquet dataset written by `pmortem ingest --engine spark --out DIR`: an in-memory
    connection whose tables are views over its files (pmortem/spark/dataset.py)."""
    from .spark.dataset import open_dataset

    return open_dataset(path)
