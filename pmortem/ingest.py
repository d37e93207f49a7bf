"""Ingest: sources -> parsed chunks -> DuckDB, incremental and crash-safe.

Each chunk is committed in one transaction together with the source's resume
point (bytes_done, lines_done) and counters, so a run killed at any moment
leaves a database whose counts match exactly what it holds, and the next run
continues from the resume point.

The layers: the input's format (parsers/detect.py) and entities from its path
(parsers/entities.py); its identity on disk (fingerprint.py); how it is read and
parsed, as a chunk source (chunks.py); what is stored and how (store.py); the
progress line (progress.py). This module decides, per source, which of those
apply, and runs the one loop that commits, counts and reports progress.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from .chunks import ChunkSource, DocumentSource, PipelinedSource, PreadSource, StreamedSource
from .db import INGEST_MEMORY_LIMIT, INGEST_MEMORY_LIMIT_STORE_LINES, connect
from .errors import UserError
from .fingerprint import HEAD_LEN, content_fingerprint, fingerprint, hash_range
from .parsers import native
from .parsers.catalogue import CatalogueError, load_catalogue, load_config
from .parsers.detect import DOCUMENT_FORMATS, INPUT_FORMATS, detect_format
from .parsers.entities import config_labels, flag_labels, path_labels, source_labels
from .parsers.events import SourceContext
from .parsers.readers import (
    CHUNK_BYTES,
    NATIVE_CHUNK_BYTES,
    InputError,
    LimitExceeded,
    Limits,
    ReadState,
    can_pread,
    compression_of,
    display_path,
    expand_paths,
    is_uri,
    limits_scope,
)
from .parsers.requests import split_requests
from .progress import Progress
from .safe_text import visible
from .store import commit_chunk, compact_source, forget_rows, reopen_tail, resolve_entities

# (re-exported: callers and tests import these from here)
__all__ = [
    "INPUT_FORMATS", "IngestOptions", "IngestSummary", "Progress", "SourceSummary", "detect_format", "ingest",
    "path_labels",
]


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
    # (path, reason): inputs that could not be read as logs (FIFOs, devices, symlink loops,
    # dangling links, undecodable names, unreadable files or directories); the run went on
    refused: list[tuple[str, str]] = field(default_factory=list)
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


def _ingest(paths: list[str], db_path: str, opts: IngestOptions | None, progress: bool | None,
            engine=None) -> IngestSummary:
    """`engine`: another way to parse (pmortem/spark): `engine.prepare(con, files, formats, sizes)`
    before the sources are stored, and `engine.chunk_source` in place of `_chunk_source`; the
    rest (fingerprints, store, counts, entity resolution) is this module's, unchanged."""
    opts = opts or IngestOptions()
    t0 = time.monotonic()
    if opts.input_format and opts.input_format not in INPUT_FORMATS:
        raise UserError(f"unknown --input-format {opts.input_format!r}; choose one of: {', '.join(INPUT_FORMATS)}")
    try:
        config, cfg_path = load_config(opts.config_path)
        cat = load_catalogue(config, config_path=cfg_path or "pmortem.toml")
    except CatalogueError as exc:
        raise UserError(str(exc)) from None
    limits = config_limits(config, cfg_path or "pmortem.toml")
    skipped: list[str] = []
    refused: list[tuple[str, str]] = []
    try:
        files = expand_paths(paths, skipped, refused)
    except InputError as exc:
        raise UserError(str(exc)) from None
    if not files and refused:
        raise UserError("nothing readable to ingest: " + "; ".join(f"{p}: {why}" for p, why in refused))
    if not files:
        raise UserError("no input files found in " + " ".join(display_path(p) for p in paths))
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
    # (db.INGEST_MEMORY_LIMIT: why 128MB, and 256MB with --store-lines; bench/README.md)
    con.execute("SET memory_limit = ?", [opts.memory_limit or (INGEST_MEMORY_LIMIT_STORE_LINES if opts.store_lines else INGEST_MEMORY_LIMIT)])
    # a checkpoint (WAL folded into the file) every 32 MB of WAL, not 16 MB (the default):
    # each chunk still commits durably through the WAL; with these the checkpoints run
    # during the ingest, while the scan thread works, rather than all at the close (a 1 GB
    # corpus: 2.46 against 2.56 s with 256MB; bench/README.md)
    con.execute("SET checkpoint_threshold = '32MB'")
    cfg_labels = config_labels(config)
    flags = flag_labels(opts.labels)
    sizes = {f: (os.path.getsize(f) if f != "-" and not is_uri(f) else _remote_size(f)) for f in files}
    prog = Progress(sum(sizes.values()), progress)
    summary = IngestSummary(skipped=skipped, refused=refused)
    try:
        formats = {}
        for f in list(files):
            try:
                # stdin too: its head is buffered for this and handed to its reader again
                formats[f] = opts.input_format or detect_format(f, opts.encoding)
            except (OSError, InputError) as exc:
                # gone or changed since it was listed: skipped with its reason, the rest goes on
                refused.append((display_path(f), getattr(exc, "strerror", None) or str(exc)))
                files.remove(f)
                prog.advance(sizes[f], 0, _label(f))
        # line-per-record exports first: when the same event also arrives in a whole JSON
        # document (spans in OTLP and in JSON lines), the copy kept quotes a real line
        with limits_scope(limits):
            order = sorted(files, key=lambda f: formats[f] in DOCUMENT_FORMATS)
            make_source = _chunk_source
            if engine is not None:
                engine.prepare(con, order, formats, sizes)
                make_source = engine.chunk_source
            for f in order:
                summary.sources.append(_ingest_one(con, f, sizes[f], formats, opts, cat, cfg_labels, flags, prog, make_source))
        if not opts.threads:
            con.execute("RESET threads")  # the updates across all of a database's events
        resolve_entities(con)
    finally:
        prog.close()
        con.close()
    summary.seconds = time.monotonic() - t0
    summary.bytes = sum(sizes.values())
    return summary


def _ingest_one(con, path, size, formats, opts, cat, cfg_labels, flag_labels, prog, make_source=None) -> SourceSummary:
    abspath = "-" if path == "-" else path if is_uri(path) else str(Path(path).resolve())
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
                prog.advance(size, 0, _label(path))
                return SourceSummary(path, other[0], "same-as", error=None, format=f"= {other[1]}")
        # same content seen before? compare on the stored head length (a small file may have grown)
        cands = con.execute(
            "SELECT source_id, abspath, size, head_len, head_hash, tail_hash, bytes_done, lines_done, status, compression "
            "FROM sources WHERE head_hash IS NOT NULL ORDER BY source_id"
        ).fetchall()
        for sid, sp, ssize, shl, shh, sth, bdone, ldone, status, scomp in cands:
            same_path = sp == abspath
            if status == "refused" and same_path:
                # refused over a limit last time (its rows were dropped): read it again from the start
                source_id, action = sid, "ingested"
                break
            # a head shorter than HEAD_LEN is a weak fingerprint (an empty file is a prefix of
            # everything): content matching alone only counts for full heads
            if not same_path and (shl < HEAD_LEN or head_len < HEAD_LEN):
                continue
            if shl > size or hash_range(path, 0, shl) != shh:
                continue
            if size == ssize and sth == tail_hash and status in ("complete", "damaged"):
                if sp != abspath:
                    con.execute("UPDATE sources SET path = ?, abspath = ? WHERE source_id = ?", [path, abspath, sid])
                    prog.advance(size, 0, _label(path))
                    return SourceSummary(path, sid, "renamed")
                prog.advance(size, 0, _label(path))
                return SourceSummary(path, sid, "unchanged")
            if status == "ingesting" and size >= ssize:
                source_id, skip_bytes, first_line, action = sid, bdone, ldone + 1, "resumed"
                break
            if size > ssize and comp is None and scomp is None and status == "complete" and hash_range(path, max(0, ssize - 4096), min(4096, ssize)) == sth:
                source_id, skip_bytes, first_line, action = sid, bdone, ldone + 1, "appended"
                tail = con.execute("SELECT tail FROM sources WHERE source_id = ?", [sid]).fetchone()[0]
                if tail:
                    # the last event may go on in what was appended: read it again with it
                    tail = json.loads(tail)
                    reopen_tail(con, sid, tail, opts.store_lines)
                    reopened = tail
                    skip_bytes, first_line = int(tail["offset"]), int(tail["line"])
                break
    if source_id is not None and action == "resumed" and skip_bytes == 0:
        first_line = 1
    fmt = formats[path]
    # trust order: envelope > payload (per event, parsers/events.py) > these (parsers/entities.py)
    labels = source_labels(path, cfg_labels, flag_labels)
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
    mtime = datetime.fromtimestamp(os.path.getmtime(path), UTC) if path != "-" and not is_uri(path) else _remote_mtime(path)
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
    src = (make_source or _chunk_source)(path, fmt, ctx, opts, size, skip_bytes, first_line, state)
    if isinstance(src, DocumentSource) and skip_bytes:
        # a document cannot be resumed half-way: start it again
        forget_rows(con, source_id)
    try:
        _store(con, source_id, src, dedup, out, prog, one_thread=opts.threads == 1)
    except LimitExceeded as exc:
        # over a [limits] cap: what it stored is dropped, the source is marked refused with
        # the reason (never left `ingesting`), and the run goes on
        forget_rows(con, source_id)
        con.execute(
            "UPDATE sources SET status = 'refused', error = ?, bytes_done = 0, lines_done = 0, ingested_at = now() "
            "WHERE source_id = ?",
            [str(exc), source_id],
        )
        prog.advance(max(src.size - src.pos, 0), 0, _label(src.path))
        out.action, out.error, out.lines, out.events, out.rejected = "refused", str(exc), 0, 0, 0
        return out
    (tail,) = con.execute("SELECT tail FROM sources WHERE source_id = ?", [source_id]).fetchone()
    try:
        compact_source(con, source_id, int(json.loads(tail)["line"]) if tail else None)
    except duckdb.OutOfMemoryException:
        # the merge is one transaction, rolled back whole: the source keeps its rows per chunk
        # (the same sums and counts), the ingest goes on
        pass
    if fmt == "docker":
        out.events += _docker_state(con, source_id, path)
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


def _remote_size(path: str) -> int:
    """An object's size (0 for stdin), pmortem/remote.py."""
    if path == "-":
        return 0
    from .remote import getsize

    return getsize(path)


def _remote_mtime(path: str) -> datetime:
    """When an object was written (now for stdin), pmortem/remote.py."""
    if path == "-":
        return datetime.now(UTC)
    from .remote import getmtime

    return getmtime(path)


def _docker_state(con, source_id: int, path: str) -> int:
    """A docker json-file's container end (OOMKilled, ExitCode, FinishedAt in its config.v2.json)
    as its source's `container_terminated` event, replacing the one an earlier run stored."""
    import polars as pl

    from .parsers.docker import DOCKER_STATE_SOURCE, docker_state_rows
    from .parsers.schema import conform
    from .store import insert_events, transaction

    rows = docker_state_rows(path)
    with transaction(con):
        old = con.execute(
            "DELETE FROM events WHERE source_id = ? AND kind = 'container_terminated' AND attrs->>'source' = ? RETURNING 1",
            [source_id, DOCKER_STATE_SOURCE],
        ).fetchall()
        if rows:
            for r in rows:
                r["attrs"] = json.dumps(r["attrs"])
            insert_events(con, conform(pl.DataFrame(rows, infer_schema_length=None, strict=False)), source_id)
        con.execute("UPDATE sources SET events = events + ? WHERE source_id = ?", [len(rows) - len(old), source_id])
    return len(rows) - len(old)


def _label(path: str) -> str:
    """A path as the progress line shows it: printable, control characters visible."""
    return visible(display_path(path))


LIMIT_KEYS = {"max_document_bytes": "size", "max_line_bytes": "size", "max_ratio": "ratio"}


def config_limits(config: dict, where: str) -> Limits:
    """[limits] of the config file (README "Limits and hostile input"); sizes as bytes or
    '512MiB' / '2GB', max_ratio a number (0: no ratio check)."""
    from .api import _SIZE_RE, _SIZE_UNITS

    raw = config.get("limits", {})
    if not isinstance(raw, dict):
        raise UserError(f"{where}: [limits] must be a table (max_document_bytes, max_line_bytes, max_ratio)")
    vals: dict = {}
    for key, value in raw.items():
        if key not in LIMIT_KEYS:
            raise UserError(f"{where}: unknown key {key!r} in [limits]; use one of {', '.join(LIMIT_KEYS)}")
        if LIMIT_KEYS[key] == "ratio":
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise UserError(f"{where}: [limits] {key} = {value!r} must be a number, 0 or more (0 turns the check off)")
            vals[key] = float(value)
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            n = value
        else:
            m = _SIZE_RE.fullmatch(str(value))
            if not m:
                raise UserError(f"{where}: [limits] {key} = {value!r} is not a size; use bytes or e.g. '64MiB', '2GB'")
            n = int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()])
        if n < 1024:
            raise UserError(f"{where}: [limits] {key} = {value!r} is under 1 KiB")
        vals[key] = n
    return Limits(**vals)


def _chunk_source(path, fmt, ctx, opts, size, skip_bytes, first_line, state) -> ChunkSource:
    """How this source is read: whole documents, the pipelined native path, pread, or a stream."""
    kw = {"size": size, "start": skip_bytes, "first_line": first_line, "encoding": opts.encoding, "state": state}
    if fmt in DOCUMENT_FORMATS:
        return DocumentSource(path, ctx, fmt, **kw)
    if can_pread(path, opts.encoding) and native.eligible(ctx) and opts.threads != 1:
        # (--threads 1 asks for one core: the pread loop, without the scan thread)
        return PipelinedSource(path, ctx, chunk_bytes=opts.chunk_for(True), **kw)
    if can_pread(path, opts.encoding):
        return PreadSource(path, ctx, chunk_bytes=opts.chunk_for(native.eligible(ctx)), **kw)
    return StreamedSource(path, ctx, chunk_bytes=opts.chunk_for(False), **kw)


def _store(con, source_id: int, src: ChunkSource, dedup: bool, out: SourceSummary, prog: Progress, *,
           one_thread: bool = False) -> None:
    """The one loop: each step of the source committed with its resume point, counted, reported.

    The commits run on a writer thread, one step behind: DuckDB works without the GIL, so the
    next step's events are built (and the scan thread scans ahead) while this one is stored.
    Commits stay in file order, one transaction each with its resume point; an error in
    either thread stops both and is raised here, after the writer has finished what it held.
    `one_thread` (--threads 1): the commits on this thread, in turn with the builds."""
    cat = src.ctx.catalogue
    with _Writer(inline=one_thread) as writer, contextlib.closing(iter(src)) as steps:
        for st in steps:
            # requests as rollups: every request counted, only the notable ones kept as events
            # (a source whose parser rolled its requests up already: pmortem/spark)
            res = st.res if getattr(src, "rolled_up", False) else split_requests(
                st.res, cat.slow_request_ms, keep_all=cat.request_events == "all")
            writer.submit(commit_chunk, con, source_id, res, st.bytes_done, st.lines_done, dedup, tail_at=st.tail_at)
            out.lines += res.n_lines
            out.events += res.events.height
            out.rejected += res.n_rejected
            prog.advance(st.advance, st.res.n_lines, _label(src.path))
    prog.advance(max(src.size - src.pos, 0), 0, _label(src.path))


class _Writer:
    """Runs submitted calls in order on one thread, one at a time: `submit` waits until the
    previous call has finished. A step is built while the one before it is stored, and no
    third one waits in between: at most two steps' frames are held (a queue of one more took
    peak RSS to 500 MB on the 1 GB request-heavy corpora).

    `submit` raises what an earlier call raised; leaving the block waits for the call
    already submitted (none is dropped: what was built is committed, so a resume point is
    never behind what the database holds) and raises a call's error, unless the block is
    left by an error of its own."""

    def __init__(self, inline: bool = False):
        import queue
        import threading

        self._q: queue.Queue = queue.Queue()
        self._idle = threading.Semaphore(1)  # taken by a submitted call until it has run
        self._error: BaseException | None = None
        # inline: each call runs in `submit`, on the caller's thread (--threads 1: one core)
        self._thread = None if inline else threading.Thread(target=self._run, name="pmortem-writer", daemon=True)

    def __enter__(self) -> _Writer:
        if self._thread is not None:
            self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is None:
                return
            if self._error is None:  # (after an error: drain, run nothing more)
                fn, args, kw = item
                try:
                    fn(*args, **kw)
                except BaseException as exc:  # noqa: BLE001 - raised in the submitting thread
                    self._error = exc
                fn = args = kw = None  # the step's frames freed before the next is taken
            item = None
            self._idle.release()

    def submit(self, fn, *args, **kw) -> None:
        if self._thread is None:
            fn(*args, **kw)
            return
        self._idle.acquire()
        if self._error is not None:
            self._idle.release()
            raise self._error
        self._q.put((fn, args, kw))

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._thread is None:
            return
        self._q.put(None)
        self._thread.join()
        if exc_type is None and self._error is not None:
            raise self._error
