"""Bounded everything: decompression bombs and huge JSON documents finish in bounded memory,
over-limit sources are refused (status + error, never left `ingesting`), and a compact
`_search` response saved as one 2 MB line is read whole.

The bombs are made in the test with streaming gzip writes: one compressed block, written
again and again after a full flush (the compressor's history reset, so each copy is the
same bytes), then the real CRC and size: a 1.5 GiB stream in a few MB, made in a second.
The issue's files hold 10 GiB; the budget logic is the same per read whatever the total,
so smaller totals show it in seconds:
- the JSON-document bomb: `[` then 1.5 GiB of JSON whitespace (a newline every 32 bytes:
  zlib inflates runs of one repeated byte at only ~70 MB/s, whitespace with a period of 32 at
  over 1 GB/s; for the parser it is the same whitespace), past the default 1 GiB document cap;
- the max-ratio bomb: zeros (1028:1, gzip's maximum): 1.5 GiB refused by the ratio check,
  and 512 MiB read through with the check off (the old reader decompressed all of it in one
  call: its ~500 KB of input came in one read).
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLES

RSS_LIMIT_MB = 500
BLOCK = 16 << 20
TOTAL = 1536 << 20  # 1.5 GiB decompressed
ZEROS_READ = 512 << 20


def gzip_repeated(path: Path, block: bytes, copies: int, prefix: bytes = b"") -> int:
    """A one-member gzip of prefix + block * copies, written as it is made; its decompressed size."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    crc = zlib.crc32(prefix)
    with open(path, "wb") as fh:
        fh.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # gzip header, no name, no mtime
        fh.write(comp.compress(prefix) + comp.flush(zlib.Z_FULL_FLUSH))
        packed = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
        for _ in range(copies):
            fh.write(packed)
            crc = zlib.crc32(block, crc)
        fh.write(comp.flush(zlib.Z_FINISH))
        size = len(prefix) + len(block) * copies
        fh.write(struct.pack("<II", crc & 0xFFFFFFFF, size & 0xFFFFFFFF))
    return size


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bombs")
    newlines = d / "document.json.gz"
    gzip_repeated(newlines, (b"\n" + b" " * 31) * (BLOCK // 32), TOTAL // BLOCK, prefix=b"[")
    zeros = d / "zeros.log.gz"
    gzip_repeated(zeros, bytes(BLOCK), TOTAL // BLOCK)
    small_zeros = d / "zeros-512m.log.gz"
    gzip_repeated(small_zeros, bytes(BLOCK), ZEROS_READ // BLOCK)
    assert all(p.stat().st_size < 10 << 20 for p in (newlines, zeros, small_zeros))
    return {"newlines": newlines, "zeros": zeros, "small_zeros": small_zeros}


def _ingest_measured(tmp: Path, path: Path, config: str | None = None) -> tuple[subprocess.CompletedProcess, float]:
    """The installed CLI in a subprocess under /usr/bin/time: (result, peak RSS in MB)."""
    args = ["ingest", str(path), "--db", str(tmp / "t.duckdb"), "-q"]
    if config is not None:
        (tmp / "limits.toml").write_text(config)
        args += ["--config", str(tmp / "limits.toml")]
    rss_file = tmp / "rss.txt"
    res = subprocess.run(
        ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), sys.executable, "-m", "pmortem", *args],
        capture_output=True, text=True, timeout=300, cwd=tmp,
    )
    return res, int(rss_file.read_text().split()[-1]) / 1024


def _source(tmp: Path) -> tuple:
    con = duckdb.connect(str(tmp / "t.duckdb"), read_only=True)
    try:
        (row,) = con.execute("SELECT status, error, lines, lines_rejected, events FROM sources").fetchall()
        return row
    finally:
        con.close()


def test_json_document_bomb_refused_at_the_cap_in_bounded_memory(tmp_path, bombs):
    """`[` then 1.5 GiB of whitespace: streamed to the 1 GiB document cap, then refused."""
    res, rss = _ingest_measured(tmp_path, bombs["newlines"])
    assert res.returncode == 2, res.stderr
    assert "refused" in res.stderr and "max_document_bytes" in res.stderr, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1  # one line, no traceback
    status, error, lines, _, events = _source(tmp_path)
    assert status == "refused" and "1024 MiB" in error and lines == 0 and events == 0
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def test_json_document_bomb_read_to_the_end_in_bounded_memory(tmp_path, bombs):
    """With the cap raised, the whole 1.5 GiB document is parsed incrementally: rejected as
    incomplete JSON, every line counted, memory bounded by a read, not the document."""
    res, rss = _ingest_measured(tmp_path, bombs["newlines"], "[limits]\nmax_document_bytes = '4GiB'\n")
    assert res.returncode == 0, res.stderr
    status, error, lines, rejected, events = _source(tmp_path)
    assert status == "complete" and events == 0
    assert lines == TOTAL // 32 + 1 and rejected == lines  # `[` plus a line per newline, all rejected
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def test_max_ratio_gzip_refused(tmp_path, bombs):
    res, rss = _ingest_measured(tmp_path, bombs["zeros"])
    assert res.returncode == 2 and "decompresses at over 1000:1" in res.stderr, res.stderr
    status, error, *_ = _source(tmp_path)
    assert status == "refused" and "max_ratio" in error
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def test_max_ratio_gzip_streamed_in_bounded_memory(tmp_path, bombs):
    """The ratio check off: 512 MiB of zeros (one over-long line) decompressed a budget per read."""
    res, rss = _ingest_measured(tmp_path, bombs["small_zeros"], "[limits]\nmax_ratio = 0\n")
    assert res.returncode == 0, res.stderr
    status, error, lines, rejected, _ = _source(tmp_path)
    assert status == "complete" and lines == 1 and rejected == 1
    assert rss < RSS_LIMIT_MB, f"peak RSS {rss:.0f} MB"


def test_compact_search_response_on_one_line_is_read_whole(cli):
    """A real `_search` response saved compact: one 2 MB line (was: bad JSON at column 1048579)."""
    path = SAMPLES / "es-search" / "campaign.search.json"
    assert path.stat().st_size > 2 << 20 and path.read_bytes().count(b"\n") <= 1
    cli.ok("ingest", str(path), "-q")
    (src,) = cli.sources()
    assert src["status"] == "complete" and src["lines_rejected"] == 0
    # every hit is read: each counted in the line index (events are the hits a rule looks for,
    # with stack-trace hits folded into the error above them, as the line export gives)
    (n,) = cli.sql("SELECT sum(lines) FROM line_index")[0]
    import json

    assert n == json.loads(path.read_bytes())["hits"]["total"]["value"] == 1557


def test_document_streamed_in_batches_matches_whole_parse(cli, tmp_path, monkeypatch):
    """Batches of a few records give the same events as one batch (the document's records
    are handed over as they are parsed, not once the file is read)."""
    from pmortem.parsers.documents import chunk

    path = SAMPLES / "es-search" / "translation-service.search.json"
    cli.ok("ingest", str(path), "-q", "--db", str(tmp_path / "whole.duckdb"))
    monkeypatch.setattr(chunk, "BATCH_RECORDS", 7)
    cli.ok("ingest", str(path), "-q", "--db", str(tmp_path / "batched.duckdb"))
    q = "SELECT ts, kind, service, pod, level, message FROM events ORDER BY ALL"
    got = []
    for name in ("whole", "batched"):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        got.append((con.execute(q).fetchall(), con.execute("SELECT lines, lines_rejected, status FROM sources").fetchall()))
        con.close()
    assert got[0] == got[1] and len(got[0][0]) > 7


def test_truncated_document_keeps_earlier_events_as_damaged(cli, tmp_path):
    data = (SAMPLES / "es-search" / "translation-service.search.json").read_bytes()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: len(data) * 3 // 4])
    res = cli.run("ingest", str(cut), "-q")
    assert res.exit_code == 2 and "JSON document broken after" in res.output
    (src,) = cli.sources()
    assert src["status"] == "damaged" and src["events"] > 0


def test_refused_source_is_read_again_when_the_limit_is_raised(cli, tmp_path):
    path = SAMPLES / "incident" / "pods.json"
    (tmp_path / "small.toml").write_text("[limits]\nmax_document_bytes = '16KiB'\n")
    res = cli.run("ingest", str(path), "--config", str(tmp_path / "small.toml"))
    assert res.exit_code == 2 and "refused" in res.output
    (src,) = cli.sources()
    assert src["status"] == "refused" and src["events"] == 0 and "max_document_bytes" in src["error"]
    cli.ok("ingest", str(path), "-q")
    (src,) = cli.sources()  # the same row, complete now
    assert src["status"] == "complete" and src["events"] > 0 and src["source_id"] == 1


@pytest.mark.parametrize(
    "config, message",
    [
        ("[limits]\nmax_lines = 3\n", "unknown key 'max_lines' in [limits]"),
        ("[limits]\nmax_document_bytes = 'lots'\n", "is not a size"),
        ("[limits]\nmax_ratio = -1\n", "must be a number, 0 or more"),
    ],
)
def test_bad_limits_config_is_one_line_exit_2(cli, tmp_path, config, message):
    (tmp_path / "bad.toml").write_text(config)
    res = cli.run("ingest", str(SAMPLES / "incident" / "pods.json"), "--config", str(tmp_path / "bad.toml"))
    assert res.exit_code == 2 and message in res.output and res.output.count("\n") == 1, res.output


def test_document_lines_record_limit(cli, tmp_path):
    """One JSON document per line: a record over [limits] max_line_bytes is rejected with
    the limit named, the others are read."""
    import json

    ev = {"apiVersion": "v1", "kind": "Event", "reason": "BackOff", "type": "Warning", "message": "restarting",
          "lastTimestamp": "2024-01-01T00:00:00Z", "involvedObject": {"kind": "Pod", "name": "api-1"}}
    hit, big = ev, {**ev, "message": "x" * 300_000}
    p = tmp_path / "hits.jsonl"
    p.write_text("\n".join(json.dumps(h) for h in (hit, big, hit)) + "\n")
    (tmp_path / "l.toml").write_text("[limits]\nmax_line_bytes = '64KiB'\n")
    cli.ok("ingest", str(p), "--config", str(tmp_path / "l.toml"), "-q")
    (src,) = cli.sources()
    assert src["lines"] == 3 and src["lines_rejected"] == 1 and src["events"] == 2
    (reason,) = cli.sql("SELECT reason FROM rejects")[0]
    assert "max_line_bytes" in reason
    if os.environ.get("PMORTEM_DEBUG"):
        print(reason)
