"""Ingest: sources -> parsed chunks -> DuckDB, incremental and crash-safe.

Each chunk is committed in one transaction together with the source's resume
point (bytes_done, lines_done) and counters, so a run killed at any moment
leaves a database whose counts match exactly what it holds, and the next run
continues from the resume point.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl

from .db import connect
from .errors import UserError
from .parsers import native
from .parsers.catalogue import Catalogue, CatalogueError, classify_frame, load_catalogue, load_config
from .parsers.documents import detect_document, document_events
from .parsers.envelopes import ENVELOPES, detect_envelope
from .parsers.payloads import level_expr
from .parsers.pipeline import (
    INDEX_SCHEMA,
    K8S_SUFFIX,
    REJECT_SCHEMA,
    ChunkResult,
    SourceContext,
    json_fields,
    parse_chunk,
)
from .parsers.readers import (
    CHUNK_BYTES,
    NATIVE_CHUNK_BYTES,
    Chunk,
    InputError,
    PlainReader,
    ReadState,
    can_pread,
    compression_of,
    expand_paths,
    head_bytes,
    iter_chunks,
)
from .parsers.schema import EVENT_COLUMNS, conform

DOCUMENT_FORMATS = ("document", "document_lines")
INPUT_FORMATS = (*ENVELOPES, *DOCUMENT_FORMATS)
HEAD_LEN = 4096
MAX_DOCUMENT_BYTES = 1 << 30

GENERIC_STEMS = {"app", "application", "server", "service", "output", "out", "log", "logs", "messages", "syslog", "stdout", "stderr", "main", "current", "debug", "error", "access", "combined", "all"}
POD_NAME_RE = re.compile(rf"^[a-z0-9][a-z0-9-]*-(?:{K8S_SUFFIX}{{6,10}}-{K8S_SUFFIX}{{5}}|{K8S_SUFFIX}{{5}}|\d+)$")


@dataclass
class IngestOptions:
    input_format: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # from --service/--pod/--host...
    tz: str = "UTC"
    store_lines: bool = False
    wait: float = 10.0
    threads: int | None = None
    memory_limit: str | None = None
    config_path: str | None = None
    encoding: str | None = None  # input encoding when not UTF-8 (latin-1, cp1252, ...)
    # chunk size in decompressed bytes; PMORTEM_CHUNK_BYTES overrides (tests use small chunks)
    chunk_bytes: int | None = field(default_factory=lambda: int(os.environ["PMORTEM_CHUNK_BYTES"]) if os.environ.get("PMORTEM_CHUNK_BYTES") else None)

    def chunk_for(self, native_path: bool) -> int:
        """Larger chunks on the native path (fixed per-chunk costs dominate there; little is
        held per line), the polars path's per-line frames cost memory in proportion."""
        return self.chunk_bytes or (NATIVE_CHUNK_BYTES if native_path else CHUNK_BYTES)


@dataclass
class SourceSummary:
    path: str
    source_id: int | None
    action: str  # ingested | appended | resumed | unchanged | renamed
    format: str | None = None
    lines: int = 0
    events: int = 0
    rejected: int = 0
    undecodable: int = 0  # rejected as not UTF-8 (a hint that --encoding is needed)
    error: str | None = None


@dataclass
class IngestSummary:
    sources: list[SourceSummary] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # non-log files met in directories
    seconds: float = 0.0
    bytes: int = 0

    def totals(self) -> dict[str, int]:
        t = {"sources": len(self.sources), "lines": 0, "events": 0, "rejected": 0, "unchanged": 0}
        for s in self.sources:
            t["lines"] += s.lines
            t["events"] += s.events
            t["rejected"] += s.rejected
            t["unchanged"] += s.action in ("unchanged", "renamed", "same-as")
        return t


# ---------------------------------------------------------------- entities from paths
def path_labels(path: str) -> dict[str, tuple[str, str]]:
    """Kubernetes metadata a file's path carries."""
    if path == "-":
        return {}
    p = Path(path)
    parts = p.parts
    out: dict[str, tuple[str, str]] = {}
    # /var/log/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
    if len(parts) >= 3 and re.fullmatch(r"\d+\.log(?:\.[\w.-]+)?", parts[-1]):
        m = re.fullmatch(r"([a-z0-9-]+)_([a-z0-9.-]+)_([0-9a-f-]{8,})", parts[-3])
        if m:
            out["namespace"] = (m.group(1), "path")
            out["pod"] = (m.group(2), "path")
            out["container"] = (parts[-2], "path")
            return out
    # /var/log/containers/<pod>_<namespace>_<container>-<64 hex>.log
    m = re.fullmatch(r"([a-z0-9.-]+)_([a-z0-9-]+)_(.+)-[0-9a-f]{64}\.log", parts[-1])
    if m:
        return {"pod": (m.group(1), "path"), "namespace": (m.group(2), "path"), "container": (m.group(3), "path")}
    # docker json-file: the sibling config.v2.json names the container and its pod
    if parts[-1].endswith("-json.log"):
        cfg = p.parent / "config.v2.json"
        if cfg.exists():
            try:
                c = json.loads(cfg.read_text())
                lab = (c.get("Config") or {}).get("Labels") or {}
                for f, k in (("pod", "io.kubernetes.pod.name"), ("namespace", "io.kubernetes.pod.namespace"), ("container", "io.kubernetes.container.name")):
                    if lab.get(k):
                        out[f] = (lab[k], "path")
                if "container" not in out and c.get("Name"):
                    out["container"] = (c["Name"].lstrip("/"), "path")
            except (OSError, ValueError):
                pass
        return out
    # <pod>.log, <pod>.previous.log, <pod>_<container>.log as saved from kubectl logs
    name = parts[-1]
    for suf in (".gz", ".zst"):
        name = name.removesuffix(suf)
    m = re.fullmatch(r"(.+?)(?:\.previous|\.prev)?\.(?:log|txt|out)", name)
    if m:
        stem = m.group(1)
        if "_" in stem:
            pod, container = stem.split("_", 1)
            if POD_NAME_RE.match(pod):
                return {"pod": (pod, "path"), "container": (container, "path")}
        if POD_NAME_RE.match(stem):
            out["pod"] = (stem, "path")
        elif re.fullmatch(r"[a-z][a-z0-9-]*[a-z0-9]", stem) and stem not in GENERIC_STEMS:
            # translation-service.log: a file named after its service
            out["service"] = (stem, "path")
    return out


# ---------------------------------------------------------------- fingerprints
def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=12).hexdigest()


def fingerprint(path: str, size: int, head_len: int = HEAD_LEN) -> tuple[str, str, int]:
    with open(path, "rb") as fh:
        head = fh.read(min(head_len, size))
        fh.seek(max(0, size - 4096))
        tail = fh.read(min(4096, size))
    return _hash(head), _hash(tail), len(head)


def content_fingerprint(path: str, comp: str | None, size: int) -> tuple[str | None, int | None]:
    """Hash of the first HEAD_LEN decompressed bytes, and the decompressed size when the
    container records it (gzip's ISIZE trailer, zstd's frame header); None when unknown."""
    head = head_bytes(path, HEAD_LEN)
    if len(head) < HEAD_LEN:
        return None, None
    if comp is None:
        return _hash(head), size
    with open(path, "rb") as fh:
        if comp == "gzip":
            if size < 18:
                return _hash(head), None
            fh.seek(size - 4)
            return _hash(head), int.from_bytes(fh.read(4), "little")  # mod 2**32, as gzip keeps it
        import zstandard

        n = zstandard.frame_content_size(fh.read(18))
        return _hash(head), (n if n >= 0 else None)


def _hash_range(path: str, start: int, length: int) -> str:
    with open(path, "rb") as fh:
        fh.seek(start)
        return _hash(fh.read(length))


# ---------------------------------------------------------------- format detection
def detect_format(path: str, encoding: str | None = None) -> str:
    head = head_bytes(path, 256 * 1024, encoding)
    text = head.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        first = stripped.split("\n", 1)[0].strip()
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            obj = None
        if obj is None and re.match(r'^[\[{]\s*(?:"|\{|\[|$)', first):
            return "document"  # pretty-printed JSON (kubectl get -o json, a saved _search, OTLP file)
        kind = detect_document(obj)
        if kind and kind not in ("es_source", "otel_span"):
            return "document_lines"
    lines = text.split("\n")
    if len(head) >= 256 * 1024:
        lines = lines[:-1]
    return detect_envelope(lines)


# ---------------------------------------------------------------- writing
class _Stream:
    """A frame for DuckDB through the Arrow PyCapsule interface. DuckDB reads a polars
    frame itself through `to_arrow()`, which needs pyarrow; this reads the same Arrow data
    without it (pyarrow and numpy's import is about 65 ms of every ingest's start)."""

    __slots__ = ("_df",)

    def __init__(self, df: pl.DataFrame):
        self._df = df

    def __arrow_c_stream__(self, requested_schema=None):
        return self._df.__arrow_c_stream__(requested_schema)


def _insert(con, table: str, df: pl.DataFrame, source_id: int) -> None:
    if df.height == 0:
        return
    df = df.with_columns(pl.lit(source_id, pl.Int32).alias("source_id"))
    cols = ", ".join(df.columns)
    con.register("_batch", _Stream(df))
    try:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _batch")
    finally:
        con.unregister("_batch")


def _insert_events(con, df: pl.DataFrame, source_id: int, dedup: bool = True) -> int:
    """Insert events, skipping ones another source already stored; returns lines they spanned.

    `dedup` False: no other source has events yet, so nothing can be a duplicate.
    """
    if df.height == 0:
        return 0
    df = df.with_columns(pl.lit(source_id, pl.Int32).alias("source_id"))
    cols = ", ".join(df.columns)
    con.register("_batch", _Stream(df))
    if not dedup:
        try:
            con.execute(
                f"INSERT INTO events ({cols}, dedup_key) SELECT {cols}, "
                "hash(coalesce(pod, ''), coalesce(container, ''), ts, message) FROM _batch"
            )
        finally:
            con.unregister("_batch")
        return 0
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _keyed AS SELECT *, hash(coalesce(pod, ''), coalesce(container, ''), ts, message) AS dedup_key FROM _batch"
        )
        dup_lines = con.execute(
            """SELECT coalesce(sum(k.line_count), 0) FROM _keyed k
               WHERE EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = k.dedup_key AND e.source_id <> k.source_id)"""
        ).fetchone()[0]
        con.execute(
            f"""INSERT INTO events ({cols}, dedup_key) SELECT {cols}, dedup_key FROM _keyed k
                WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.dedup_key = k.dedup_key AND e.source_id <> k.source_id)"""
        )
        con.execute("DROP TABLE _keyed")
    finally:
        con.unregister("_batch")
    return int(dup_lines)


TAIL_FIELDS = ("lines", "lines_parsed", "lines_rejected", "lines_folded", "lines_generic", "events", "lines_duplicate")


def _commit_chunk(con, source_id: int, res: ChunkResult, bytes_done: int, lines_done: int, dedup: bool = True,
                  *, tail_at: tuple[int, int] | None = None) -> None:
    """One chunk in one transaction, with the source's resume point.

    `tail_at` (byte offset, line number): this chunk is the file's open tail, its last event
    and whatever follows it; what it adds is recorded in sources.tail (see _reopen_tail)."""
    con.execute("BEGIN TRANSACTION")
    try:
        dup_lines = _insert_events(con, res.events, source_id, dedup)
        _insert(con, "rejects", res.rejects, source_id)
        _insert(con, "line_index", res.index, source_id)
        if res.lines is not None:
            _insert(con, "lines", res.lines, source_id)
        con.execute(
            """
            UPDATE sources SET
                bytes_done = ?, lines_done = ?,
                lines = lines + ?, lines_parsed = lines_parsed + ?, lines_rejected = lines_rejected + ?,
                lines_folded = lines_folded + ?, lines_generic = lines_generic + ?, events = events + ?,
                lines_duplicate = lines_duplicate + ?,
                first_ts = CASE WHEN first_ts IS NULL OR ?::TIMESTAMPTZ < first_ts THEN ?::TIMESTAMPTZ ELSE first_ts END,
                last_ts  = CASE WHEN last_ts  IS NULL OR ?::TIMESTAMPTZ > last_ts  THEN ?::TIMESTAMPTZ ELSE last_ts  END
            WHERE source_id = ?
            """,
            [
                bytes_done, lines_done,
                res.n_lines, res.n_lines - res.n_rejected, res.n_rejected,
                res.n_folded, res.n_generic, res.events.height, dup_lines,
                res.first_ts, res.first_ts, res.last_ts, res.last_ts,
                source_id,
            ],
        )
        if tail_at is not None:
            added = (res.n_lines, res.n_lines - res.n_rejected, res.n_rejected, res.n_folded, res.n_generic,
                     res.events.height, dup_lines)
            tail = {"offset": tail_at[0], "line": tail_at[1], **dict(zip(TAIL_FIELDS, added, strict=True))}
            con.execute("UPDATE sources SET tail = ? WHERE source_id = ?", [json.dumps(tail), source_id])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def _reopen_tail(con, source_id: int, tail: dict, store_lines: bool) -> None:
    """Take back what the file's open tail added (its own chunk: lines from tail["line"] on),
    so an append reads it again together with what follows it, as a clean ingest would."""
    line = int(tail["line"])
    con.execute("BEGIN TRANSACTION")
    try:
        for table, col in (("events", "line_no"), ("rejects", "line_no"), ("line_index", "first_line")):
            con.execute(f"DELETE FROM {table} WHERE source_id = ? AND {col} >= ?", [source_id, line])
        if store_lines:
            con.execute("DELETE FROM lines WHERE source_id = ? AND line_no >= ?", [source_id, line])
        sets = ", ".join(f"{f} = {f} - ?" for f in TAIL_FIELDS)
        con.execute(
            f"UPDATE sources SET {sets}, bytes_done = ?, lines_done = ?, tail = NULL WHERE source_id = ?",
            [*(int(tail[f]) for f in TAIL_FIELDS), int(tail["offset"]), line - 1, source_id],
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


# ---------------------------------------------------------------- one source
def _document_chunk(path: str, fmt: str, cat: Catalogue, ctx: SourceContext, state: ReadState,
                    encoding: str | None = None) -> ChunkResult:
    """Whole JSON documents (pretty-printed) or one document per line."""
    chunks = list(iter_chunks(path, state=state, encoding=encoding))
    data = b"".join(c.data for c in chunks)
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    rows: list[dict] = []
    rejects: list[tuple] = []
    if fmt == "document":
        if len(data) > MAX_DOCUMENT_BYTES:
            raise UserError(f"{path}: a single JSON document over {MAX_DOCUMENT_BYTES >> 20} MiB; export it as JSON lines")
        try:
            obj = orjson.loads(data)
            kind = detect_document(obj)
            if kind is None:
                raise ValueError("not a known document (pod list, events, OTLP, Jaeger, _search)")
            rows = document_events(obj, kind)
            for r in rows:
                r.setdefault("line_no", 1)
                r.setdefault("byte_offset", 0)
                r.setdefault("line_count", n_lines)
        except (orjson.JSONDecodeError, ValueError) as exc:
            reason = "bad JSON document" if isinstance(exc, orjson.JSONDecodeError) else "unknown JSON document"
            rejects = [(1, 0, f"{reason}: {str(exc)[:160]} (all {n_lines} lines)", data[:200].decode("utf-8", "replace"))]
    else:
        off = 0
        for i, raw in enumerate(data.split(b"\n"), start=1):
            if i > n_lines:
                break
            try:
                obj = orjson.loads(raw) if raw.strip() else None
                kind = detect_document(obj) if obj is not None else None
                if kind is None:
                    raise ValueError("not a known JSON document")
                got = document_events(obj, kind)
                for r in got:
                    r["line_no"], r["byte_offset"], r["line_count"] = i, off, 1
                rows.extend(got)
            except (orjson.JSONDecodeError, ValueError) as exc:
                reason = "bad JSON" if isinstance(exc, orjson.JSONDecodeError) else str(exc)
                rejects.append((i, off, reason, raw[:200].decode("utf-8", "replace")))
            off += len(raw) + 1
    for r in rows:
        if isinstance(r.get("attrs"), dict):
            r["attrs"] = orjson.dumps(r["attrs"], default=str).decode()
    events = conform(pl.DataFrame(rows, infer_schema_length=None, strict=False)) if rows else pl.DataFrame(schema=EVENT_COLUMNS)
    # Elasticsearch hits carry log messages: read JSON loggers' fields, then classify like any line
    if events.height and (events.get_column("kind") == "log").any():
        logs = events.filter(pl.col("kind") == "log").with_row_index("_i")
        msg = pl.col("message").fill_null("")
        logs = logs.with_columns(pl.coalesce("level", level_expr(msg, msg.str.starts_with("{"))).alias("level"))
        fields = [json_fields(m) if m and m.startswith("{") else {} for m in logs.get_column("message").to_list()]
        logs = logs.with_columns(
            pl.Series("message", [f.get("message", m) for f, m in zip(fields, logs.get_column("message").to_list(), strict=True)], pl.String),
            pl.coalesce("pod", pl.Series([f.get("payload_pod") for f in fields], dtype=pl.String)).alias("pod"),
            pl.coalesce("pid", pl.Series([f.get("payload_pid") for f in fields], dtype=pl.Int64)).alias("pid"),
        )
        c = classify_frame(logs, cat, "message")
        for f in ("cpu_count", "pid", "exit_code", "signal", "error_class", "status", "duration_ms", "route", "peer"):
            if f"_f_{f}" in c.columns:
                c = c.with_columns(pl.coalesce(pl.col(f), pl.col(f"_f_{f}").cast(EVENT_COLUMNS[f], strict=False)).alias(f))
        c = c.with_columns(pl.coalesce(pl.col("kind"), pl.lit("log")).alias("kind"))
        events = pl.concat([events.filter(pl.col("kind") != "log"), conform(c)])
    lab = ctx.labels
    for f in ("service", "namespace", "pod", "container", "host"):
        if f in lab:
            events = events.with_columns(pl.coalesce(f, pl.lit(lab[f][0])).alias(f))
    lines_with_rows = 0 if rejects and fmt == "document" else n_lines - len(rejects)
    n_rej = n_lines if rejects and fmt == "document" else len(rejects)
    ts = events.get_column("ts").drop_nulls()
    idx = (
        events.group_by(pl.col("ts").dt.truncate("1m").alias("minute"), "service", "pod", "container", "level")
        .agg(pl.len().cast(pl.Int64).alias("lines"), pl.col("line_no").min().alias("first_line"), pl.col("line_no").max().alias("last_line"), pl.col("byte_offset").min().alias("first_offset"), pl.col("byte_offset").max().alias("end_offset"))
        .select(list(INDEX_SCHEMA))
        if events.height
        else pl.DataFrame(schema=INDEX_SCHEMA)
    )
    return ChunkResult(
        events=events,
        index=idx,
        rejects=pl.DataFrame(rejects, schema=REJECT_SCHEMA, orient="row"),
        lines=None,
        n_lines=n_lines,
        n_rejected=n_rej,
        n_folded=lines_with_rows,  # every line of a document is parsed into its events
        first_ts=ts.min() if len(ts) else None,
        last_ts=ts.max() if len(ts) else None,
    )


class Progress:
    """Bytes and lines with rate and ETA on a terminal; silent otherwise."""

    def __init__(self, total_bytes: int, enabled: bool | None = None):
        self.total = total_bytes
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.start = time.monotonic()
        self.done = 0
        self.lines = 0
        self._last = 0.0

    def advance(self, nbytes: int, nlines: int, label: str = "") -> None:
        self.done += nbytes
        self.lines += nlines
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        el = max(now - self.start, 1e-6)
        rate = self.done / el
        eta = (self.total - self.done) / rate if rate > 0 and self.total > self.done else 0
        pct = 100.0 * self.done / self.total if self.total else 100.0
        width = 24
        fill = int(width * min(pct, 100) / 100)
        sys.stderr.write(
            f"\r[{'#' * fill}{'.' * (width - fill)}] {pct:5.1f}% {self.done / 1e6:,.0f}/{self.total / 1e6:,.0f} MB "
            f"{self.lines:,} lines {rate / 1e6:,.1f} MB/s ETA {eta:,.0f}s {label[-30:]:<30}"
        )
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 120 + "\r")
            sys.stderr.flush()


def ingest(paths: list[str], db_path: str, opts: IngestOptions | None = None, *, progress: bool | None = None) -> IngestSummary:
    with _quiet_gc():
        return _ingest(paths, db_path, opts, progress)


@contextlib.contextmanager
def _quiet_gc():
    """Python's cyclic GC, rarely: the event builder makes a dict per JSON payload and the
    collector kept walking every object the imports left (2 % of an ingest's CPU in perf).
    What exists now is frozen (never collected: modules, the catalogue); young objects are
    collected every 50,000 allocations instead of 700. Restored afterwards."""
    import gc

    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _ingest(paths: list[str], db_path: str, opts: IngestOptions | None, progress: bool | None) -> IngestSummary:
    opts = opts or IngestOptions()
    t0 = time.monotonic()
    if opts.input_format and opts.input_format not in INPUT_FORMATS:
        raise UserError(f"unknown --input-format {opts.input_format!r}; choose one of: {', '.join(INPUT_FORMATS)}")
    try:
        config, cfg_path = load_config(opts.config_path)
        cat = load_catalogue(config, config_path=cfg_path or "pmortem.toml")
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    skipped: list[str] = []
    try:
        files = expand_paths(paths, skipped)
    except InputError as exc:
        raise UserError(str(exc)) from None
    if not files:
        raise UserError("no input files found in " + " ".join(paths))
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(opts.tz)
    except Exception:  # noqa: BLE001 - zoneinfo raises several types for a bad key
        raise UserError(f"unknown time zone {opts.tz!r} for --tz; use an IANA name such as UTC or Europe/Berlin") from None
    if opts.encoding:
        import codecs

        try:
            codecs.lookup(opts.encoding)
        except LookupError:
            raise UserError(f"unknown --encoding {opts.encoding!r}; use a codec name such as latin-1, cp1252 or utf-16") from None
    con = connect(db_path, wait=opts.wait)
    if opts.threads:
        con.execute(f"SET threads = {int(opts.threads)}")
        os.environ.setdefault("POLARS_MAX_THREADS", str(int(opts.threads)))
    # DuckDB only appends small batches here; cap its buffer pool so peak memory stays bounded
    # (with --store-lines the lines table grows with the input: 256MB keeps the peak under
    # 1 GB for a 1 GB input, 0.80 against 1.01 GB, for about 14% more time; bench/README.md)
    con.execute("SET memory_limit = ?", [opts.memory_limit or ("256MB" if opts.store_lines else "512MB")])
    # a checkpoint (WAL folded into the file) every 32 MB of WAL, not 16 MB (the default):
    # each chunk still commits durably through the WAL; with these the checkpoints run
    # during the ingest, while the scan thread works, rather than all at the close (a 1 GB
    # corpus: 2.46 against 2.56 s with 256MB; bench/README.md)
    con.execute("SET checkpoint_threshold = '32MB'")
    cfg_labels = {k: (str(v), "config") for k, v in (config.get("labels") or {}).items() if k in ("service", "namespace", "pod", "container", "host")}
    flag_labels = {k: (v, "flag") for k, v in opts.labels.items() if v}
    sizes = {f: (os.path.getsize(f) if f != "-" else 0) for f in files}
    prog = Progress(sum(sizes.values()), progress)
    summary = IngestSummary(skipped=skipped)
    try:
        formats = {}
        for f in files:
            try:
                formats[f] = opts.input_format or (detect_format(f, opts.encoding) if f != "-" else "plain")
            except OSError as exc:
                raise UserError(f"cannot read {f}: {exc.strerror or exc}") from None
        # line-per-record exports first: when the same event also arrives in a whole JSON
        # document (spans in OTLP and in JSON lines), the copy kept quotes a real line
        for f in sorted(files, key=lambda f: formats[f] in DOCUMENT_FORMATS):
            summary.sources.append(_ingest_one(con, f, sizes[f], formats, opts, cat, cfg_labels, flag_labels, prog))
        if not opts.threads:
            con.execute("RESET threads")  # the updates across all of a database's events
        _resolve_entities(con)
    finally:
        prog.close()
        con.close()
    summary.seconds = time.monotonic() - t0
    summary.bytes = sum(sizes.values())
    return summary


def _ingest_one(con, path, size, formats, opts, cat, cfg_labels, flag_labels, prog) -> SourceSummary:
    abspath = "-" if path == "-" else str(Path(path).resolve())
    comp = compression_of(path) if path != "-" else None
    head_hash = tail_hash = None
    head_len = 0
    skip_bytes, first_line, source_id, action = 0, 1, None, "ingested"
    reopened: dict | None = None  # the open tail an append took back (read again below)
    c_head = c_size = None
    if path != "-":
        head_hash, tail_hash, head_len = fingerprint(path, size)
        c_head, c_size = content_fingerprint(path, comp, size)
        if c_head is not None and c_size is not None:
            # the same content in another container (a rotated log compressed on the way)
            other = con.execute(
                """SELECT source_id, path FROM sources
                   WHERE content_head = ? AND (content_size = ? OR (content_size % 4294967296) = ?)
                     AND status IN ('complete', 'damaged') AND coalesce(compression, '') <> coalesce(?, '')
                   ORDER BY source_id LIMIT 1""",
                [c_head, c_size, c_size % 4294967296, comp],
            ).fetchone()
            if other:
                prog.advance(size, 0, path)
                return SourceSummary(path, other[0], "same-as", error=None, format=f"= {other[1]}")
        # same content seen before? compare on the stored head length (a small file may have grown)
        cands = con.execute(
            "SELECT source_id, abspath, size, head_len, head_hash, tail_hash, bytes_done, lines_done, status, compression "
            "FROM sources WHERE head_hash IS NOT NULL ORDER BY source_id"
        ).fetchall()
        for sid, sp, ssize, shl, shh, sth, bdone, ldone, status, scomp in cands:
            same_path = sp == abspath
            # a head shorter than HEAD_LEN is a weak fingerprint (an empty file is a prefix of
            # everything): content matching alone only counts for full heads
            if not same_path and (shl < HEAD_LEN or head_len < HEAD_LEN):
                continue
            if shl > size or _hash_range(path, 0, shl) != shh:
                continue
            if size == ssize and sth == tail_hash and status in ("complete", "damaged"):
                if sp != abspath:
                    con.execute("UPDATE sources SET path = ?, abspath = ? WHERE source_id = ?", [path, abspath, sid])
                    prog.advance(size, 0, path)
                    return SourceSummary(path, sid, "renamed")
                prog.advance(size, 0, path)
                return SourceSummary(path, sid, "unchanged")
            if status == "ingesting" and size >= ssize:
                source_id, skip_bytes, first_line, action = sid, bdone, ldone + 1, "resumed"
                break
            if size > ssize and comp is None and scomp is None and status == "complete" and _hash_range(path, max(0, ssize - 4096), min(4096, ssize)) == sth:
                source_id, skip_bytes, first_line, action = sid, bdone, ldone + 1, "appended"
                tail = con.execute("SELECT tail FROM sources WHERE source_id = ?", [sid]).fetchone()[0]
                if tail:
                    # the last event may go on in what was appended: read it again with it
                    tail = json.loads(tail)
                    _reopen_tail(con, sid, tail, opts.store_lines)
                    reopened = tail
                    skip_bytes, first_line = int(tail["offset"]), int(tail["line"])
                break
    if source_id is not None and action == "resumed" and skip_bytes == 0:
        first_line = 1
    fmt = formats[path]
    labels = {**path_labels(path), **{k: v for k, v in cfg_labels.items()}}
    # trust order: envelope > payload > path > flags/config; flags fill what the path lacks
    for k, v in flag_labels.items():
        labels.setdefault(k, v)
    for k, v in cfg_labels.items():
        labels.setdefault(k, v)
    if source_id is None:
        source_id = con.execute("SELECT coalesce(max(source_id), 0) + 1 FROM sources").fetchone()[0]
        con.execute(
            """INSERT INTO sources (source_id, path, abspath, compression, size, head_len, head_hash, tail_hash, fingerprint,
                   content_head, content_size, encoding,
                   bytes_done, lines_done, format, service, namespace, pod, container, host, entity_source,
                   lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events, status, ingested_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, 0, 0, 'ingesting', now())""",
            [
                source_id, path, abspath, comp, size, head_len, head_hash, tail_hash,
                f"{head_hash}:{size}" if head_hash else None, c_head, c_size, opts.encoding, fmt,
                *[labels.get(f, (None,))[0] for f in ("service", "namespace", "pod", "container", "host")],
                json.dumps({k: v[1] for k, v in labels.items()}),
            ],
        )
    else:
        con.execute(
            "UPDATE sources SET path = ?, abspath = ?, size = ?, tail_hash = ?, fingerprint = ?, content_size = ?, "
            "status = 'ingesting', ingested_at = now() WHERE source_id = ?",
            [path, abspath, size, tail_hash, f"{head_hash}:{size}", c_size, source_id],
        )
    mtime = datetime.fromtimestamp(os.path.getmtime(path), UTC) if path != "-" else datetime.now(UTC)
    dedup = con.execute("SELECT count(*) > 0 FROM (SELECT 1 FROM events WHERE source_id <> ? LIMIT 1)", [source_id]).fetchone()[0]
    if not opts.threads:
        # With nothing to deduplicate against, DuckDB only appends each chunk's events while
        # the scan thread and the event builder keep both cores busy: its own workers only
        # contend (1 GB corpus, alternating runs: median 2.25 against 2.34 s, 0.09 CPU-s
        # less). The duplicate check against other sources' events and --store-lines'
        # big appends keep all threads.
        con.execute("SET threads = 1" if not dedup and not opts.store_lines else "RESET threads")
    ctx = SourceContext(
        source_id=source_id, envelope=fmt, catalogue=cat, tz=opts.tz, labels=labels,
        store_lines=opts.store_lines, reference_time=mtime,
    )
    state = ReadState()
    out = SourceSummary(path, source_id, action, fmt)
    if fmt in DOCUMENT_FORMATS:
        if skip_bytes:
            # a document cannot be resumed half-way: start it again
            con.execute("BEGIN TRANSACTION; DELETE FROM events WHERE source_id = ?; DELETE FROM rejects WHERE source_id = ?; DELETE FROM line_index WHERE source_id = ?; COMMIT", [source_id] * 3)
            con.execute("UPDATE sources SET lines=0, lines_parsed=0, lines_rejected=0, lines_folded=0, lines_generic=0, events=0 WHERE source_id = ?", [source_id])
        res = _document_chunk(path, fmt, cat, ctx, state, opts.encoding)
        _commit_chunk(con, source_id, res, state.bytes_read, res.n_lines)
        prog.advance(size, res.n_lines, path)
        out.lines, out.events, out.rejected = res.n_lines, res.events.height, res.n_rejected
    elif can_pread(path, opts.encoding) and native.eligible(ctx) and opts.threads != 1:
        # (--threads 1 asks for one core: the loop below, without the worker thread)
        off = _pipelined(path, opts, ctx, con, source_id, skip_bytes, first_line, dedup, out, prog)
        state.bytes_read = off
        prog.advance(max(size - off, 0), 0, path)
    elif can_pread(path, opts.encoding):
        # read in place: a chunk's unfinished last event is read again with the next chunk
        off, line = skip_bytes, first_line
        in_tail = False  # reading the file's open tail: its last event, stored on its own
        sizer = _ChunkSizer(opts.chunk_for(native.eligible(ctx)))
        with PlainReader(path, opts.chunk_for(native.eligible(ctx))) as reader:
            while True:
                view, end, eof = reader.read_at(off, 0, sizer.limit)
                if view is None:
                    break
                res = parse_chunk(Chunk(view, line, off), ctx, final=eof and in_tail)
                if res.tail_offset is not None:
                    bytes_done, lines_done = res.tail_offset, res.tail_line - 1
                else:
                    bytes_done, lines_done = end, line - 1 + res.n_lines
                # the open tail: read as a chunk of its own, or a last chunk that could not be cut
                # (its one event starts at its first line): either way an append may continue it
                open_tail = eof and (in_tail or res.tail_offset is None)
                _commit_chunk(con, source_id, res, bytes_done, lines_done, dedup, tail_at=(off, line) if open_tail else None)
                in_tail = eof and res.tail_offset is not None
                sizer.seen(bytes_done - off, res.n_events + res.n_folded)
                out.lines += res.n_lines
                out.events += res.events.height
                out.rejected += res.n_rejected
                prog.advance(max(bytes_done - off, 0), res.n_lines, path)
                off, line = bytes_done, lines_done + 1
                if eof and res.tail_offset is None:
                    break
        state.bytes_read = off
        prog.advance(max(size - off, 0), 0, path)
    else:
        pending = b""
        pend_line, pend_off = first_line, skip_bytes
        bytes_done, lines_done = skip_bytes, first_line - 1
        last_raw = 0
        def flush() -> None:
            nonlocal pending
            res = parse_chunk(Chunk(pending, pend_line, pend_off), ctx, final=True)
            _commit_chunk(con, source_id, res, pend_off + len(pending), pend_line - 1 + res.n_lines, dedup)
            out.lines += res.n_lines
            out.events += res.events.height
            out.rejected += res.n_rejected
            pending = b""

        for ch in iter_chunks(path, skip_bytes=skip_bytes, first_line=first_line, chunk_bytes=opts.chunk_for(False), state=state,
                              encoding=opts.encoding):
            if ch.span is not None:
                # an over-long line handed over alone (its head only): what came before is done
                if pending:
                    flush()
                res = parse_chunk(ch, ctx, final=True)
                bytes_done, lines_done = ch.offset + ch.span, ch.first_line - 1 + res.n_lines
                pend_line, pend_off = lines_done + 1, bytes_done
            else:
                data = pending + ch.data if pending else ch.data
                chunk = Chunk(data, pend_line if pending else ch.first_line, pend_off if pending else ch.offset)
                res = parse_chunk(chunk, ctx, final=False)
                if res.tail_offset is not None:
                    cut = res.tail_offset - chunk.offset
                    pending = data[cut:]
                    pend_line, pend_off = res.tail_line, res.tail_offset
                    bytes_done, lines_done = res.tail_offset, res.tail_line - 1
                else:
                    pending = b""
                    bytes_done = chunk.offset + len(data)
                    lines_done = chunk.first_line - 1 + res.n_lines
                    pend_line, pend_off = lines_done + 1, bytes_done
            _commit_chunk(con, source_id, res, bytes_done, lines_done, dedup)
            out.lines += res.n_lines
            out.events += res.events.height
            out.rejected += res.n_rejected
            raw_pos = min(size, state.raw_pos)
            prog.advance(max(raw_pos - last_raw, 0), res.n_lines, path)
            last_raw = max(raw_pos, last_raw)
        if pending:
            flush()
        prog.advance(max(size - last_raw, 0), 0, path)
    if out.rejected:
        out.undecodable = con.execute(
            "SELECT count(*) FROM rejects WHERE source_id = ? AND reason LIKE 'undecodable%'", [source_id]
        ).fetchone()[0]
    status = "damaged" if state.error else "complete"
    con.execute(
        "UPDATE sources SET status = ?, error = ?, ingested_at = now() WHERE source_id = ?",
        [status, state.error, source_id],
    )
    out.error = state.error
    if reopened:
        # the summary counts what the source gained: the re-read tail was there before
        out.lines -= int(reopened["lines"])
        out.events -= int(reopened["events"])
        out.rejected -= int(reopened["lines_rejected"])
    return out


# prepared chunks the scan thread may be ahead by; and the most the event builder takes at once
PIPELINE_DEPTH = 3
MAX_BATCH = 4
MIN_BATCH = 2  # chunks per build once started, when light (under TARGET_ROWS * 3 // 4 rows)
# kept rows (lines of events) per chunk the reader aims at: an event-dense file (a crash
# loop logging an error per line) gets smaller chunks, so memory stays bounded
TARGET_ROWS = 32_000
FIRST_CHUNK = 16 << 20  # the first chunk, before the density is known
MIN_CHUNK = 1 << 20


class _ChunkSizer:
    """Bytes to read next: FIRST_CHUNK, then as many as should hold about TARGET_ROWS kept
    rows at the density seen so far (growing at most 4x per chunk), within [MIN_CHUNK, full]."""

    def __init__(self, full: int, first: int | None = None):
        self.full = full
        self.limit = min(FIRST_CHUNK if first is None else first, full)

    def seen(self, nbytes: int, rows: int) -> None:
        if nbytes <= 0:
            return
        fit = nbytes * TARGET_ROWS // max(rows, 1)
        self.limit = max(MIN_CHUNK, min(self.full, fit, self.limit * 4))


@dataclass
class _Scanned:
    prep: native.Prepared
    off: int  # where the chunk starts (byte offset, line number)
    line: int
    nxt: tuple[int, int]  # where the next one starts
    is_tail: bool  # the file's open tail, stored as a chunk of its own


def _pipelined(path, opts, ctx, con, source_id, off, line, dedup, out, prog) -> int:
    """Plain file, native scanner: a scan thread reads and scans chunks ahead (the C
    literal search and scanner run without the GIL) while this thread builds and stores events.

    Two read buffers: a prepared chunk holds only its kept rows, so the scan thread can be
    up to PIPELINE_DEPTH chunks ahead. When the builder has fallen behind, it takes every
    chunk that is ready (up to MAX_BATCH) in one go: one event build and one transaction for
    them, fewer fixed costs per chunk exactly when this thread is the slower one. Commits
    stay in file order, each with its resume point."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(PIPELINE_DEPTH)
    stop = threading.Event()
    DONE = object()
    # the C scan of a chunk on two threads (halves of its lines) when there are two cores: the
    # builder's core waits for the first chunk, and for the scan whenever it has caught up
    split = (os.cpu_count() or 1) > 1

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def scan_thread(reader: PlainReader, off: int, line: int) -> None:
        slot, in_tail = 0, False
        # full chunks from the start: a chunk that turns out far denser than TARGET_ROWS is
        # cut shorter and scanned again (the scan is the cheap part; its events are not)
        sizer = _ChunkSizer(opts.chunk_for(True), first=opts.chunk_for(True))
        try:
            while not stop.is_set():
                view, end, eof = reader.read_at(off, slot, sizer.limit)
                if view is None:
                    break
                # the file's last event is left as a tail and read again as a chunk of its
                # own (the open tail: an append takes it back, see _reopen_tail)
                prep = native.prepare_chunk(Chunk(view, line, off), ctx, final=eof and in_tail, split=split)
                rows = prep.kept_rows
                if rows > 2 * TARGET_ROWS and not (eof and in_tail) and len(view) > MIN_CHUNK and view.obj is reader.bufs[slot]:
                    keep = max(MIN_CHUNK, len(view) * TARGET_ROWS // rows)
                    nl = reader.bufs[slot].rfind(b"\n", 0, keep)
                    if nl > 0:
                        view, end, eof = view[: nl + 1], off + nl + 1, False
                        prep = native.prepare_chunk(Chunk(view, line, off), ctx, final=False, split=split)
                prep.release()
                nxt = prep.tail if prep.tail is not None else (end, line + prep.a["cut"])
                sizer.seen(nxt[0] - off, prep.kept_rows)
                # the open tail: read as a chunk of its own, or a last chunk that could not be
                # cut (its one event starts at its first line): an append may continue either
                if not put(_Scanned(prep, off, line, nxt, eof and (in_tail or prep.tail is None))):
                    return
                if eof and prep.tail is None:
                    break
                in_tail = eof
                off, line = nxt
                slot ^= 1
            put(DONE)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which raises it
            put(exc)

    with PlainReader(path, opts.chunk_for(True), buffers=2) as reader:
        worker = threading.Thread(target=scan_thread, args=(reader, off, line), name="pmortem-scan", daemon=True)
        worker.start()
        if reader.bufs[1] is None and reader.capacity >= 8 << 20:
            # the second buffer's pages, made while the scan thread reads and scans the first
            # chunk into buffer 0 (this thread only waits then): 40 ms off the second read
            reader.buffer(1)
        held = None  # an item taken from the queue but left for the next batch
        built = False  # the first chunk goes alone: the builder starts as early as it can
        batch_rows = TARGET_ROWS * 3 // 2  # kept rows per build at most: a dense chunk goes alone
        try:
            finished = False
            while not finished:
                item = held if held is not None else q.get()
                held = None
                if item is DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                batch = [item]
                rows = item.prep.kept_rows
                # the open tail goes alone (its counts are recorded); others as many as are
                # ready, up to MAX_BATCH chunks and batch_rows kept rows
                while not batch[-1].is_tail and len(batch) < MAX_BATCH and rows < batch_rows:
                    try:
                        # two chunks per build at least, when they are light: each build has
                        # about 12 ms of fixed polars cost (bench/README.md)
                        wait = built and len(batch) < MIN_BATCH and rows < batch_rows // 2
                        more = q.get() if wait else q.get_nowait()
                    except queue.Empty:
                        break
                    if more is DONE:
                        finished = True
                        break
                    if isinstance(more, BaseException) or more.is_tail or rows + more.prep.kept_rows > batch_rows:
                        held = more
                        break
                    batch.append(more)
                    rows += more.prep.kept_rows
                res = native.finish_chunks([b.prep for b in batch])
                built = True
                first, last = batch[0], batch[-1]
                bytes_done, lines_done = last.nxt[0], last.nxt[1] - 1
                _commit_chunk(con, source_id, res, bytes_done, lines_done, dedup,
                              tail_at=(last.off, last.line) if last.is_tail else None)
                out.lines += res.n_lines
                out.events += res.events.height
                out.rejected += res.n_rejected
                prog.advance(max(bytes_done - first.off, 0), res.n_lines, path)
                off = bytes_done
        finally:
            stop.set()
            worker.join()
    return off


def _resolve_entities(con) -> None:
    """Entities that only become known across sources, once all of a run's files are in.

    - the node a pod ran on comes from its pod object (`kubectl get pod -o json`);
    - a source's entity columns summarise what its lines carried (comma-separated when several).
    """
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            """
            UPDATE events SET
                   host = coalesce(events.host, p.host),
                   namespace = coalesce(events.namespace, p.namespace),
                   entity_source = json_merge_patch(
                       coalesce(events.entity_source, '{}'),
                       json_object('host', CASE WHEN events.host IS NULL THEN 'pod_object' ELSE events.entity_source->>'host' END,
                                   'namespace', CASE WHEN events.namespace IS NULL THEN 'pod_object' ELSE events.entity_source->>'namespace' END))
            FROM (SELECT pod, any_value(host) AS host, any_value(namespace) AS namespace FROM events
                  WHERE kind = 'pod_spec' AND pod IS NOT NULL GROUP BY pod) p
            WHERE (events.host IS NULL OR events.namespace IS NULL) AND events.pod = p.pod
            """
        )
        for col in ("service", "namespace", "pod", "container"):
            indexed = f"SELECT source_id, {col} FROM line_index UNION ALL " if col != "namespace" else ""
            con.execute(
                f"""
                UPDATE sources SET {col} = v.val
                FROM (SELECT source_id, string_agg(DISTINCT {col}, ', ' ORDER BY {col}) AS val
                      FROM ({indexed}SELECT source_id, {col} FROM events)
                      WHERE {col} IS NOT NULL GROUP BY source_id) v
                WHERE sources.source_id = v.source_id AND sources.{col} IS NULL
                """
            )
        con.execute(
            """
            UPDATE sources SET host = v.val
            FROM (SELECT source_id, string_agg(DISTINCT host, ', ' ORDER BY host) AS val
                  FROM events WHERE host IS NOT NULL AND kind NOT IN ('pod_spec', 'k8s_event', 'container_terminated')
                  GROUP BY source_id) v
            WHERE sources.source_id = v.source_id AND sources.host IS NULL
            """
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise

