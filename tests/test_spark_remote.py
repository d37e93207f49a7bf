"""`pmortem ingest --engine spark s3://...` against a real S3 API (moto's server on a loopback
port, reached through pyarrow.fs and the AWS_* environment as a user's S3 or MinIO would be):
the same events, line index and rejects as a local ingest of the same files, row for row; the
same report; a re-run adds nothing; a missing key, a bad endpoint, a scheme pyarrow cannot
open are one sentence and exit 2.

One Spark job in all (the JVM start and a job are the slow part); the session is the one a
previous module started, or one started here."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import socket

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, local_spark
from pmortem.parsers.readers import NOT_LOGS, expand_paths
from test_spark_engine import java_and_cri

import pmortem
from pmortem import remote
from pmortem.cli import main
from pmortem.spark.compare import differences, source_counts
from pmortem.spark.dataset import open_dataset

BUCKET = "pm-logs"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3():
    """A real S3 API (moto's server, threaded, in this process) with the AWS_* environment
    pointing at it; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_ACCESS_KEY_ID", "pmortem-test")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "pmortem-test-secret")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        mp.setenv("AWS_ENDPOINT_URL", endpoint)
        mp.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        mp.delenv("PMORTEM_S3_ENDPOINT", raising=False)
        mp.delenv("AWS_PROFILE", raising=False)
        import boto3

        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        yield endpoint
    server.stop()


@pytest.fixture(scope="module")
def spark(s3):
    session, started = local_spark()
    yield session
    if started:
        session.stop()


def _upload(local_root, prefix: str) -> None:
    """Every file under `local_root` to s3://BUCKET/prefix/<its relative path>, through pyarrow.fs."""
    fs, _ = remote.filesystem(f"s3://{BUCKET}/")
    for d, _dirs, files in os.walk(local_root):
        for f in files:
            p = os.path.join(d, f)
            rel = os.path.relpath(p, local_root).replace(os.sep, "/")
            with open(p, "rb") as src, fs.open_output_stream(f"{BUCKET}/{prefix}/{rel}", compression=None) as dst:
                shutil.copyfileobj(src, dst, 1 << 20)


def _cli(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _one_sentence(res) -> str:
    out = res.output.strip()
    assert res.exit_code == 2, res.output
    assert "Traceback" not in out and len(out.splitlines()) == 1, out
    return out


def test_s3_prefix_same_tables_and_report_as_local(s3, spark, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path / "logs"
    shutil.copytree(SAMPLES / "incident", logs / "incident")
    gen = logs / "gen"
    java, cri = java_and_cri(gen)
    # a compressed object (read whole, streamed), a damaged one, and lines that are rejected
    (gen / "payments.log.gz").write_bytes(gzip.compress(java.read_bytes().replace(b"checkout", b"payments")))
    whole = gzip.compress(cri.read_bytes())
    (gen / "cut.log.gz").write_bytes(whole[: len(whole) // 2])
    (gen / "garbage.log").write_bytes(b"2026-11-27 06:00:00.000 [main] INFO  x - ok\n\x00\x01\x02 binary\n\xff\xfe not utf-8\n")
    _upload(logs, "exports/2026-11")
    uri = f"s3://{BUCKET}/exports/2026-11"
    rename = (uri + "/", str(logs) + "/")

    split = min(java.stat().st_size, cri.stat().st_size) // 5
    pmortem.ingest([str(logs)], db="local.duckdb", progress=False)
    summary = pmortem.ingest([uri], db=None, engine="spark", out="ds", split_size=split, spark_master="local[2]",
                             progress=False)
    # each of the two large plain objects read as 5+ byte ranges (ranged GETs in the tasks)
    assert summary.spark["tasks"] >= len(summary.sources) - 2 + 2 * 5, summary.spark
    assert {s.action for s in summary.sources} <= {"ingested", "same-as"}
    assert all(s.path.startswith(uri + "/") for s in summary.sources)

    # row for row, the objects' URIs compared as the local copies' paths
    diff = differences("local.duckdb", "ds", ("events", "line_index", "rejects", "requests"), rename=rename)
    for table, (n_local, n_data, only_local, only_data) in diff.items():
        assert (only_local, only_data) == (0, 0) and n_local == n_data, (table, diff[table])
        assert n_local, table  # something to compare
    con = duckdb.connect("local.duckdb", read_only=True)
    local_sources = source_counts(con)
    con.close()
    data = open_dataset("ds")
    remote_sources = source_counts(data, rename=rename)
    stored = {p for (p,) in data.execute("SELECT path FROM sources").fetchall()}
    data.close()
    assert remote_sources == local_sources
    assert len(stored) == len(local_sources) and all(p.startswith(uri + "/") for p in stored)  # the URIs are kept
    damaged = [r for r in remote_sources if r[0].endswith("cut.log.gz")]
    assert damaged and damaged[0][16] == "damaged", damaged

    # the same report (its evidence names the files by where they were read from)
    a = _cli("report", "--db", "local.duckdb", "-f", "json", "-q", "--threads", "1")
    b = _cli("report", "--data", "ds", "-f", "json", "-q", "--threads", "1")
    assert a.exit_code == b.exit_code == 0, (a.output, b.output)
    ja, jb = json.loads(a.stdout), json.loads(b.stdout.replace(rename[0], rename[1]))
    ja.pop("command"), jb.pop("command")
    assert ja == jb
    assert ja["findings"]

    # a re-run over the same objects adds nothing and leaves the dataset alone
    before = sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "ds").rglob("*"))
    res = _cli("ingest", "--engine", "spark", uri, "--out", "ds", "--spark-master", "local[2]")
    assert res.exit_code == 0, res.output
    n = len(local_sources)
    assert f"{n} sources ({n} unchanged)" in res.output, res.output
    again = pmortem.ingest([uri], db=None, engine="spark", out="ds", progress=False)
    assert {s.action for s in again.sources} == {"unchanged"} and again.spark["tasks"] == 0
    assert sorted((p.relative_to(tmp_path), p.stat().st_mtime_ns) for p in (tmp_path / "ds").rglob("*")) == before


def test_listing_globs_and_errors_are_one_sentence(s3, tmp_path, monkeypatch):
    """No Spark job: what goes wrong is found while listing, before one would start."""
    monkeypatch.chdir(tmp_path)
    src = tmp_path / "src"
    shutil.copytree(SAMPLES / "incident", src)
    _upload(src, "globs")
    base = f"s3://{BUCKET}/globs"
    # a prefix: every object under it but docs and runtime metadata; a glob: the objects it matches
    skipped: list[str] = []
    listed = remote.expand(base, skipped, NOT_LOGS)
    local = sorted(str(p.relative_to(src)) for p in src.rglob("*") if p.is_file())
    assert sorted(u[len(base) + 1:] for u in listed + skipped) == local
    # in the order a local directory is read (the order sources are stored in)
    assert [u[len(base) + 1:] for u in listed] == [os.path.relpath(p, src) for p in expand_paths([str(src)])]
    assert {u.rsplit("/", 1)[1] for u in skipped} == {"README.md", "config.v2.json"}
    assert remote.expand(f"{base}/*.json") == [f"{base}/{n}" for n in ("events.json", "pods.json", "spans-otlp.json")]
    assert remote.expand(f"{base}/**/0.log") == sorted(f"{base}/{p.relative_to(src)}" for p in src.rglob("0.log"))
    assert remote.expand(f"s3a://{BUCKET}/globs/*.gz") == [f"s3a://{BUCKET}/globs/translation-service.log.gz"]
    # a byte range of an object, and the object streamed whole
    obj = remote.open_file(f"{base}/campaign-7f9c6d5b8-x2k9p.log")
    raw = (src / "campaign-7f9c6d5b8-x2k9p.log").read_bytes()
    assert obj.size == len(raw) and obj.pread(100, 1000) == raw[1000:1100] and obj.read() == raw
    obj.close()

    # the local engine reads the same objects as the same sources
    pmortem.ingest([base], db="r.duckdb", progress=False)
    pmortem.ingest([str(src)], db="l.duckdb", progress=False)
    con = duckdb.connect("r.duckdb", read_only=True)
    got = [(p.replace(base + "/", ""), *rest) for p, *rest in source_counts(con)]
    con.close()
    con = duckdb.connect("l.duckdb", read_only=True)
    want = [(p.replace(str(src) + "/", ""), *rest) for p, *rest in source_counts(con)]
    con.close()
    assert got == want

    out = _one_sentence(_cli("ingest", "--engine", "spark", f"{base}/no-such.log", "--out", "ds"))
    assert f"{base}/no-such.log" in out
    assert not (tmp_path / "ds").exists()
    out = _one_sentence(_cli("ingest", "--engine", "spark", f"s3://no-such-bucket-{os.getpid()}/x", "--out", "ds"))
    assert "no-such-bucket" in out
    _one_sentence(_cli("ingest", "--engine", "spark", f"{base}/*.nothing", "--out", "ds"))
    out = _one_sentence(_cli("ingest", "--engine", "spark", "hdfs://namenode.invalid:8020/logs", "--out", "ds"))
    assert "hdfs://" in out
    out = _one_sentence(_cli("ingest", "--engine", "spark", "nosuchscheme://b/logs", "--out", "ds"))
    assert "nosuchscheme://" in out
    # nothing listens there: the endpoint is named as the thing to check
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{_free_port()}")
    out = _one_sentence(_cli("ingest", "--engine", "spark", base, "--out", "ds"))
    assert "endpoint" in out.lower(), out
    # PMORTEM_S3_ENDPOINT wins over AWS_ENDPOINT_URL (pmortem's own, for one store among several)
    monkeypatch.setenv("PMORTEM_S3_ENDPOINT", s3)
    assert remote.getsize(f"{base}/pods.json") == (src / "pods.json").stat().st_size
