"""`pmortem ingest --engine spark` (pmortem/spark) against the local engine, on a real Spark in
local[2]: the same events, line index, rejects, requests and source accounting, row for row;
the same report over the Parquet dataset; byte ranges cut where the local run cuts chunks.

One SparkSession for the whole test session (the JVM start is the slow part); the engine
takes the active session."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from datetime import UTC, datetime, timedelta

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, local_spark

import pmortem
from pmortem.cli import main
from pmortem.db import SCHEMA_VERSION
from pmortem.spark.compare import differences, source_counts
from pmortem.spark.dataset import open_dataset

# the incident bundles (samples/repro holds the programs that produced them, not logs)
BUNDLES = sorted(p for p in SAMPLES.iterdir() if p.is_dir() and p.name != "repro")


@pytest.fixture(scope="session")
def spark():
    session, started = local_spark()
    yield session
    if started:
        session.stop()


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _local_sources(db):
    con = duckdb.connect(db, read_only=True)
    try:
        return source_counts(con)
    finally:
        con.close()


def _data_sources(data):
    con = open_dataset(data)
    try:
        return source_counts(con)
    finally:
        con.close()


def _assert_same(db, data, tables=("events", "line_index", "rejects", "requests")):
    diff = differences(db, data, tables)
    for table, (n_local, n_data, only_local, only_data) in diff.items():
        assert (only_local, only_data) == (0, 0) and n_local == n_data, (table, diff[table])
    assert _data_sources(data) == _local_sources(db)
    return diff


def test_every_sample_bundle_same_tables_and_report(spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = [str(b) for b in BUNDLES]
    pmortem.ingest(paths, db="local.duckdb")
    res = _cli("ingest", *paths, "--engine", "spark", "--out", "ds", "--spark-master", "local[2]", "-q")
    assert res.exit_code == 0, res.output
    diff = _assert_same("local.duckdb", "ds")
    # something to compare: every table has rows, every bundle's files are there
    assert all(n for n, *_ in diff.values()), diff
    got = {p for p, *_ in _data_sources("ds")}
    for b in BUNDLES:
        assert any(p.startswith(str(b)) for p in got), b
    # hive partitions by date and service, and a manifest
    m = json.loads((tmp_path / "ds" / "manifest.json").read_text())
    assert m["schema_version"] == SCHEMA_VERSION
    assert len(m["sources"]) == len(got)
    assert any(p.name.startswith("service=") for p in (tmp_path / "ds" / "events").glob("date=*/*"))
    # the report over Parquet is the report over the database, but for the command line. One
    # DuckDB thread on both sides: where two exports hold the same event (es-search and
    # es-search-lines), which copy a finding quotes depends on the scan's thread timing, over
    # the database file as over Parquet (two local reports of one database differ there too)
    a = _cli("report", "--db", "local.duckdb", "-f", "json", "-q", "--threads", "1")
    b = _cli("report", "--data", "ds", "-f", "json", "-q", "--threads", "1")
    assert a.exit_code == b.exit_code == 0, (a.output, b.output)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout)
    ja.pop("command"), jb.pop("command")
    assert ja == jb
    assert ja["findings"]
    # sql and sources read the same tables
    q = "SELECT kind, count(*) FROM events GROUP BY ALL ORDER BY ALL"
    assert _cli("sql", q, "--data", "ds", "-f", "json").stdout == _cli("sql", q, "--db", "local.duckdb", "-f", "json").stdout
    sa = json.loads(_cli("sources", "--db", "local.duckdb", "-f", "json").stdout)
    sb = json.loads(_cli("sources", "--data", "ds", "-f", "json").stdout)
    assert sa == sb
    # scan over the dataset tells what a first scan of the database tells (it remembers nothing)
    a = _cli("scan", "--db", "local.duckdb", "--dry-run", "-f", "json", "-q")
    b = _cli("scan", "--data", "ds", "-f", "json", "-q")
    # (which copy of a twice-exported event a finding quotes is thread timing, see above: the
    # findings are compared by id, rule, severity and entity, with the window and the verdict)
    def told(out):
        j = json.loads(out)
        return j["window"], j["failed"], sorted((f["id"], f["rule"], f["severity"], f["entity"]) for f in j["findings"])

    assert a.exit_code == b.exit_code and told(a.stdout) == told(b.stdout) and told(b.stdout)[2]
    # a re-run over the same inputs adds nothing (and leaves the files alone)
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "ds").rglob("*"))
    summary = pmortem.ingest(paths, db=None, engine="spark", out="ds")
    assert {s.action for s in summary.sources} <= {"unchanged", "same-as"}
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "ds").rglob("*")) == before


def _java_log(path, blocks: int) -> None:
    """A Java service log: each block some INFO lines and an ERROR with a stack trace (with a
    cause and '... N more'), a second apart."""
    t0 = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    out = []
    for i in range(blocks):
        t = (t0 + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S")
        out += [
            f"{t}.010 [http-nio-8080-exec-{i % 4}] INFO  com.example.checkout.web.CartController - GET /api/cart/{i} from 10.0.0.{i % 9}",
            f"{t}.020 [http-nio-8080-exec-{i % 4}] ERROR com.example.checkout.web.CartController - Request processing failed",
            f"java.lang.RuntimeException: GET /api/cart/{i} failed",
            "\tat CheckoutApp.handleCart(CheckoutApp.java:99)",
            "\tat java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)",
            "\tat java.base/java.lang.Thread.run(Thread.java:840)",
            "Caused by: java.net.ConnectException: Connection refused",
            "\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)",
            "\t... 3 more",
            f"{t}.030 [main] INFO  com.example.checkout.Pool - pool stats active={i % 7} idle=3",
        ]
        if i == blocks // 2:
            # one trace longer than the cut search's first look-back (64 KiB): several range
            # boundaries fall inside it, and look-backs that start inside it see only frames
            out += [f"{t}.040 [main] ERROR com.example.checkout.Deep - recursion went too deep",
                    "java.lang.StackOverflowError: null"]
            out += [f"\tat com.example.checkout.Deep.walk(Deep.java:{40 + k % 7})" for k in range(3000)]
    path.write_text("\n".join(out) + "\n")


def _cri_log(path, blocks: int) -> None:
    """A CRI file: whole lines, runtime-split lines (P pieces then F), a stack trace, a bad line."""
    t0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)
    out = []
    for i in range(blocks):
        def ts(k, i=i):
            return (t0 + timedelta(seconds=i, milliseconds=k)).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")

        out += [
            f"{ts(1)} stdout F Worker {1000 + i} started",
            f"{ts(2)} stdout P Fetching translations from http://127.0.0.1:18080/translations?lang=de&part={i}&x=",
            f"{ts(3)} stdout P {'a' * 40}",
            f"{ts(4)} stdout F {'b' * 20} done",
            f"{ts(5)} stderr F Error: connect ECONNREFUSED 127.0.0.1:18080",
            f"{ts(6)} stderr F     at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1595:16)",
            f"{ts(7)} stderr F     at Socket.emit (node:events:519:28)",
        ]
        if i % 17 == 5:
            out.append("this line is not a CRI line at all")
    path.write_text("\n".join(out) + "\n")


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def java_and_cri(root):
    """A Java log with stack traces and a CRI file with P..F runs under `root`, large enough to
    be cut into several byte ranges: (java, cri)."""
    pods = root / "var/log/pods/shop_cart-5d4f7b9c8-k2x7q_0f1e2d3c-aaaa-bbbb-cccc-000000000001/cart"
    pods.mkdir(parents=True)
    java, cri = root / "checkout.log", pods / "0.log"
    _java_log(java, 120)
    _cri_log(cri, 150)
    return java, cri


def test_byte_ranges_and_bad_input_as_local(spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    java, cri = java_and_cri(logs)
    # bad input: a truncated gzip (kept as far as it reads, named damaged) and binary lines
    whole = gzip.compress(java.read_bytes().replace(b"checkout", b"payments"))
    (logs / "payments.log.gz").write_bytes(whole[: len(whole) // 2])
    (logs / "garbage.log").write_bytes(b"2026-11-27 06:00:00.000 [main] INFO  x - ok\n\x00\x01\x02 binary\n\xff\xfe not utf-8\n")
    split = min(java.stat().st_size, cri.stat().st_size) // 9
    pmortem.ingest([str(logs)], db="local.duckdb")
    summary = pmortem.ingest([str(logs)], db=None, engine="spark", out="ds", split_size=split)
    assert summary.spark["tasks"] >= 2 * 9  # each of the two plain files in at least 9 ranges
    # row for row: a source's line index and request rollup rows are merged per key at its
    # end (pmortem/store.py compact_source), wherever its chunks or ranges were cut
    _assert_same("local.duckdb", "ds", ("events", "rejects", "line_index", "requests"))
    # the ranges really cut through multi-line events: a boundary inside a stack trace (Java)
    # and inside a CRI P..F run / a stack trace (CRI); the local database says where events are
    con = duckdb.connect("local.duckdb", read_only=True)
    for f in (java, cri):
        raw = f.read_bytes()
        spans = con.execute(
            "SELECT line_no, line_no + line_count - 1 FROM events JOIN sources USING (source_id) "
            "WHERE sources.path LIKE ? AND line_count > 1", [f"%{f.name}"]
        ).fetchall()
        assert spans, f
        straddled = [b for b in range(split, len(raw), split) if any(lo < _line_of(raw, b) <= hi for lo, hi in spans)]
        assert straddled, f"no range boundary falls inside a multi-line event of {f.name}"
    (status, error) = con.execute("SELECT status, error FROM sources WHERE path LIKE '%payments.log.gz'").fetchone()
    assert status == "damaged" and error
    reasons = {r for (r,) in con.execute("SELECT reason FROM rejects JOIN sources USING (source_id) WHERE path LIKE '%garbage.log'").fetchall()}
    con.close()
    assert any("NUL" in r for r in reasons) and any("UTF-8" in r for r in reasons), reasons
    # an unreadable path: one sentence, exit 2, no traceback (and no Spark job)
    res = _cli("ingest", str(tmp_path / "missing.log"), "--engine", "spark", "--out", "ds2")
    assert res.exit_code == 2
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1, res.output
    res = _cli("ingest", str(logs), "--engine", "spark")
    assert res.exit_code == 2 and "--out" in res.output
    res = _cli("report", "--data", str(tmp_path / "nowhere"))
    assert res.exit_code == 2 and "no pmortem Parquet dataset" in res.output


def test_append_as_local(spark, tmp_path, monkeypatch):
    """A file that grew between two runs: the dataset gains what the database gains (the open
    tail taken back and read again with the new bytes, on the driver, with no Spark job)."""
    monkeypatch.chdir(tmp_path)
    src = next((SAMPLES / "decoy").glob("*.log"))
    full = src.read_bytes()
    (tmp_path / "logs").mkdir()
    f = tmp_path / "logs" / src.name
    f.write_bytes(full[: full.index(b"\n", len(full) // 2) + 1])
    pmortem.ingest(["logs"], db="local.duckdb")
    pmortem.ingest(["logs"], db=None, engine="spark", out="ds")
    f.write_bytes(full)
    pmortem.ingest(["logs"], db="local.duckdb")
    summary = pmortem.ingest(["logs"], db=None, engine="spark", out="ds")
    assert [s.action for s in summary.sources] == ["appended"] and summary.spark["tasks"] == 0
    _assert_same("local.duckdb", "ds")


def test_local_engine_does_not_import_pyspark(tmp_path):
    """The local engine and the Parquet reader never load pyspark (nor start a JVM)."""
    import subprocess

    code = (
        "import sys, pmortem; pmortem.ingest([sys.argv[1]], db=sys.argv[2]); "
        "from pmortem.spark import dataset; "
        "assert 'pyspark' not in sys.modules, 'pyspark imported'"
    )
    out = subprocess.run([sys.executable, "-c", code, str(SAMPLES / "forkbomb"), str(tmp_path / "t.duckdb")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    shutil.rmtree(tmp_path, ignore_errors=True)
