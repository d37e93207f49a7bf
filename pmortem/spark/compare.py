"""Row-for-row comparison of a local database and a Parquet dataset (tests, bench/bench_spark.py).

Each table's rows as a multiset (order ignored), `source_id` replaced by the source's path
(ids are the local numbering on both sides today; the path makes the check independent of
it). Returns, per table, how many rows each side has that the other lacks. `rename`: (prefix,
local prefix): the dataset's paths that start with `prefix` compared as if they started with
`local prefix` instead (a dataset ingested from s3://bucket/logs/ against a local copy)."""

from __future__ import annotations

import duckdb

# the tables the acceptance compares, and the columns that say where a row came from
TABLES = ("events", "line_index", "rejects", "requests")


def _path(col: str, rename: tuple[str, str] | None) -> str:
    if not rename:
        return col
    a, b = (x.replace("'", "''") for x in rename)
    return f"CASE WHEN starts_with({col}, '{a}') THEN '{b}' || {col}[{len(rename[0]) + 1}:] ELSE {col} END"


def _keyed(con: duckdb.DuckDBPyConnection, table: str, ref: str, rename: tuple[str, str] | None = None) -> str:
    cols = [(r[0], r[1]) for r in con.execute(f"DESCRIBE {ref}.{table}").fetchall() if r[0] != "source_id"]
    # a float sum (a request rollup row merged from two chunks) may differ in its last bit
    sel = ", ".join(f'round(t."{c}", 9)' if ty == "DOUBLE" else f't."{c}"' for c, ty in cols)
    return f"SELECT {_path('s.path', rename)} AS _path, {sel} FROM {ref}.{table} t JOIN {ref}.sources s USING (source_id)"


def differences(db: str, data: str, tables=TABLES, rename: tuple[str, str] | None = None) -> dict[str, tuple[int, int, int, int]]:
    """{table: (rows local, rows dataset, only local, only dataset)}."""
    from .dataset import open_dataset

    con = open_dataset(data)
    try:
        con.execute(f"ATTACH '{db}' AS loc (READ_ONLY)")
        out = {}
        for t in tables:
            a, b = _keyed(con, t, "loc"), _keyed(con, t, "memory", rename)
            (na,) = con.execute(f"SELECT count(*) FROM ({a})").fetchone()
            (nb,) = con.execute(f"SELECT count(*) FROM ({b})").fetchone()
            (oa,) = con.execute(f"SELECT count(*) FROM ({a} EXCEPT ALL {b})").fetchone()
            (ob,) = con.execute(f"SELECT count(*) FROM ({b} EXCEPT ALL {a})").fetchone()
            out[t] = (na, nb, oa, ob)
        return out
    finally:
        con.close()


def source_counts(con: duckdb.DuckDBPyConnection, ref: str = "", rename: tuple[str, str] | None = None) -> list[tuple]:
    """Per source (by path, `rename`d as in `differences`): the line accounting, status and entities."""
    p = f"{ref}." if ref else ""
    return con.execute(
        f"""SELECT {_path("path", rename)} AS path, format, service, namespace, pod, container, host, lines, lines_parsed, lines_rejected,
                   lines_folded, lines_generic, lines_duplicate, events, first_ts, last_ts, status, error, fingerprint
            FROM {p}sources ORDER BY 1"""
    ).fetchall()
