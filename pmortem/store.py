"""Writing a source's chunks to DuckDB: each in one transaction with its resume point.

A run killed at any moment leaves a database whose counts match what it holds; the next
run continues from the resume point (`sources.bytes_done`, `lines_done`).
"""

from __future__ import annotations

import contextlib
import json

import polars as pl

from .parsers.entities import RESOLVE_STATEMENTS
from .parsers.events import ChunkResult
from .parsers.requests import BUCKET_COLUMNS
from .parsers.requests import KEY as REQUEST_KEY

TAIL_FIELDS = ("lines", "lines_parsed", "lines_rejected", "lines_folded", "lines_generic", "events", "lines_duplicate")


@contextlib.contextmanager
def transaction(con):
    """BEGIN ... COMMIT, or ROLLBACK when the body raises."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


class _Stream:
    """A frame for DuckDB through the Arrow PyCapsule interface. DuckDB reads a polars
    frame itself through `to_arrow()`, which needs pyarrow; this reads the same Arrow data
    without it (pyarrow and numpy's import is about 65 ms of every ingest's start)."""

    __slots__ = ("_df",)

    def __init__(self, df: pl.DataFrame):
        self._df = df

    def __arrow_c_stream__(self, requested_schema=None):
        return self._df.__arrow_c_stream__(requested_schema)


def insert(con, table: str, df: pl.DataFrame, source_id: int) -> None:
    if df.height == 0:
        return
    df = df.with_columns(pl.lit(source_id, pl.Int32).alias("source_id"))
    cols = ", ".join(df.columns)
    con.register("_batch", _Stream(df))
    try:
        con.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _batch")
    finally:
        con.unregister("_batch")


def insert_events(con, df: pl.DataFrame, source_id: int, dedup: bool = True) -> int:
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


def commit_chunk(con, source_id: int, res: ChunkResult, bytes_done: int, lines_done: int, dedup: bool = True,
                 *, tail_at: tuple[int, int] | None = None) -> None:
    """One chunk in one transaction, with the source's resume point.

    `tail_at` (byte offset, line number): this chunk is the file's open tail, its last event
    and whatever follows it; what it adds is recorded in sources.tail (see reopen_tail)."""
    with transaction(con):
        dup_lines = insert_events(con, res.events, source_id, dedup)
        insert(con, "rejects", res.rejects, source_id)
        insert(con, "line_index", res.index, source_id)
        if res.requests is not None:
            insert(con, "requests", res.requests, source_id)
        if res.lines is not None:
            insert(con, "lines", res.lines, source_id)
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


def reopen_tail(con, source_id: int, tail: dict, store_lines: bool) -> None:
    """Take back what the file's open tail added (its own chunk: lines from tail["line"] on),
    so an append reads it again together with what follows it, as a clean ingest would."""
    line = int(tail["line"])
    with transaction(con):
        for table, col in (("events", "line_no"), ("rejects", "line_no"), ("line_index", "first_line"), ("requests", "first_line")):
            con.execute(f"DELETE FROM {table} WHERE source_id = ? AND {col} >= ?", [source_id, line])
        if store_lines:
            con.execute("DELETE FROM lines WHERE source_id = ? AND line_no >= ?", [source_id, line])
        sets = ", ".join(f"{f} = {f} - ?" for f in TAIL_FIELDS)
        con.execute(
            f"UPDATE sources SET {sets}, bytes_done = ?, lines_done = ?, tail = NULL WHERE source_id = ?",
            [*(int(tail[f]) for f in TAIL_FIELDS), int(tail["offset"]), line - 1, source_id],
        )


def forget_rows(con, source_id: int) -> None:
    """A source read again from its start (a JSON document cannot be resumed half-way)."""
    with transaction(con):
        for table in ("events", "rejects", "line_index", "requests"):
            con.execute(f"DELETE FROM {table} WHERE source_id = ?", [source_id])
    con.execute("UPDATE sources SET lines=0, lines_parsed=0, lines_rejected=0, lines_folded=0, lines_generic=0, events=0 WHERE source_id = ?", [source_id])


# A source's per-chunk rows of the same key, merged into one: (table, key columns, aggregates).
# Chunk boundaries depend on how the source was read (chunk size, a request-heavy chunk's
# weight, Spark's byte ranges), the merged rows only on the lines: the same file gives the
# same line_index and requests rows however it was cut.
_COMPACT = (
    (
        "line_index",
        ("minute", "service", "pod", "container", "level"),
        {
            "lines": "sum(lines)::BIGINT",
            "first_line": "min(first_line)",
            "last_line": "max(last_line)",
            "first_offset": "min(first_offset)",
            "end_offset": "max(end_offset)",
        },
    ),
    (
        "requests",
        REQUEST_KEY,
        {
            "requests": "sum(requests)::BIGINT",
            "latency_n": "sum(latency_n)::BIGINT",
            "latency_sum_ms": "sum(latency_sum_ms)",
            "latency_max_ms": "max(latency_max_ms)",
            **{c: f"sum({c})::BIGINT" for c in BUCKET_COLUMNS},
            # each row's latencies are in line order and a key's rows do not interleave
            # (chunks are consecutive line ranges): concatenated by first line, as one chunk
            # (not list(... ORDER BY first_line): an ordered aggregate holds a sort buffer per
            # group, out of memory under ingest's 64MB limit with a few thousand keys)
            "latencies_ms": "flatten(list_transform(list_sort(list({'f': first_line, 'l': latencies_ms})), lambda x: x.l))",
            "first_ts": "min(first_ts)",
            "last_ts": "max(last_ts)",
            "first_line": "min(first_line)",
            "last_line": "max(last_line)",
        },
    ),
)


SLICE_ROWS = 400_000
MAX_TOUCHED_ROW_GROUPS = 48  # (x 256 KiB of delete versions, within ingest's 64MB DuckDB limit)


def _slices(con, table: str, t: str, source_id: int):
    """(condition, parameters) per slice of a source's rows by time column `t`: bounds at
    approximate quantiles (bounded memory), each slice [lo, hi), the last one closed, and the
    rows without a time."""
    n, lo, hi = con.execute(f"SELECT count(*), min({t}), max({t}) FROM {table} WHERE source_id = $s", {"s": source_id}).fetchone()
    k = -(-n // SLICE_ROWS)
    bounds = [lo]
    if k > 1:
        qs = con.execute(
            f"SELECT approx_quantile({t}, [{', '.join(f'{i / k:.6f}' for i in range(1, k))}]) FROM {table} WHERE source_id = $s",
            {"s": source_id},
        ).fetchone()[0]
        bounds += sorted({q for q in qs if q is not None and lo < q < hi})
    if lo is not None:
        bounds.append(hi)
        for i in range(len(bounds) - 1):
            op = "<=" if i == len(bounds) - 2 else "<"
            yield f"{t} >= $lo AND {t} {op} $hi", {"lo": bounds[i], "hi": bounds[i + 1]}
    yield f"{t} IS NULL", {}


def compact_source(con, source_id: int, tail_line: int | None = None) -> dict[str, int]:
    """Merge the rows a source's chunks wrote for the same key (a minute of the line index
    cut by a chunk boundary, a second of the request rollup). Rows of the open tail
    (first_line >= `tail_line`, which an append takes back by line) are merged only among
    themselves. Returns the rows removed per table."""
    cut = tail_line if tail_line is not None else 2**62
    removed = {}
    with transaction(con):
        for table, key, aggs in _COMPACT:
            keys = ", ".join(key)
            # the keys seen twice, by a hash first: one narrow pass over the source's rows
            # (1.3M rollup rows: 0.17 CPU-s, against 0.5 s grouping by the eight columns and
            # 3.9 s aggregating every row); a collision only adds a candidate, checked below
            h = f"hash({keys}, first_line >= $cut)"
            con.execute("CREATE OR REPLACE TEMP TABLE _cand (h UBIGINT)")
            # in slices of about SLICE_ROWS rows by the key's own time column (a key never spans
            # two slices): the hash table of one slice fits ingest's small DuckDB memory limit
            # (6.7M rollup rows of a 5 GB export in one go: out of memory at 64MB)
            t = key[0] if table == "line_index" else "second"
            for where, params in _slices(con, table, t, source_id):
                con.execute(
                    f"""INSERT INTO _cand SELECT {h} AS h FROM {table} WHERE source_id = $s AND {where}
                        GROUP BY h HAVING count(*) > 1""",
                    {"s": source_id, "cut": cut, **params},
                )
            (n_cand,) = con.execute("SELECT count(*) FROM _cand").fetchone()
            if not n_cand:
                con.execute("DROP TABLE _cand")
                removed[table] = 0
                continue
            # the candidates' rows (few: keys cut by a chunk boundary) into a small table first;
            # merging and deleting then join small tables only (a DELETE ... USING joined to the
            # whole table ran out of memory under ingest's 64MB limit)
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _rows AS
                    SELECT rowid AS _rid, first_line >= $cut AS _tail, * EXCLUDE (source_id)
                    FROM {table} WHERE source_id = $s AND {h} IN (SELECT h FROM _cand)""",
                {"s": source_id, "cut": cut},
            )
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _compact AS
                    SELECT {keys}, _tail, count(*) AS _n,
                           {", ".join(f"{e} AS {c}" for c, e in aggs.items())}
                    FROM _rows GROUP BY {keys}, _tail HAVING count(*) > 1"""
            )
            (n,) = con.execute("SELECT coalesce(sum(_n - 1), 0) FROM _compact").fetchone()
            if n:
                same = " AND ".join(f"r.{k} IS NOT DISTINCT FROM m.{k}" for k in key)
                rids = [r for (r,) in con.execute(
                    f"SELECT r._rid FROM _rows r JOIN _compact m ON {same} AND r._tail = m._tail ORDER BY 1"
                ).fetchall()]
                if len({r // 8192 for r in rids}) > MAX_TOUCHED_ROW_GROUPS:
                    # a delete holds a version block (256 KiB) per row group it touches until the
                    # transaction ends: a 5 GB request-heavy export's 9k rows over ~800 row groups
                    # ran out of ingest's 64MB limit. Such a source keeps its rows per chunk (the
                    # sums, counts and latencies are the same; only the row split differs).
                    con.execute("DROP TABLE _rows; DROP TABLE _compact; DROP TABLE _cand")
                    removed[table] = 0
                    continue
                # as literal lists: `rowid IN (SELECT ...)` over the whole table ran out of memory
                # under ingest's 64MB limit
                for i in range(0, len(rids), 1000):
                    con.execute(f"DELETE FROM {table} WHERE rowid IN ({', '.join(map(str, rids[i:i + 1000]))})")
                cols = [*key, *aggs]
                con.execute(
                    f"INSERT INTO {table} (source_id, {', '.join(cols)}) SELECT $s, {', '.join(cols)} FROM _compact",
                    {"s": source_id},
                )
            con.execute("DROP TABLE _rows")
            con.execute("DROP TABLE _compact; DROP TABLE _cand")
            removed[table] = int(n)
    return removed


def resolve_entities(con) -> None:
    """The entity rules that apply across sources (parsers/entities.py), in one transaction."""
    with transaction(con):
        for sql in RESOLVE_STATEMENTS:
            con.execute(sql)
