"""The Parquet dataset the Spark engine writes, and DuckDB views over it.

    DIR/manifest.json                     schema version, tables and row counts, source fingerprints
    DIR/sources/data.parquet
    DIR/rejects/data.parquet
    DIR/events/date=YYYY-MM-DD/service=NAME/*.parquet       (hive partitions, rows sorted by time)
    DIR/line_index/date=.../service=.../*.parquet
    DIR/requests/date=.../service=.../*.parquet
    DIR/lines/...                         only with --store-lines

Every column of the database's table is in the files (the partition columns too), typed as
the database types it; a NULL service is the `__HIVE_DEFAULT_PARTITION__` directory.
`open_dataset` gives an in-memory DuckDB connection with pmortem's full schema in which
these tables are views over the files (the same names: queries/*.sql run unchanged); DuckDB
prunes by partition and by the row groups' min/max statistics. Nothing here imports pyspark.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

MANIFEST = "manifest.json"
FORMAT = "pmortem-parquet"
# table -> its time column (partitioned by that column's UTC date and by service)
PARTITIONED = {"events": "ts", "line_index": "minute", "requests": "second", "lines": "ts"}
TABLES = ("sources", "events", "rejects", "line_index", "requests", "lines")


def read_manifest(out: str | os.PathLike) -> dict | None:
    p = Path(out) / MANIFEST
    if not p.is_file():
        return None
    try:
        m = json.loads(p.read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) and m.get("format") == FORMAT else None


def _glob(out: Path, table: str) -> str:
    return str(out / table / "**" / "*.parquet").replace("'", "''")


def _has_files(out: Path, table: str) -> bool:
    d = out / table
    return d.is_dir() and any(d.rglob("*.parquet"))


def _columns(con, table: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE {table}").fetchall()]


def _select(cols: list[tuple[str, str]]) -> str:
    return ", ".join(f'CAST("{c}" AS {t}) AS "{c}"' for c, t in cols)


def _source(out: Path, table: str) -> str:
    return f"read_parquet('{_glob(out, table)}', hive_partitioning = true, union_by_name = true)"


def seed(db: str, out: Path) -> None:
    """The scratch database of a re-run: what the dataset holds (its sources' fingerprints
    make unchanged inputs add nothing, as in the local database)."""
    from ..db import connect

    con = connect(db)
    try:
        for t in TABLES:
            if _has_files(out, t):
                cols = _columns(con, t)
                names = ", ".join(f'"{c}"' for c, _ in cols)
                con.execute(f"INSERT INTO {t} ({names}) SELECT {_select(cols)} FROM {_source(out, t)}")
    finally:
        con.close()


def export(db: str, out: Path, work: Path) -> None:
    """The scratch database's tables as the dataset: written beside, then moved into place."""
    import duckdb

    from ..db import SCHEMA_VERSION

    tmp = work / "export"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    con = duckdb.connect(db, read_only=True)
    counts = {}
    try:
        for t in TABLES:
            (n,) = con.execute(f"SELECT count(*) FROM {t}").fetchone()
            counts[t] = n
            if not n:
                continue
            dest = str(tmp / t).replace("'", "''")
            if t in PARTITIONED:
                col = PARTITIONED[t]
                con.execute(
                    f"""COPY (SELECT *, strftime({col} AT TIME ZONE 'UTC', '%Y-%m-%d') AS date FROM {t}
                              ORDER BY {col}, source_id)
                        TO '{dest}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date, service),
                                     WRITE_PARTITION_COLUMNS true)"""
                )
            else:
                (tmp / t).mkdir()
                con.execute(f"COPY (SELECT * FROM {t} ORDER BY ALL) TO '{dest}/data.parquet' (FORMAT parquet, COMPRESSION zstd)")
        srcs = con.execute(
            "SELECT source_id, path, abspath, size, head_hash, tail_hash, fingerprint, content_head, content_size, status "
            "FROM sources ORDER BY source_id"
        ).fetchall()
    finally:
        con.close()
    keys = ("source_id", "path", "abspath", "size", "head_hash", "tail_hash", "fingerprint", "content_head",
            "content_size", "status")
    manifest = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "written_at": datetime.now(UTC).isoformat(),
        "partitioned_by": {t: ["date", "service"] for t in PARTITIONED},
        "tables": counts,
        "sources": [dict(zip(keys, r, strict=True)) for r in srcs],
    }
    for t in TABLES:
        old = out / t
        if old.exists():
            shutil.rmtree(old)
        if (tmp / t).exists():
            os.replace(tmp / t, old)
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str) + "\n")
    os.replace(work / MANIFEST, out / MANIFEST)


def open_dataset(path: str | os.PathLike):
    """An in-memory DuckDB connection over the dataset at `path`: pmortem's schema, with each
    table the dataset has files for a view over them (read-only by nature: nothing is written
    back to the files)."""
    import duckdb

    from ..db import SCHEMA_VERSION, migrate_db
    from ..errors import DatabaseMissing, SchemaTooNew, SchemaTooOld

    out = Path(path)
    m = read_manifest(out)
    if m is None:
        raise DatabaseMissing(
            f"no pmortem Parquet dataset at {path} (no {MANIFEST}); run `pmortem ingest --engine spark PATH... --out {path}` first"
        )
    v = int(m.get("schema_version", 0))
    if v > SCHEMA_VERSION:
        raise SchemaTooNew(f"dataset {path} has schema version {v}, newer than this pmortem knows ({SCHEMA_VERSION}); upgrade pmortem")
    if v < SCHEMA_VERSION:
        raise SchemaTooOld(
            f"dataset {path} has schema version {v}, older than this pmortem's ({SCHEMA_VERSION}); "
            f"write it again with `pmortem ingest --engine spark PATH... --out {path}`"
        )
    con = duckdb.connect()
    try:
        migrate_db(con, str(path))
        for t in TABLES:
            if not _has_files(out, t):
                continue  # (an empty table stays a table)
            cols = _columns(con, t)
            con.execute(f"DROP TABLE {t}")
            con.execute(f"CREATE VIEW {t} AS SELECT {_select(cols)} FROM {_source(out, t)}")
    except BaseException:
        con.close()
        raise
    return con
