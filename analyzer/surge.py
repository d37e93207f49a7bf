"""Log templates that surged or appeared in the incident window, against a baseline window.

For incidents no rule knows. Ingest indexes every line (line_index: per source, pod and
minute, the byte range holding those lines) instead of copying it; here we re-read only the
bytes of the window and of an equally long baseline just before it, reduce each line to a
template (numbers, ids, addresses masked) and compare counts.
"""

from __future__ import annotations

import datetime as dt
import os

import duckdb
import polars as pl

from ..parsers.pipeline import payload_lines
from ..parsers.readers import Chunk, read_range

MAX_BYTES = 256 * 1024 * 1024  # re-read at most this much; the rest is reported as skipped

# Applied in order; each turns a variable part of a message into a placeholder.
MASKS: list[tuple[str, str]] = [
    (r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b", "<uuid>"),
    (r"\b\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?", "<ts>"),
    (r"\b\d\d:\d\d:\d\d(?:[.,]\d+)?\b", "<time>"),
    (r"\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b", "<ip>"),
    (r"\b(?:0x)?[0-9a-fA-F]*\d[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\b|\b(?:0x)?[0-9a-fA-F]*[a-fA-F][0-9a-fA-F]*\d[0-9a-fA-F]*\b", "<hex>"),
    (r"\b\d+(?:\.\d+)?", "<n>"),
    (r"_\d+", "_<n>"),
    (r"\s+", " "),
]


def template_expr(payload: pl.Expr) -> pl.Expr:
    """A line's template: the JSON logger's message when there is one, variable parts masked."""
    msg = pl.when(payload.str.starts_with("{")).then(
        pl.coalesce(payload.str.json_path_match("$.msg"), payload.str.json_path_match("$.message"), payload)
    ).otherwise(payload)
    t = msg.str.slice(0, 400)
    for rx, rep in MASKS:
        t = t.str.replace_all(rx, rep)
    return t.str.strip_chars().str.slice(0, 200)


def _ranges(con: duckdb.DuckDBPyConnection, since: dt.datetime, until: dt.datetime) -> list[tuple]:
    return con.execute(
        """
        SELECT s.source_id, s.path, s.abspath, s.format, min(i.first_offset), max(i.end_offset), min(i.first_line),
               any_value(s.pod), any_value(s.encoding), any_value(s.container)
        FROM line_index i JOIN sources s USING (source_id)
        WHERE i.minute >= date_trunc('minute', ?::TIMESTAMPTZ) AND i.minute < ?::TIMESTAMPTZ
          AND s.format NOT IN ('document', 'document_lines', 'otel_span_ndjson')
        GROUP BY ALL ORDER BY s.source_id
        """,
        [since, until],
    ).fetchall()


def _drop_cross_export_copies(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """The same line (pod, container, time, text) re-read from two exports counts once.

    Per line identity, the largest number of copies any one source holds is kept: two
    identical lines in one file are two lines, the same line in `kubectl logs` and in
    /var/log/pods is one. Lines without a known pod can't be matched across sources."""
    key = ["pod", "container", "ts", "payload"]
    known = pl.col("pod").is_not_null()
    if df.get_column("source_id").n_unique() < 2:
        return df, 0
    occ = df.with_columns(pl.int_range(pl.len()).over(["source_id", *key]).alias("_occ"))
    kept = pl.concat([
        occ.filter(known).unique(subset=[*key, "_occ"], keep="first", maintain_order=True),
        occ.filter(~known),
    ]).drop("_occ")
    return kept, df.height - kept.height


def template_surge(con: duckdb.DuckDBPyConnection, since: dt.datetime, until: dt.datetime, *, top: int = 10,
                   min_count: int = 3, min_factor: float = 3.0, tz: str = "UTC") -> dict:
    length = until - since
    length = max(length, dt.timedelta(minutes=5))
    b_since = since - length
    out: dict = {"window": {"start": since, "end": until}, "baseline": {"start": b_since, "end": since},
                 "bytes_read": 0, "window_lines": 0, "baseline_lines": 0, "duplicate_lines": 0, "skipped": [], "rows": []}
    frames = []
    budget = MAX_BYTES
    for sid, path, abspath, fmt, lo, hi, first_line, src_pod, encoding, src_ctr in _ranges(con, b_since, until):
        if lo is None or hi is None or hi <= lo:
            continue
        if abspath in (None, "-") or not os.path.exists(abspath):
            out["skipped"].append({"source": path, "why": "file no longer readable"})
            continue
        if hi - lo > budget:
            out["skipped"].append({"source": path, "why": f"window holds {(hi - lo) >> 20} MiB, over the re-read budget"})
            continue
        data = read_range(abspath, lo, hi, encoding)
        budget -= len(data)
        out["bytes_read"] += len(data)
        if not data:
            continue
        # the first line of the range is first_line only when the range starts at that minute's first line;
        # line numbers come from the index's first line and are exact because ranges start on line starts
        lines = payload_lines(Chunk(data, first_line, lo), fmt, tz=tz)
        single_pod = src_pod if src_pod and "," not in src_pod else None
        single_ctr = src_ctr if src_ctr and "," not in src_ctr else None
        frames.append(lines.with_columns(
            pl.lit(sid).alias("source_id"), pl.lit(path).alias("source"),
            pl.coalesce("pod", pl.lit(single_pod, pl.String)).alias("pod"),
            pl.coalesce("container", pl.lit(single_ctr, pl.String)).alias("container"),
        ))
    if not frames:
        return out
    df = pl.concat(frames, how="diagonal_relaxed").filter(pl.col("ts").is_not_null())
    df, out["duplicate_lines"] = _drop_cross_export_copies(df)
    df = df.with_columns(
        pl.when(pl.col("ts") >= since).then(pl.lit("window")).otherwise(pl.lit("baseline")).alias("period"),
        template_expr(pl.col("payload")).alias("template"),
    ).filter((pl.col("ts") >= b_since) & (pl.col("ts") < until) & (pl.col("template").str.len_chars() > 0))
    if df.height == 0:
        return out
    out["window_lines"] = int((df.get_column("period") == "window").sum())
    out["baseline_lines"] = int((df.get_column("period") == "baseline").sum())
    agg = (
        df.group_by("template")
        .agg(
            (pl.col("period") == "window").sum().alias("window_count"),
            (pl.col("period") == "baseline").sum().alias("baseline_count"),
            pl.col("pod").filter(pl.col("period") == "window").drop_nulls().unique().sort().head(5).alias("pods"),
            pl.col("level").filter(pl.col("period") == "window").drop_nulls().mode().first().alias("level"),
            pl.struct("source", "line_no", "payload").filter(pl.col("period") == "window").first().alias("example"),
            pl.col("ts").filter(pl.col("period") == "window").min().alias("first_seen"),
        )
        .with_columns(((pl.col("window_count") + 1) / (pl.col("baseline_count") + 1)).alias("factor"))
        .filter(
            (pl.col("window_count") >= min_count)
            & ((pl.col("baseline_count") == 0) | (pl.col("factor") >= min_factor))
        )
        .sort(["window_count", "factor", "template"], descending=[True, True, False])  # ties: by text, stable
        .head(top)
    )
    for r in agg.iter_rows(named=True):
        ex = r["example"] or {}
        out["rows"].append({
            "template": r["template"],
            "window_count": r["window_count"],
            "baseline_count": r["baseline_count"],
            "factor": round(r["factor"], 2),
            "new": r["baseline_count"] == 0,
            "level": r["level"],
            "pods": r["pods"],
            "first_seen": r["first_seen"],
            "example": {"source": ex.get("source"), "line": ex.get("line_no"), "text": ex.get("payload")},
        })
    return out
