"""Issue 16.5: line numbers after a byte-order mark at a chunk boundary; --service is literal."""

from __future__ import annotations

import gzip

import duckdb
import pytest
from pmortem.parsers.pipeline import split_lines
from pmortem.parsers.readers import Chunk

BOM = b"\xef\xbb\xbf"


def test_bom_at_the_start_of_a_later_chunk_is_text_of_its_line():
    """Only at offset 0 is a BOM the file's; later, its 3 bytes are part of the line (the CSV
    reader used to drop them there: line 3 bytes short, every later offset 3 bytes early)."""
    data = BOM + b"x\nTraceback\n"
    df = split_lines(Chunk(data, 5, 100))
    assert df.select("line", "line_no", "byte_offset", "line_len").rows() == [
        ("\ufeffx", 5, 100, 4),
        ("Traceback", 6, 105, 9),
    ]
    # at offset 0 it is the file's byte-order mark: not text, its bytes still counted
    df = split_lines(Chunk(data, 1, 0))
    assert df.select("line", "line_no", "byte_offset", "line_len").rows() == [("x", 1, 0, 4), ("Traceback", 2, 5, 9)]


def _log() -> bytes:
    """A gzip'd plain log: two files concatenated (`cat a.log b.log`), the second one saved
    with a BOM by an editor; stack traces keep the last event of a chunk open (a tail)."""
    a, b = [], []
    for i in range(60):
        a.append(f"2024-01-01T00:{i // 60:02d}:{i % 60:02d}Z ERROR Unhandled exception in worker {i}")
        a.append("Traceback (most recent call last):")
        a.append('  File "app.py", line 3, in handler')
        a.append("ValueError: bad input")
    for i in range(60):
        b.append(f"2024-01-01T01:{i // 60:02d}:{i % 60:02d}Z WARN Worker {i} exited with code 137")
    return ("\n".join(a) + "\n").encode() + BOM + ("\n".join(b) + "\n").encode()


def _ingest(cli, tmp_path, name: str, data: bytes) -> tuple[int, list]:
    p = tmp_path / name
    with gzip.open(p, "wb") as fh:
        fh.write(data)
    db = tmp_path / f"{name}.duckdb"
    cli.ok("ingest", str(p), "--input-format", "plain", "-q", "--db", str(db))
    con = duckdb.connect(str(db), read_only=True)
    try:
        (lines,) = con.execute("SELECT lines FROM sources").fetchone()
        rows = con.execute("SELECT line_no, byte_offset, kind, level FROM events ORDER BY line_no").fetchall()
    finally:
        con.close()
    return lines, rows


def test_gzip_plain_log_with_a_bom_at_a_chunk_boundary_keeps_line_numbers(cli, tmp_path, monkeypatch):
    """The reference path, chunks cut so that the second file's BOM line ends a chunk (its
    event handed over as the chunk's tail, so the next chunk starts with the BOM): no
    phantom line, every line number and offset as when read in one chunk."""
    monkeypatch.setenv("PMORTEM_NATIVE", "0")
    data = _log()
    true_lines = data.count(b"\n")
    monkeypatch.setenv("PMORTEM_CHUNK_BYTES", str(1 << 20))
    whole_lines, whole = _ingest(cli, tmp_path, "whole.log.gz", data)
    assert whole_lines == true_lines
    cut = data.index(BOM)
    bom_line_end = data.index(b"\n", cut) + 1
    bom_line = data[:cut].count(b"\n") + 1
    assert any(r[0] == bom_line and r[1] == cut for r in whole)  # the BOM line's event, numbered right
    for size in (bom_line_end, bom_line_end + 5, cut):
        monkeypatch.setenv("PMORTEM_CHUNK_BYTES", str(size))
        lines, rows = _ingest(cli, tmp_path, f"cut{size}.log.gz", data)
        assert lines == true_lines, (size, lines, true_lines)
        assert rows == whole, size


PODS = ("api_v1-7f9c6d5b8-x2k9p", "apixv1-7f9c6d5b8-m4h2t", "pay%-5c8d7f6b9-q4w7z", "payments-5c8d7f6b9-r7n5w")


@pytest.fixture
def two_services(cli, tmp_path):
    """Pods whose names differ only where LIKE would see wildcards: `api_v1-…` and `apixv1-…`,
    `pay%-…` and `payments-…`; 8 worker deaths each."""
    lines = []
    for pod in PODS:
        for s in range(8):
            lines.append(
                f"[pod/{pod}/app] 2024-01-01T00:00:{s:02d}.000000000Z Worker fragment (pid: {100 + s}) "
                "died (code: null, signal: SIGKILL), restarting"
            )
    p = tmp_path / "pods.log"
    p.write_text("\n".join(lines) + "\n")
    cli.ok("ingest", str(p), "-q")
    return cli


@pytest.mark.parametrize(
    "service, pod",
    [
        ("api_v1", "api_v1-7f9c6d5b8-x2k9p"),  # `_` is a character, not "any one"
        ("pay%", "pay%-5c8d7f6b9-q4w7z"),  # `%` is a character, not "anything"
        ("payments", "payments-5c8d7f6b9-r7n5w"),
    ],
)
def test_service_is_a_literal_match(two_services, service, pod):
    import re

    from pmortem.analyzer.sqlrun import load_sql

    import pmortem

    con = duckdb.connect(two_services.db, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        params = {"since": "2024-01-01T00:00:00Z", "until": "2024-01-01T01:00:00Z", "service": service}
        rows = con.execute(load_sql("worker_lifecycle"), params).fetchall()
        cols = [d[0] for d in con.description]
    finally:
        con.close()
    got = {r[cols.index("pod")]: r[cols.index("exits")] for r in rows}
    assert got == {pod: 8}, (service, got)
    rep = pmortem.report(two_services.db, service=service)
    assert re.search(r"\b8 worker deaths", rep.data["summary"]), rep.data["summary"]


@pytest.mark.parametrize("service", ["%", "api_", "pay_ents"])
def test_service_with_wildcards_that_match_no_name_is_refused(two_services, service):
    res = two_services.run("report", "--service", service)
    assert res.exit_code == 2 and "service" in res.output.lower(), res.output
