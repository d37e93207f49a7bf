"""Log templates that surged or appeared in the incident window, against a baseline.

For incidents no rule knows. Ingest indexes every line (line_index: per source, pod and
minute, the byte range holding those lines) instead of copying it; here we re-read only the
bytes of the window and of a baseline before it, group the lines into templates with the
miner of analyzer/templates.py and compare rates.

The baseline is the equally long span before the window when the logs hold it, else the part
of the logs before the window, else none (`baseline.basis` says which). Rates, not counts, are
compared, so a baseline shorter than the window does not inflate a steady template. Stack
frames and other continuation lines belong to the event above them and are never templates.
A template is "new" only when the pods logging it in the window were logging in the baseline.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import polars as pl

# polars and the parsers are imported when lines are re-read, not with the report: a report whose
# window has no readable lines (files moved away, a Parquet dataset from elsewhere) never needs them

MAX_BYTES = 256 * 1024 * 1024  # re-read at most this much; the rest is reported as skipped
MIN_Z = 3.0  # a surge must stand this many Poisson standard deviations above the baseline rate


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
    import polars as pl

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


def _extent(con: duckdb.DuckDBPyConnection) -> tuple[dt.datetime | None, dt.datetime | None]:
    """First and last minute of the indexed text lines (all sources)."""
    return con.execute(
        """
        SELECT min(i.minute), max(i.minute) FROM line_index i JOIN sources s USING (source_id)
        WHERE i.minute IS NOT NULL AND s.format NOT IN ('document', 'document_lines', 'otel_span_ndjson')
        """
    ).fetchone()


def _reread(con, since, until, tz, out) -> pl.DataFrame | None:
    from ..parsers.readers import is_uri, read_range
    from ..remote import readable

    frames = []
    budget = MAX_BYTES
    for sid, path, abspath, fmt, lo, hi, first_line, src_pod, encoding, src_ctr in _ranges(con, since, until):
        if lo is None or hi is None or hi <= lo:
            continue
        if abspath in (None, "-") or not (os.path.exists(abspath) or (is_uri(abspath) and readable(abspath))):
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
        import polars as pl

        from ..parsers.pipeline import payload_lines
        from ..parsers.readers import Chunk
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
        return None
    from .templates import is_continuation

    df = pl.concat(frames, how="diagonal_relaxed").filter(pl.col("ts").is_not_null())
    # continuation lines the envelope stamped with a time of their own (kubectl, CRI): pieces of
    # a pretty-printed object or stack below an event line, never templates of their own
    return df.filter(~is_continuation(pl.col("payload")))


def template_surge(con: duckdb.DuckDBPyConnection, since: dt.datetime, until: dt.datetime, *, top: int = 10,
                   min_count: int = 3, min_factor: float = 3.0, tz: str = "UTC") -> dict:
    length = max(until - since, dt.timedelta(minutes=5))
    first_min, _last_min = _extent(con)
    b_since = since - length
    if first_min is not None and first_min < since:
        b_since = max(b_since, first_min)
    out: dict = {"window": {"start": since, "end": until},
                 "baseline": {"start": b_since, "end": since, "basis": "none"},
                 "bytes_read": 0, "window_lines": 0, "baseline_lines": 0, "duplicate_lines": 0, "skipped": [], "rows": [],
                 "window_minutes": None, "baseline_minutes": None}
    df = _reread(con, b_since, until, tz, out)
    if df is None:
        out["baseline"].update(start=None, end=None, basis="none: no lines in or before the window")
        return out
    import polars as pl

    from .templates import message_expr, mine
    df, out["duplicate_lines"] = _drop_cross_export_copies(df)
    df = df.filter((pl.col("ts") >= b_since) & (pl.col("ts") < until))
    df = df.with_columns(
        pl.when(pl.col("ts") >= since).then(pl.lit("window")).otherwise(pl.lit("baseline")).alias("period"),
        message_expr(pl.col("payload")).alias("message"),
        pl.coalesce("pod", "source").alias("entity"),
    ).filter(pl.col("message").str.strip_chars().str.len_chars() > 0)
    if df.height == 0:
        out["baseline"].update(start=None, end=None, basis="none: no lines in or before the window")
        return out
    m = mine(df.get_column("message").str.slice(0, 400))
    df = df.with_columns(m.get_column("template_id"), m.get_column("template").str.slice(0, 200))
    win = df.filter(pl.col("period") == "window")
    base = df.filter(pl.col("period") == "baseline")
    out["window_lines"], out["baseline_lines"] = win.height, base.height
    # the spans the lines cover: the window up to its last line's minute, the baseline from its first line
    w_end = min(until, win.get_column("ts").max() + dt.timedelta(minutes=1)) if win.height else until
    w_start = since if base.height else max(since, win.get_column("ts").min().replace(second=0, microsecond=0))
    w_min = max((w_end - w_start).total_seconds() / 60, 1.0)
    if base.height:
        b_start = max(b_since, base.get_column("ts").min().replace(second=0, microsecond=0))
        full = b_start <= since - length
        b_start = since - length if full else b_start
        b_min = max((since - b_start).total_seconds() / 60, 1.0)
        basis = ("the equally long span before the window" if full else
                 f"the first {b_min:,.0f} minutes of the logs, before the window (shorter than the window; rates compared per minute)")
        out["baseline"].update(start=b_start, basis=basis)
    else:
        b_min = None
        out["baseline"].update(start=None, end=None, basis=("none: the logs begin inside the window, so no template can be called new or surging; "
            "the most frequent templates of the window are listed"))
    out["window_minutes"], out["baseline_minutes"] = round(w_min, 2), (round(b_min, 2) if b_min else None)
    covered = base.get_column("entity").unique()  # entities (pods, else sources) with lines in the baseline
    agg = (
        df.group_by("template_id")
        .agg(
            pl.col("template").first(),
            (pl.col("period") == "window").sum().alias("window_count"),
            (pl.col("period") == "baseline").sum().alias("baseline_count"),
            ((pl.col("period") == "window") & pl.col("entity").is_in(covered.implode())).sum().alias("covered_count"),
            pl.col("pod").filter(pl.col("period") == "window").drop_nulls().unique().sort().head(5).alias("pods"),
            pl.col("level").filter(pl.col("period") == "window").drop_nulls().mode().sort().first().alias("level"),
            pl.struct("source", "line_no", "payload").filter(pl.col("period") == "window").first().alias("example"),
            pl.col("ts").filter(pl.col("period") == "window").min().alias("first_seen"),
        )
        .filter(pl.col("window_count") >= min_count)
    )
    if b_min is None:
        agg = agg.with_columns(pl.lit(None, pl.Float64).alias("factor"), pl.lit(False).alias("new"))
    else:
        # rate ratio (per minute, +1 smoothing) and how far the window count stands above the
        # count the baseline rate predicts (Poisson z): a steady template is never a surge
        expected = pl.col("baseline_count") * (w_min / b_min)
        agg = agg.with_columns(
            (((pl.col("window_count") + 1) / w_min) / ((pl.col("baseline_count") + 1) / b_min)).alias("factor"),
            ((pl.col("window_count") - expected) / (expected + 1).sqrt()).alias("z"),
            ((pl.col("baseline_count") == 0) & (pl.col("covered_count") >= min_count)).alias("new"),
        ).filter(pl.col("new") | ((pl.col("baseline_count") > 0) & (pl.col("factor") >= min_factor) & (pl.col("z") >= MIN_Z)))
    agg = agg.sort(["window_count", "template"], descending=[True, False]).head(top)  # ties: by text, stable
    for r in agg.iter_rows(named=True):
        ex = r["example"] or {}
        f = r["factor"]
        out["rows"].append({
            "template": r["template"],
            "window_count": r["window_count"],
            "baseline_count": r["baseline_count"],
            "factor": None if f is None or math.isnan(f) else round(f, 2),
            "new": bool(r["new"]),
            "level": r["level"],
            "pods": r["pods"],
            "first_seen": r["first_seen"],
            "example": {"source": ex.get("source"), "line": ex.get("line_no"), "text": ex.get("payload")},
        })
    return out
