"""Bytes -> lines -> envelope -> payload -> events, one chunk at a time.

`parse_chunk` is pure: it takes a chunk of whole lines and the source's context
and returns frames (events, per-minute line index, rejects) plus counts that
reconcile: lines = parsed + rejected, parsed = events + generic + folded.
The per-line annotation and the event builder it shares with the native scanner
are in events.py.
"""

from __future__ import annotations

import io
from datetime import datetime

import orjson
import polars as pl

from .envelopes import split_envelope
from .events import (
    ENTITY_FIELDS,
    FOLD_PARTITION,
    FOLD_WINDOW,
    INDEX_SCHEMA,
    K8S_SUFFIX,
    PY_ENVELOPES,
    REJECT_SCHEMA,
    REQUIRES_TS,
    ChunkResult,
    SourceContext,
    annotate,
    assign_events,
    build_events,
    entity_columns,
    group_events,
    json_fields,
    long_line_sample,
    mark_continuations,
    parse_env_ts,
    payload_timestamps,
    split_python_envelope,
)
from .payloads import CONTINUATION_RE, level_expr
from .readers import MAX_LINE_BYTES, Chunk
from .schema import EVENT_COLUMNS, UTC_US, conform

# (re-exported: callers and tests take these from here)
__all__ = [
    "ENTITY_FIELDS", "FOLD_WINDOW", "INDEX_SCHEMA", "K8S_SUFFIX", "REJECT_SCHEMA", "REQUIRES_TS", "ChunkResult",
    "SourceContext", "annotate", "build_events", "group_events", "json_fields", "parse_chunk",
    "parse_chunk_reference", "payload_lines", "split_lines",
]


# ---------------------------------------------------------------- lines
def split_lines(chunk: Chunk) -> pl.DataFrame:
    """line, line_no, byte_offset, line_len (bytes, without newline), reject."""
    return _split_lines(chunk)


def _split_lines(chunk: Chunk) -> pl.DataFrame:
    data = chunk.data
    if not data:
        return pl.DataFrame(schema={"line": pl.String, "line_no": pl.Int64, "byte_offset": pl.Int64, "line_len": pl.Int64, "reject": pl.String})
    # (the CSV reader drops a leading BOM wherever the chunk starts; only at offset 0 is it the
    # file's, elsewhere its bytes are text of the line: the exact path keeps them)
    if b"\x00" not in data and b"\r" not in data and not (chunk.offset and data.startswith(b"\xef\xbb\xbf")):
        try:
            df = pl.read_csv(
                io.BytesIO(data),
                has_header=False,
                separator="\x00",
                quote_char=None,
                new_columns=["line"],
                infer_schema=False,
                encoding="utf8",
            )
            if df.width == 1:
                n = df.height
                df = df.with_columns(pl.col("line").fill_null(""))
                # the CSV reader drops a leading UTF-8 BOM; its 3 bytes still belong to line 1
                bom = 3 if chunk.offset == 0 and data.startswith(b"\xef\xbb\xbf") else 0
                df = df.with_columns(
                    line_len=pl.col("line").str.len_bytes().cast(pl.Int64) + pl.when(pl.int_range(pl.len()) == 0).then(bom).otherwise(0)
                )
                df = df.with_columns(
                    line_no=pl.int_range(chunk.first_line, chunk.first_line + n, dtype=pl.Int64),
                    byte_offset=(pl.col("line_len") + 1).cum_sum().shift(1, fill_value=0) + chunk.offset,
                    reject=pl.when(pl.col("line_len") > MAX_LINE_BYTES)
                    .then(pl.lit(f"line too long (over {MAX_LINE_BYTES} bytes)"))
                    .otherwise(None),
                )
                return df.with_columns(pl.when(pl.col("reject").is_null()).then(pl.col("line")).otherwise(pl.col("line").str.slice(0, 200)))
        except Exception:  # noqa: BLE001 - any CSV reader complaint sends us to the exact slow path
            pass
    return _split_lines_slow(chunk)


def _split_lines_slow(chunk: Chunk) -> pl.DataFrame:
    parts = chunk.data.split(b"\n")
    if chunk.data.endswith(b"\n"):
        parts.pop()
    lines, lens, rejects = [], [], []
    # a UTF-8 byte-order mark at offset 0 belongs to the file, not to its first line's text
    # (one of them: the CSV reader of the fast path drops one too)
    bom = chunk.offset == 0 and chunk.data.startswith(b"\xef\xbb\xbf")
    for raw in parts:
        lens.append(len(raw))
        body = raw[:-1] if raw.endswith(b"\r") else raw
        if bom:
            body, bom = body[3:], False
        if len(raw) > MAX_LINE_BYTES:
            lines.append(long_line_sample(body))
            rejects.append(f"line too long (over {MAX_LINE_BYTES} bytes)")
        elif b"\x00" in body:
            lines.append(body[:200].decode("utf-8", "replace").replace("\x00", "\\0"))
            rejects.append("binary data (NUL bytes)")
        else:
            try:
                lines.append(body.decode("utf-8"))
                rejects.append(None)
            except UnicodeDecodeError:
                lines.append(body[:200].decode("utf-8", "replace"))
                rejects.append("undecodable bytes (not UTF-8)")
    n = len(lines)
    df = pl.DataFrame(
        {"line": lines, "line_len": lens, "reject": rejects},
        schema={"line": pl.String, "line_len": pl.Int64, "reject": pl.String},
    )
    return df.with_columns(
        line_no=pl.int_range(chunk.first_line, chunk.first_line + n, dtype=pl.Int64),
        byte_offset=(pl.col("line_len") + 1).cum_sum().shift(1, fill_value=0) + chunk.offset,
    )


def _span_events(df: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[int, int, str]]]:
    """One span per line (flat OTel JSON). Returns canonical events and rejects."""
    from .documents import span_from_record

    rows, rejects = [], []
    for line, no, off in df.select("line", "line_no", "byte_offset").iter_rows():
        try:
            rec = orjson.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
            ev = span_from_record(rec)
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
            reason = "bad JSON" if isinstance(exc, orjson.JSONDecodeError) else f"not a span record ({exc})"
            rejects.append((no, off, reason))
            continue
        if ev.get("ts") is None:
            rejects.append((no, off, "no timestamp (startTimeUnixNano missing)"))
            continue
        ev["line_no"], ev["byte_offset"], ev["line_count"] = no, off, 1
        if isinstance(ev.get("attrs"), dict):
            ev["attrs"] = orjson.dumps(ev["attrs"], default=str).decode()
        rows.append(ev)
    if rows:
        events = conform(pl.DataFrame(rows, infer_schema_length=None, strict=False))
    else:
        events = pl.DataFrame(schema=EVENT_COLUMNS)
    return events, rejects


def parse_chunk(chunk: Chunk, ctx: SourceContext, *, final: bool) -> ChunkResult:
    from . import native

    if native.eligible(ctx):
        return native.parse_chunk_native(chunk, ctx, final=final)
    return parse_chunk_reference(chunk, ctx, final=final)




def parse_chunk_reference(chunk: Chunk, ctx: SourceContext, *, final: bool) -> ChunkResult:
    """The polars path: every envelope, and the reference the native scanner is tested against."""
    if not isinstance(chunk.data, bytes):
        chunk = Chunk(bytes(chunk.data), chunk.first_line, chunk.offset)
    lines = split_lines(chunk)
    n_total = lines.height
    if ctx.envelope == "otel_span_ndjson":
        return _parse_span_chunk(lines, ctx, final=final)

    good = lines.filter(pl.col("reject").is_null())
    df = annotate(good, ctx)
    payload = pl.col("payload")

    # continuation: stack traces and friends, and pieces of runtime-split lines
    part = FOLD_PARTITION
    df = mark_continuations(df)
    # a line that fits no envelope in a format that needs one, and has no timestamp of its own
    reason = (
        pl.when(pl.col("env_json") & ~pl.col("env_ok"))
        .then(pl.lit("bad JSON or not a " + ctx.envelope + " record"))
        .when(pl.lit(ctx.envelope in REQUIRES_TS) & ~pl.col("env_ok") & pl.col("minute").is_null() & ~pl.col("cont"))
        .then(pl.lit("no timestamp (not a " + ctx.envelope + " line)"))
        .when(pl.col("env_ok") & pl.col("env_ts_text").is_not_null() & pl.col("minute").is_null())
        .then(pl.lit("bad timestamp"))
        .when(pl.lit(ctx.envelope == "plain") & pl.col("is_json") & ~payload.str.strip_chars_end().str.ends_with("}"))
        .then(pl.lit("bad JSON (truncated or malformed object)"))
    )
    df = df.with_columns(reason.alias("reject"))
    late_rej = df.filter(pl.col("reject").is_not_null())
    df = df.filter(pl.col("reject").is_null())

    # events: a start row and the continuation rows that follow it in its partition
    df = assign_events(df)
    # defer the last event: it may continue in the next chunk
    tail_offset = tail_line = None
    if not final and df.height:
        # The cut: the last event start with no line after it belonging to an earlier event
        # (streams and pods interleave: a stack frame or CRI piece after the cut would lose its
        # event), not after a stream whose last piece is a runtime-split (partial) line, and
        # not after the open event of a partition that a later line could still continue
        # (its last line within FOLD_WINDOW lines of the chunk's end).
        # When that leaves nothing to store (one partition's open event fills the chunk: only
        # with chunks far smaller than the default), the open partitions are not waited for.
        last = df.group_by(part).agg(pl.col("partial").last(), pl.col("evt").last(), pl.col("line_no").last())
        open_partial = last.filter("partial").get_column("evt").min()
        open_active = last.filter(chunk.first_line + n_total - pl.col("line_no") <= FOLD_WINDOW).get_column("evt").min()
        suffix_min = pl.col("evt").reverse().cum_min().reverse()
        ok = (pl.col("evt") == pl.col("_row")) & (suffix_min >= pl.col("_row"))
        if open_partial is not None:
            ok = ok & (pl.col("_row") <= open_partial)
        last_start = None
        if open_active is not None:
            last_start = df.filter(ok & (pl.col("_row") <= open_active)).select(pl.col("_row").max()).item()
        if not last_start:
            last_start = df.filter(ok).select(pl.col("_row").max()).item()
        if last_start is not None and last_start > 0:
            row = df.row(last_start, named=True)
            tail_offset, tail_line = row["byte_offset"], row["line_no"]
            df = df.filter(pl.col("line_no") < tail_line)
            late_rej = late_rej.filter(pl.col("line_no") < tail_line)
            lines = lines.filter(pl.col("line_no") < tail_line)
            n_total = lines.height
    early_rej = lines.filter(pl.col("reject").is_not_null())

    # entities: envelope first, then the path / flags / config labels (payload ones come with events)
    df = entity_columns(df, ctx)

    index = _line_index(df)
    events, n_events = build_events(df, ctx)
    n_rows = df.height
    n_starts = df.filter(pl.col("evt") == pl.col("_row")).height
    rej = pl.concat(
        [
            early_rej.select("line_no", "byte_offset", pl.col("reject").alias("reason"), pl.col("line").str.slice(0, 200).alias("sample")),
            late_rej.select("line_no", "byte_offset", pl.col("reject").alias("reason"), pl.col("line").str.slice(0, 200).alias("sample")),
        ]
    ).sort("line_no")
    stored = None
    if ctx.store_lines:
        stored = df.select(
            "line_no", "byte_offset", pl.coalesce("ts", parse_env_ts(pl.col("env_ts_text"))).alias("ts"), pl.col("_service").alias("service"),
            pl.col("_pod").alias("pod"), pl.col("_container").alias("container"), pl.col("ev_level").alias("level"), "line",
        )
    first_ts, last_ts = _span_of(df)
    res = ChunkResult(
        events=events,
        index=index,
        rejects=rej,
        lines=stored,
        n_lines=n_total,
        n_rejected=rej.height,
        n_folded=n_rows - n_starts,
        n_generic=n_starts - n_events,
        n_events=n_events,
        tail_offset=tail_offset,
        tail_line=tail_line,
        first_ts=first_ts,
        last_ts=last_ts,
    )
    assert res.n_lines == res.n_rejected + res.n_folded + res.n_generic + res.n_events, (
        "line accounting broke",
        res.n_lines, res.n_rejected, res.n_folded, res.n_generic, res.n_events,
    )
    return res


def _span_of(df: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """First and last timestamp: parse only the lines of the first and the last minute."""
    if df.height == 0:
        return None, None
    mins = df.get_column("row_minute")
    lo, hi = mins.min(), mins.max()
    if lo is None:
        return None, None
    edge = df.filter(pl.col("row_minute").is_in([lo, hi])).select(
        pl.coalesce("ts", parse_env_ts(pl.col("env_ts_text")), "row_minute").alias("t")
    ).get_column("t")
    return edge.min(), edge.max()


def _line_index(df: pl.DataFrame) -> pl.DataFrame:
    if df.height == 0:
        return pl.DataFrame(schema=INDEX_SCHEMA)
    return (
        df.group_by(
            pl.col("row_minute").alias("minute"),
            pl.col("_service").alias("service"),
            pl.col("_pod").alias("pod"),
            pl.col("_container").alias("container"),
            pl.col("ev_level").alias("level"),
        )
        .agg(
            pl.len().cast(pl.Int64).alias("lines"),
            pl.col("line_no").min().alias("first_line"),
            pl.col("line_no").max().alias("last_line"),
            pl.col("byte_offset").min().alias("first_offset"),
            (pl.col("byte_offset") + pl.col("line_len") + 1).max().alias("end_offset"),
        )
        .select(list(INDEX_SCHEMA))
    )


def _parse_span_chunk(lines: pl.DataFrame, ctx: SourceContext, *, final: bool = True) -> ChunkResult:
    # a span is one line: the open tail is the last line (an unterminated one may go on in an
    # append), as for the other formats its last event, not the whole last chunk
    tail_offset = tail_line = None
    if not final and lines.height > 1:
        tail_offset, tail_line = lines.row(lines.height - 1, named=True)["byte_offset"], lines.get_column("line_no")[-1]
        lines = lines.head(lines.height - 1)
    good = lines.filter(pl.col("reject").is_null())
    events, span_rej = _span_events(good)
    lab = ctx.labels
    for f in ENTITY_FIELDS:
        if f in lab:
            events = events.with_columns(pl.coalesce(f, pl.lit(lab[f][0])).alias(f))
    early = lines.filter(pl.col("reject").is_not_null()).select(
        "line_no", "byte_offset", pl.col("reject").alias("reason"), pl.col("line").str.slice(0, 200).alias("sample")
    )
    late = pl.DataFrame([(n, o, r, None) for n, o, r in span_rej], schema=REJECT_SCHEMA, orient="row")
    if late.height:
        late = late.join(lines.select("line_no", pl.col("line").str.slice(0, 200).alias("s")), on="line_no").with_columns(pl.col("s").alias("sample")).drop("s")
    rej = pl.concat([early, late]).sort("line_no")
    idx_src = events.with_columns(pl.lit(0, pl.Int64).alias("line_len"))
    index = (
        idx_src.group_by(pl.col("ts").dt.truncate("1m").alias("minute"), "service", "pod", "container", "level")
        .agg(
            pl.len().cast(pl.Int64).alias("lines"),
            pl.col("line_no").min().alias("first_line"),
            pl.col("line_no").max().alias("last_line"),
            pl.col("byte_offset").min().alias("first_offset"),
            pl.col("byte_offset").max().alias("end_offset"),
        )
        .select(list(INDEX_SCHEMA))
        if events.height
        else pl.DataFrame(schema=INDEX_SCHEMA)
    )
    ts = events.get_column("ts")
    return ChunkResult(
        events=events,
        index=index,
        rejects=rej,
        lines=None,
        n_lines=lines.height,
        n_rejected=rej.height,
        n_events=events.height,
        first_ts=ts.min() if events.height else None,
        last_ts=ts.max() if events.height else None,
        tail_offset=tail_offset,
        tail_line=tail_line,
    )



def payload_lines(chunk: Chunk, envelope: str, *, tz: str = "UTC") -> pl.DataFrame:
    """Every line of a chunk as line_no, ts, pod, container, level, payload: for re-reading an indexed window.

    No folding and no classification; lines that fit nothing keep their text as payload.
    """
    from .catalogue import Catalogue

    lines = split_lines(chunk).filter(pl.col("reject").is_null())
    if lines.height == 0:
        return pl.DataFrame(schema={"line_no": pl.Int64, "ts": UTC_US, "pod": pl.String, "container": pl.String, "level": pl.String, "payload": pl.String})
    df = split_python_envelope(lines, envelope) if envelope in PY_ENVELOPES else split_envelope(lines, envelope)
    payload = pl.col("payload")
    df = df.with_columns(
        level_expr(payload, payload.str.starts_with("{")).alias("level"),
        parse_env_ts(pl.col("env_ts_text")).alias("ts"),
        pl.col("env_ts_text").alias("ts_text"),
        pl.lit(None, pl.String).alias("ts_text_payload"),
    )
    need = df.get_column("env_ts_text").is_null()
    if need.any():
        ctx = SourceContext(source_id=0, envelope=envelope, catalogue=Catalogue([]), tz=tz)
        df = payload_timestamps(df, need, ctx)
    if df.get_column("partial").any():
        # runtime-split lines: glue each P piece to the pieces that follow it in its stream
        prev = pl.col("partial").shift(1).over("stream").fill_null(False)
        df = (
            df.with_columns((~prev).cum_sum().over("stream").alias("_g"))
            .group_by("stream", "_g", maintain_order=True)
            .agg(pl.col("line_no").first(), pl.col("ts").first(), pl.col("env_pod").first(), pl.col("level").first(),
                 pl.col("env_container").first(), pl.col("payload").str.join(""), pl.col("ts_text_payload").first())
        )
    # continuation lines (stack frames, blank lines) belong to the event above them
    cont = pl.col("ts_text_payload").is_null() & ~payload.str.starts_with("{") & payload.str.contains(CONTINUATION_RE)
    return df.filter(~cont).select("line_no", "ts", pl.col("env_pod").alias("pod"), pl.col("env_container").alias("container"), "level", "payload")
