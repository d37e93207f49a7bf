from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from pmortem.cli import main

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"
LOGHUB = REPO.parent / "shared" / "corpora" / "loghub"


class Cli:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.db = str(tmp / "t.duckdb")

    def run(self, *args: str, input: str | bytes | None = None, db: bool = True):
        argv = list(args)
        if db and "--db" not in argv:
            argv += ["--db", self.db]
        res = CliRunner().invoke(main, argv, input=input, catch_exceptions=False)
        return res

    def ok(self, *args: str, **kw):
        res = self.run(*args, **kw)
        assert res.exit_code == 0, (res.exit_code, res.output)
        return res

    def sources(self) -> list[dict]:
        return json.loads(self.ok("sources", "--format", "json").stdout)

    def sql(self, q: str):
        con = duckdb.connect(self.db, read_only=True)
        try:
            return con.execute(q).fetchall()
        finally:
            con.close()


@pytest.fixture
def cli(tmp_path, monkeypatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path)


def local_spark():
    """The tests' Spark session (`local[2]`, no UI): the active one when a module already
    started it, else a new one. Returns (session, started_here)."""
    import sys

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    session = active or (
        SparkSession.builder.master("local[2]")
        .appName("pmortem-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session, active is None


def table_rows(db: Path, table: str) -> list[tuple]:
    """A table's rows (without source_id, with their source's path), sorted: for comparing two
    databases row for row. A float sum added up in another order may differ in its last bit:
    latency_sum_ms is rounded."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = [r[0] for r in con.execute(f"DESCRIBE {table}").fetchall() if r[0] != "source_id"]
        sel = ", ".join(f"round(t.{c}, 6)" if c == "latency_sum_ms" else f"t.{c}" for c in cols)
        return con.execute(f"SELECT s.path, {sel} FROM {table} t JOIN sources s USING (source_id) ORDER BY ALL").fetchall()
    finally:
        con.close()


def loghub(system: str) -> Path:
    p = LOGHUB / system / f"{system}_2k.log"
    if not p.exists():
        pytest.skip(f"Loghub corpus not present at {LOGHUB}")
    return p


def require(path: Path) -> Path:
    assert path.exists(), f"sample {path} is missing; regenerate with samples/repro/make_samples.sh"
    return path


os.environ.setdefault("POLARS_MAX_THREADS", "2")


def pytest_addoption(parser):
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files (tests/golden/*.md) from the current output instead of comparing.",
    )
