"""A source of JSON documents as one chunk's result (events, line index, rejects, counts)."""

from __future__ import annotations

import re
from datetime import timedelta

import orjson
import polars as pl

from ..events import INDEX_SCHEMA, REJECT_SCHEMA, ChunkResult, SourceContext
from ..readers import LimitExceeded
from ..schema import EVENT_COLUMNS, conform
from .dispatch import detect_document, document_events
from .logs import document_logs

MAX_DOCUMENT_BYTES = 1 << 30


class DocumentTooLarge(LimitExceeded, ValueError):
    """A single JSON document too large to decode whole."""


def parse_documents(data: bytes, fmt: str, ctx: SourceContext, name: str = "input") -> ChunkResult:
    """A whole source of JSON held in memory: one document (`fmt` "document", maybe
    pretty-printed) or one document per line ("document_lines"), as one chunk's result.
    Log messages among the documents' events (Elasticsearch hits) are read and classified
    like lines. (The ingest streams instead: `stream_document`, `document_lines_result`.)"""
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    if fmt == "document":
        if len(data) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(f"{name}: a single JSON document over {MAX_DOCUMENT_BYTES >> 20} MiB; export it as JSON lines")
        rows: list[dict] = []
        rejects: list[tuple] = []
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
        n_rej = n_lines if rejects else 0
        return rows_result(rows, rejects, ctx, n_lines, n_rej, n_lines - n_rej)
    return document_lines_result(data, ctx, 1, 0)


def document_lines_result(data: bytes, ctx: SourceContext, first_line: int, offset: int,
                          max_line: int | None = None) -> ChunkResult:
    """Whole lines of one-JSON-document-per-line input (a chunk of it), as a chunk's result;
    a line over `max_line` bytes is rejected unread."""
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    rows: list[dict] = []
    rejects: list[tuple] = []
    off = offset
    for i, raw in enumerate(data.split(b"\n"), start=first_line):
        if i - first_line >= n_lines:
            break
        try:
            if max_line is not None and len(raw) > max_line:
                raise ValueError(f"line too long (over {max_line} bytes, [limits] max_line_bytes)")
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
    return rows_result(rows, rejects, ctx, n_lines, len(rejects), n_lines - len(rejects))


# --------------------------------------------------------------------------- streaming

# lists whose elements are records, streamed one by one (ijson prefixes): a top-level array
# (gcloud), kubectl lists, OTLP, Jaeger, Cloud Logging entries:list, CloudWatch, a _search
STREAMED_LISTS = frozenset(
    {"", "items", "resourceSpans", "data", "entries", "events", "logEvents", "hits.hits"}
)
DESCEND = frozenset({"hits"})  # objects walked into (not built whole) to reach a streamed list
BATCH_RECORDS = 2000
BATCH_BYTES = 16 << 20


_WS_RUN = re.compile(rb"[ \t\r\n]{2,}")


def _collapse(m: re.Match) -> bytes:
    """A run of JSON whitespace holding a newline, tab or CR, as one newline: those never
    appear raw inside a valid string, so the run is between tokens (or the JSON is broken
    either way). yajl reads whitespace at ~35 MB/s: a block that is mostly whitespace (`[`
    and gigabytes of newlines) is handed over shrunk; its lines are counted before."""
    run = m.group(0)
    return b"\n" if run.strip(b" ") != b"" else run


class _Counting:
    """The stream ijson reads, counting bytes and lines and enforcing the document cap."""

    def __init__(self, fh, name: str, cap: int):
        self.fh, self.name, self.cap = fh, name, cap
        self.bytes = 0
        self.newlines = 0
        self.last = b""
        self.head = b""

    def read(self, n: int = -1) -> bytes:
        if n == 0:  # ijson asks for nothing once, to learn whether the stream gives bytes
            return b""
        got = self.fh.read(n if n > 0 else 1 << 16)
        if got:
            self.bytes += len(got)
            self.newlines += got.count(b"\n")
            self.last = got[-1:]
            if len(self.head) < 200:
                self.head += got[: 200 - len(self.head)]
            if self.cap and self.bytes > self.cap:
                raise DocumentTooLarge(
                    f"{self.name}: a single JSON document over {self.cap >> 20} MiB ([limits] max_document_bytes); "
                    "export it as JSON lines or raise the limit in pmortem.toml"
                )
            rest = len(got.translate(None, b" \t\r\n"))
            if rest == 0 and got.strip(b" "):
                got = b"\n"  # only whitespace, with a newline, tab or CR in it: see _collapse
            elif rest * 8 < len(got):
                got = _WS_RUN.sub(_collapse, got)
        return got

    @property
    def lines(self) -> int:
        return self.newlines + (0 if self.last in (b"\n", b"") else 1)


def _json_errors() -> tuple[type[BaseException], ...]:
    import ijson

    return (ijson.JSONError, ijson.IncompleteJSONError, UnicodeDecodeError)


def _object_builder():
    from ijson.common import ObjectBuilder

    return ObjectBuilder(map_type=dict)


def _ijson():
    import ijson

    try:
        return ijson.get_backend("yajl2_c")  # the C backend, when the wheel has it
    except Exception:  # noqa: BLE001 - ImportError or YAJLImportError: the pure-Python one then
        return ijson


HOLD_MAX_ROWS = 5000
HOLD_SECONDS = 2  # a shipper's documents of one stack trace carry (about) one timestamp


def _hold_back(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """`rows` split into those to fold now and the log rows of the batch's last HOLD_SECONDS,
    held for the next batch: a stack trace whose lines were shipped as documents of their own
    may go on there, and folding (documents/logs.py) must see its lines together. Bounded: at
    most HOLD_MAX_ROWS are held."""
    ts = [r["ts"] for r in rows if r.get("kind") == "log" and r.get("ts") is not None]
    if not ts:
        return rows, []
    cut = max(ts) - timedelta(seconds=HOLD_SECONDS)
    hold = [r.get("kind") == "log" and (r.get("ts") is None or r["ts"] >= cut) for r in rows]
    if sum(hold) > HOLD_MAX_ROWS:
        return rows, []
    return [r for r, h in zip(rows, hold, strict=True) if not h], [r for r, h in zip(rows, hold, strict=True) if h]


def stream_document(fh, ctx: SourceContext, name: str, max_bytes: int = MAX_DOCUMENT_BYTES):
    """One whole JSON document read from the (decompressed) stream `fh` with an incremental
    parser: the records of its big lists (STREAMED_LISTS) are built one at a time and handed
    over in batches, so memory follows one batch, never the file (a compact `_search` saved
    as one 2 MB line, a 1 GB pod list). Yields (ChunkResult, done): `done` is True for the
    last one, which carries the document's line count; a string instead of True says the
    document broke after some events were handed over (they are kept, the source is damaged)."""
    ij = _ijson()
    src = _Counting(fh, name, max_bytes)
    skeleton: dict | list | None = None
    containers: dict[str, dict] = {}  # prefix -> the dict being filled (the top level, hits)
    keys: dict[str, str] = {}  # prefix -> the key whose value comes next
    streaming: str | None = None  # the list whose records are being streamed
    batch: list = []
    batch_start = 0
    builder = None
    depth = 0
    target: tuple[str, str | None] | None = None  # where the value being built goes
    kind: str | None = None
    n_events = 0
    emitted = False
    held: list[dict] = []  # log rows of the last batch that a stack trace may continue in the next

    def batch_doc():
        if streaming == "":
            return list(batch)
        doc = dict(skeleton)
        if streaming == "hits.hits":
            doc["hits"] = {**containers["hits"], "hits": list(batch)}
        else:
            doc[streaming] = list(batch)
        return doc

    def flush(final: bool = False):
        nonlocal batch, kind, n_events, emitted, batch_start, held
        doc = batch_doc()
        batch = []
        batch_start = src.bytes
        k = kind or detect_document(doc)
        if k is None:
            return None
        kind = k
        rows = document_events(doc, k)
        for r in rows:
            r.setdefault("line_no", 1)
            r.setdefault("byte_offset", 0)
            r.setdefault("line_count", src.lines)
        n_events += len(rows)
        emitted = True
        rows = held + rows
        held = []
        if not final:
            rows, held = _hold_back(rows)
        return rows_result(rows, [], ctx, 0, 0, 0)

    def place(prefix_key: tuple[str, str | None], value) -> None:
        parent, key = prefix_key
        if parent == "" and key is None:
            return
        containers[parent][key] = value

    error: str | None = None
    try:
        for prefix, event, value in ij.parse(src, use_float=True):
            if builder is not None:
                builder.event(event, value)
                if event in ("start_map", "start_array"):
                    depth += 1
                elif event in ("end_map", "end_array"):
                    depth -= 1
                if depth == 0:
                    if target is None:
                        batch.append(builder.value)
                    else:
                        place(target, builder.value)
                    builder = None
                    if target is None and (len(batch) >= BATCH_RECORDS or src.bytes - batch_start > BATCH_BYTES):
                        res = flush()
                        if res is not None:
                            yield res, False
                continue
            if event == "map_key":
                keys[prefix] = value
                continue
            if event in ("end_map", "end_array"):
                if event == "end_array" and prefix == streaming:
                    if batch or held:
                        res = flush(final=True)
                        if res is not None:
                            yield res, False
                    streaming = None
                continue
            # a value starts at `prefix`
            if streaming is not None and prefix == (f"{streaming}.item" if streaming else "item"):
                tgt = None
            elif prefix == "" and event == "start_map":
                skeleton = containers[""] = {}
                continue
            elif prefix == "" and event == "start_array":
                skeleton, streaming = [], ""
                continue
            else:
                parent = prefix.rpartition(".")[0] if "." in prefix else ""
                key = keys.get(parent)
                if prefix in DESCEND and event == "start_map" and parent in containers:
                    containers[prefix] = {}
                    containers[parent][key] = containers[prefix]
                    continue
                if prefix in STREAMED_LISTS and event == "start_array" and parent in containers and streaming is None:
                    streaming = prefix
                    containers[parent][key] = []
                    continue
                if parent not in containers:
                    continue  # inside a value we do not keep (cannot happen with a builder)
                tgt = (parent, key)
            if event in ("start_map", "start_array"):
                builder, depth, target = _object_builder(), 1, tgt
                builder.event(event, value)
            elif tgt is None:
                batch.append(value)
            else:
                place(tgt, value)
    except _json_errors() as exc:
        error = f"{exc}"[:160] or type(exc).__name__
    if error is not None:
        if (batch or held) and streaming is not None:  # the records parsed whole before the break
            res = flush(final=True)
            if res is not None:
                yield res, False
        # read on to the end for the line count (bounded: a block at a time, within the cap)
        while src.read(1 << 20):
            pass
        if emitted:
            damage = f"JSON document broken after {n_events} events ({error}); kept the events before that point"
            yield rows_result([], [], ctx, src.lines, 0, src.lines), damage
            return
        rejects = [(1, 0, f"bad JSON document: {error} (all {src.lines} lines)", src.head.decode("utf-8", "replace"))]
        yield rows_result([], rejects, ctx, src.lines, src.lines, 0), True
        return
    if not emitted:
        # no streamed list (one pod, one event, one trace): the whole (small) skeleton
        doc = skeleton
        k = detect_document(doc) if doc is not None else None
        if k is None:
            reason = "unknown JSON document: not a known document (pod list, events, OTLP, Jaeger, _search)"
            rejects = [(1, 0, f"{reason} (all {src.lines} lines)", src.head.decode("utf-8", "replace"))]
            yield rows_result([], rejects, ctx, src.lines, src.lines, 0), True
            return
        try:
            rows = document_events(doc, k)
        except ValueError as exc:
            rejects = [(1, 0, f"unknown JSON document: {str(exc)[:160]} (all {src.lines} lines)", src.head.decode("utf-8", "replace"))]
            yield rows_result([], rejects, ctx, src.lines, src.lines, 0), True
            return
        for r in rows:
            r.setdefault("line_no", 1)
            r.setdefault("byte_offset", 0)
            r.setdefault("line_count", src.lines)
        yield rows_result(rows, [], ctx, src.lines, 0, src.lines), True
        return
    # every line of a document is parsed into its events: the count comes with the last step
    yield rows_result([], [], ctx, src.lines, 0, src.lines), True


def rows_result(rows: list[dict], rejects: list[tuple], ctx: SourceContext, n_lines: int, n_rej: int,
                lines_with_rows: int) -> ChunkResult:
    """Event rows of documents (and rejects) as a chunk's result: Elasticsearch log messages
    read and classified like lines, labels applied, the per-minute index."""
    for r in rows:
        if isinstance(r.get("attrs"), dict):
            r["attrs"] = orjson.dumps(r["attrs"], default=str).decode()
    events = conform(pl.DataFrame(rows, infer_schema_length=None, strict=False)) if rows else pl.DataFrame(schema=EVENT_COLUMNS)
    lab = ctx.labels

    def fill_labels(events: pl.DataFrame) -> pl.DataFrame:
        for f in ("service", "namespace", "pod", "container", "host"):
            if f in lab:
                # a file's own name (entities.file_entity) names its log rows, not the pods and nodes its objects are about
                fill = pl.lit(lab[f][0]) if lab[f][1] != "file" else pl.when(pl.col("kind") == "log").then(pl.lit(lab[f][0]))
                events = events.with_columns(pl.coalesce(f, fill).alias(f))
        return events

    events = fill_labels(events)
    ts = events.get_column("ts").drop_nulls()  # every document's, also those that are no event
    rest = events.filter(pl.col("kind") != "log")
    parts = [
        rest.group_by(pl.col("ts").dt.truncate("1m").alias("minute"), "service", "pod", "container", "level")
        .agg(pl.len().cast(pl.Int64).alias("lines"), pl.col("line_no").min().alias("first_line"), pl.col("line_no").max().alias("last_line"), pl.col("byte_offset").min().alias("first_offset"), pl.col("byte_offset").max().alias("end_offset"))
        .select(list(INDEX_SCHEMA))
    ] if rest.height else []
    # log messages among the documents (Elasticsearch hits, Cloud Logging, CloudWatch): folded and
    # classified like the lines of a line export (documents/logs.py); all of them in the index
    events = fill_labels(document_logs(events, ctx, parts))
    idx = pl.concat(parts) if parts else pl.DataFrame(schema=INDEX_SCHEMA)
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
