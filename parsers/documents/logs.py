"""Log messages that arrive as documents (Elasticsearch/OpenSearch hits, Cloud Logging entries,
CloudWatch events) -> events, folded and classified exactly as the same lines of a line export.

A shipper without a multiline setting (Filebeat's `container` input, Fluent Bit's default)
sends every line of a Java or Node stack trace as a document of its own. Here the documents'
messages are put in time order and go through the line path's own steps (events.py:
`annotate_split`, `mark_continuations`, `assign_events`, `entity_columns`, `build_events`),
per (pod, container, stream), so `at ...` and `Caused by: ...` join the error above them
by the one rule the line path uses, and an ES export and a `kubectl logs` export of the same
logs give the same events.
"""

from __future__ import annotations

import polars as pl

from ..envelopes import ENV_COLUMNS
from ..events import (
    SourceContext,
    annotate_split,
    assign_events,
    build_events,
    entity_columns,
    mark_continuations,
)
from ..schema import EVENT_COLUMNS, UTC_US, conform


def _line_index(df: pl.DataFrame) -> pl.DataFrame:
    from ..pipeline import _line_index as line_index

    return line_index(df)

# what a document says about its row that the message does not: kept from the row that heads the event
_DOC_KEEP = ("ts", "ts_text", "line_no", "byte_offset", "level", "pid", "trace_id", "span_id", "attrs", "entity_source")


def document_logs(events: pl.DataFrame, ctx: SourceContext, index: list | None = None) -> pl.DataFrame:
    """`events` (EVENT_COLUMNS rows of any document kind) with its `log` rows folded and classified.

    Every message is an event (a document is already a record someone chose to ship) and is
    counted in the per-minute line index, which is appended to `index` when given."""
    logs = events.filter(pl.col("kind") == "log")
    if logs.height == 0:
        return events
    rest = events.filter(pl.col("kind") != "log")
    # time order (a stable sort keeps the documents' own order among equal timestamps: an ES
    # export's `sort` on log.offset, a same-millisecond stack trace's lines)
    logs = logs.with_row_index("_doc").sort("ts", maintain_order=True, nulls_last=True)
    n = logs.height
    lab = ctx.labels
    # a file's own name (entities.file_entity) is the pod only of rows whose document names none;
    # rows naming a pod fold in that pod's partition
    file_pod = lab["pod"][0] if lab.get("pod", ("", ""))[1] == "file" else None
    df = logs.select(
        pl.col("message").fill_null("").alias("line"),
        pl.int_range(1, n + 1, dtype=pl.Int64).alias("line_no"),  # the documents' order, for FOLD_WINDOW
        pl.col("byte_offset").cast(pl.Int64),
        pl.lit(0, pl.Int64).alias("line_len"),
        pl.col("message").fill_null("").str.strip_chars_end("\n").alias("payload"),
        pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ").alias("env_ts_text"),
        pl.col("stream"),
        pl.lit(False).alias("partial"),
        pl.coalesce("pod", pl.lit(file_pod, pl.String)).alias("env_pod"),
        pl.col("container").alias("env_container"),
        pl.col("namespace").alias("env_namespace"),
        pl.col("host").alias("env_host"),
        pl.col("service").alias("env_service"),
        pl.lit(True).alias("env_ok"),
        pl.col("message").fill_null("").str.starts_with("{").alias("env_json"),
        pl.col("_doc"),
    )
    df = df.with_columns([pl.col(c).cast(t) for c, t in ENV_COLUMNS.items() if c in df.columns])
    df = annotate_split(df, ctx)
    doc_level = logs.get_column("level")
    df = df.with_columns(pl.coalesce(pl.Series("_dl", doc_level, pl.String), pl.col("level")).alias("level"))
    df = assign_events(mark_continuations(df))
    df = entity_columns(df, ctx)
    if index is not None:
        # every message in the line index, at its document's own line (as the line path counts lines)
        pos = logs.select(pl.int_range(1, n + 1, dtype=pl.Int64).alias("line_no"), pl.col("line_no").alias("_doc_line"))
        index.append(_line_index(df.join(pos, on="line_no", how="left").with_columns(pl.col("_doc_line").alias("line_no"))))
    folded, _ = build_events(df, ctx, selected=True, every=True)
    # the document's own fields of each event's first row: its time (not re-parsed from text),
    # position, ids, and which field named the entity
    head = logs.with_row_index("_pos").select(
        (pl.col("_pos") + 1).cast(pl.Int64).alias("line_no"),
        *[pl.col(c).alias(f"_d_{c}") for c in _DOC_KEEP if c != "line_no"],
        pl.col("line_no").alias("_d_line_no"),
    )
    folded = folded.join(head, on="line_no", how="left")
    folded = folded.with_columns(
        pl.col("_d_ts").cast(UTC_US).alias("ts"),
        pl.col("_d_ts_text").alias("ts_text"),
        pl.col("_d_line_no").alias("line_no"),
        pl.col("_d_byte_offset").alias("byte_offset"),
        pl.coalesce("_d_level", "level").alias("level"),
        pl.coalesce("_d_pid", "pid").alias("pid"),
        pl.coalesce("_d_trace_id", "trace_id").alias("trace_id"),
        pl.coalesce("_d_span_id", "span_id").alias("span_id"),
        pl.coalesce("_d_entity_source", "entity_source").alias("entity_source"),
        pl.when(pl.col("attrs").is_in(["{}", None]) & pl.col("_d_attrs").is_not_null()).then(pl.col("_d_attrs")).otherwise(pl.col("attrs")).alias("attrs"),
    )
    folded = conform(folded.select([c for c in EVENT_COLUMNS if c in folded.columns]))
    return pl.concat([conform(rest), folded], how="vertical_relaxed") if rest.height else folded
