"""Bad input gets a clear error and loses nothing; every line is parsed or rejected with a reason."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import zlib
from pathlib import Path

import duckdb
import pytest
import zstandard
from conftest import LOGHUB, loghub

SYSTEMS = sorted(p.name for p in LOGHUB.iterdir() if p.is_dir()) if LOGHUB.exists() else []


def _count_lines(data: bytes) -> int:
    return data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)


def _reconciles(src: dict) -> None:
    assert src["lines"] == src["lines_parsed"] + src["lines_rejected"], src


@pytest.mark.parametrize("system", SYSTEMS)
def test_loghub_reconciles_and_keeps_every_line(cli, system):
    path = loghub(system)
    data = path.read_bytes()
    cli.ok("ingest", str(path), "-q")
    (src,) = cli.sources()
    assert src["lines"] == _count_lines(data)
    _reconciles(src)
    # the per-minute index accounts for every parsed line
    (indexed,) = cli.sql("SELECT coalesce(sum(lines), 0) FROM line_index")[0]
    assert indexed == src["lines_parsed"]
    (rejected,) = cli.sql("SELECT count(*) FROM rejects")[0]
    assert rejected == src["lines_rejected"]


def test_truncated_gzip_keeps_readable_lines_and_exits_2(cli, tmp_path):
    raw = loghub("HDFS").read_bytes()
    gz = gzip.compress(raw)
    cut = tmp_path / "hdfs.log.gz"
    cut.write_bytes(gz[: len(gz) * 2 // 3])
    res = cli.run("ingest", str(cut), "-q")
    assert res.exit_code == 2
    assert "damaged" in res.output and "hdfs.log.gz" in res.output
    (src,) = cli.sources()
    assert src["status"] == "damaged"
    assert 0 < src["lines"] < _count_lines(raw)
    _reconciles(src)
    # the lines kept are exactly what zlib can recover from the damaged stream
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut.read_bytes())
    assert raw.startswith(readable)
    assert src["lines"] == _count_lines(readable)


def test_zstd_and_gzip_inputs_read_like_plain(cli, tmp_path):
    raw = loghub("Zookeeper").read_bytes()
    (tmp_path / "zk.log.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    (tmp_path / "zk2.log.gz").write_bytes(gzip.compress(raw.rstrip(b"\n") + b"\nextra line 2015-07-29 19:04:12,394 - INFO x\n"))
    cli.ok("ingest", str(tmp_path / "zk.log.zst"), str(tmp_path / "zk2.log.gz"), "-q")
    a, b = cli.sources()
    assert a["lines"] == _count_lines(raw)
    assert b["lines"] == _count_lines(raw) + 1
    assert a["first_ts"] == b["first_ts"]


def test_every_rejection_reason(cli, tmp_path):
    """Real lines (Loghub Hadoop) with damage spliced in: each bad line is rejected with its reason."""
    good = loghub("Hadoop").read_bytes().split(b"\n")[:50]
    lines = good[:10] + [
        b"\xff\xfe\x00\x01 binary junk",  # NUL bytes
        good[10] + b" \xe9t\xe9 latin-1",  # not UTF-8
        b"2015-10-18 18:01:47,978 INFO " + b"x" * (1024 * 1024 + 10),  # over-long
    ] + good[11:]
    f = tmp_path / "hadoop.log"
    f.write_bytes(b"\n".join(lines) + b"\n")
    cli.ok("ingest", str(f), "-q")
    (src,) = cli.sources()
    _reconciles(src)
    reasons = dict(cli.sql("SELECT line_no, reason FROM rejects ORDER BY line_no"))
    assert reasons[11].startswith("binary data")
    assert reasons[12].startswith("undecodable bytes")
    assert reasons[13].startswith("line too long")
    assert src["lines"] == len(lines)


def test_bad_json_and_missing_timestamp_in_envelope_formats(cli, tmp_path):
    # docker json-file records with one truncated record; CRI lines with one line that is not CRI
    docker = tmp_path / "abc-json.log"
    docker.write_text(
        '{"log":"Worker 12 started\\n","stream":"stdout","time":"2022-04-08T20:55:00.000000001Z"}\n'
        '{"log":"Worker 13 sta\n'
        '{"log":"Number of CPUs: 8\\n","stream":"stdout","time":"2022-04-08T20:55:01.5Z"}\n'
    )
    cli.ok("ingest", str(docker), "-q")
    rows = cli.sql("SELECT line_no, reason FROM rejects")
    assert rows == [(2, "bad JSON or not a docker record")]
    (cpu,) = cli.sql("SELECT cpu_count FROM events WHERE kind = 'cpu_count'")
    assert cpu == (8,)


def test_unknown_input_format_and_missing_path_exit_2(cli, tmp_path):
    res = cli.run("ingest", "nope.log")
    assert res.exit_code == 2 and "no such file" in res.output
    f = tmp_path / "a.log"
    f.write_text("x\n")
    res = cli.run("ingest", str(f), "--input-format", "klingon")
    assert res.exit_code == 2 and "unknown --input-format" in res.output
    res = cli.run("ingest", str(f), "--tz", "Mars/Olympus")
    assert res.exit_code == 2 and "time zone" in res.output
    res = cli.run("sources", "--db", str(tmp_path / "missing.duckdb"), db=False)
    assert res.exit_code == 2 and "run `pmortem ingest" in res.output


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file; permission errors cannot happen")
def test_unreadable_file_exit_2(cli, tmp_path):  # pragma: no cover - CI runs as root
    f = tmp_path / "secret.log"
    f.write_text("x\n")
    f.chmod(0)
    res = cli.run("ingest", str(f))
    assert res.exit_code == 2


def test_stdin_and_globs(cli, tmp_path):
    raw = loghub("Apache").read_text()
    res = cli.run("ingest", "-", "--service", "apache", "-q", input=raw)
    assert res.exit_code == 0, res.output
    d = tmp_path / "logs" / "nested"
    d.mkdir(parents=True)
    shutil.copy(loghub("Linux"), d / "linux.log")
    shutil.copy(loghub("OpenSSH"), tmp_path / "logs" / "ssh.log")
    cli.ok("ingest", str(tmp_path / "logs" / "**" / "*.log"), "-q")
    paths = sorted(Path(s["path"]).name for s in cli.sources())
    assert paths == ["-", "linux.log", "ssh.log"]
    (svc,) = cli.sql("SELECT DISTINCT service FROM line_index WHERE source_id = 1")
    assert svc == ("apache",)


def test_byte_order_marks_and_utf16_exports(cli, tmp_path):
    """PowerShell's `kubectl logs ... > file` writes UTF-16 with a BOM; editors add UTF-8 BOMs."""
    from conftest import SAMPLES

    src = (SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log").read_text().splitlines()[:40]
    text = "\n".join(src) + "\n"
    (tmp_path / "bom8.log").write_bytes(b"\xef\xbb\xbf" + text.encode())
    (tmp_path / "ps16.log").write_bytes(text.replace("\n", "\r\n").encode("utf-16"))
    for name in ("bom8.log", "ps16.log"):
        db = str(tmp_path / f"{name}.duckdb")
        cli.ok("ingest", str(tmp_path / name), "-q", "--db", db)
        (s,) = json.loads(cli.ok("sources", "--format", "json", "--db", db).stdout)
        assert (s["lines"], s["lines_rejected"], s["format"]) == (40, 0, "kubectl_prefix"), name
        con = duckdb.connect(db, read_only=True)
        first, first_no = con.execute("SELECT message, line_no FROM events ORDER BY line_no LIMIT 1").fetchone()
        assert src[first_no - 1].endswith(first)
        # byte offsets point at the line's first byte (of the UTF-8 text for UTF-16 input)
        off, no = con.execute("SELECT byte_offset, line_no FROM events ORDER BY line_no DESC LIMIT 1").fetchone()
        con.close()
        decoded = (tmp_path / name).read_bytes()
        decoded = decoded if name == "bom8.log" else decoded.decode("utf-16").encode()
        assert decoded[off:].startswith(src[no - 1].encode()), name


def test_other_encodings_rejected_with_a_hint_then_read_with_encoding(cli, tmp_path):
    """Real Apache lines written as latin-1 (as old Windows/Java exports are)."""
    lines = loghub("Apache").read_text().splitlines()[:50]
    lines = [ln.replace("mod_jk", "mod_jk café") for ln in lines]
    f = tmp_path / "apache.log"
    f.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    n_bad = sum(1 for ln in lines if "é" in ln)
    res = cli.ok("ingest", str(f), "--db", str(tmp_path / "a.duckdb"))
    assert f"{n_bad} lines are not UTF-8" in res.output and "--encoding" in res.output
    cli.ok("ingest", str(f), "--encoding", "latin-1", "-q")
    (src,) = cli.sources()
    assert (src["lines"], src["lines_rejected"]) == (50, 0)
    got = [m for (m,) in cli.sql("SELECT message FROM events WHERE message LIKE '%café%' ORDER BY line_no")]
    assert got and all(m in lines for m in got)
    res = cli.run("ingest", str(f), "--encoding", "klingon")
    assert res.exit_code == 2 and "unknown --encoding" in res.output


def test_console_entry_exits_fast_after_an_ingest_with_its_output_and_exit_code(tmp_path):
    """`pmortem ingest` skips the interpreter's teardown once the database is closed
    (cli.run): the summary still reaches stderr, the database is complete, and the exit
    code is still 2 for a damaged source, 0 otherwise."""
    import subprocess
    import sys

    import duckdb

    log = tmp_path / "hadoop.log"
    log.write_bytes(loghub("Hadoop").read_bytes())
    db = tmp_path / "p.duckdb"
    entry = [sys.executable, "-c", "import sys; from pmortem.cli import run; sys.exit(run())"]
    ok = subprocess.run([*entry, "ingest", str(log), "--db", str(db)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "1 sources (0 unchanged)" in ok.stderr and "-> " + str(db) in ok.stderr
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT lines, status FROM sources").fetchall() == [(_count_lines(log.read_bytes()), "complete")]
    con.close()
    gz = tmp_path / "hdfs.log.gz"
    gz.write_bytes(gzip.compress(loghub("HDFS").read_bytes())[:20_000])
    bad = subprocess.run([*entry, "ingest", str(gz), "--db", str(db)], capture_output=True, text=True)
    assert bad.returncode == 2 and "damaged" in bad.stderr
    # other commands exit the usual way, with their output
    out = subprocess.run([*entry, "sources", "--db", str(db), "--format", "json"], capture_output=True, text=True)
    assert out.returncode == 0 and '"status": "damaged"' in out.stdout
