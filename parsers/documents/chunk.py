"""A source of JSON documents as one chunk's result (events, line index, rejects, counts)."""

from __future__ import annotations

import orjson
import polars as pl

from ..events import INDEX_SCHEMA, REJECT_SCHEMA, ChunkResult, SourceContext
from ..schema import EVENT_COLUMNS, conform
from .dispatch import detect_document, document_events
from .logs import document_logs

MAX_DOCUMENT_BYTES = 1 << 30


class DocumentTooLarge(ValueError):
    """A single JSON document too large to decode whole."""


def parse_documents(data: bytes, fmt: str, ctx: SourceContext, name: str = "input") -> ChunkResult:
    """A whole source of JSON: one document (`fmt` "document", maybe pretty-printed) or one
    document per line ("document_lines"), as one chunk's result. Log messages among the
    documents' events (Elasticsearch hits) are read and classified like lines."""
    n_lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    rows: list[dict] = []
    rejects: list[tuple] = []
    if fmt == "document":
        if len(data) > MAX_DOCUMENT_BYTES:
            raise DocumentTooLarge(f"{name}: a single JSON document over {MAX_DOCUMENT_BYTES >> 20} MiB; export it as JSON lines")
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
    # log messages among the documents (Elasticsearch hits, Cloud Logging, CloudWatch): folded and
    # classified like the lines of a line export (documents/logs.py)
    events = document_logs(events, ctx)
    lab = ctx.labels
    for f in ("service", "namespace", "pod", "container", "host"):
        if f in lab:
            # a file's own name (entities.file_entity) names its log rows, not the pods and nodes its objects are about
            fill = pl.lit(lab[f][0]) if lab[f][1] != "file" else pl.when(pl.col("kind") == "log").then(pl.lit(lab[f][0]))
            events = events.with_columns(pl.coalesce(f, fill).alias(f))
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
