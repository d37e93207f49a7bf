"""The pipelined reader's memory: one read buffer, its pages past smaller chunks handed back.

A file whose sparse head gets full-size chunks and whose event-dense rest gets chunks cut
down to a few MB: the buffer's tail pages are given back (`chunks._trim`) and the pipelined
ingest stores exactly what the one-chunk-at-a-time ingest (`--threads 1`) stores.
"""

from __future__ import annotations

import mmap
import random

from pmortem.parsers.readers import PlainReader

from pmortem import chunks

TABLES = {
    "events": "SELECT line_no, byte_offset, line_count, kind, level, pod, message FROM events ORDER BY line_no",
    "rejects": "SELECT line_no, byte_offset, reason FROM rejects ORDER BY line_no",
    "index": "SELECT sum(lines), min(first_line), max(last_line) FROM line_index",
    "sources": "SELECT lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events, bytes_done, lines_done FROM sources",
}


def _sparse_then_dense(sparse_bytes: int, dense_bytes: int) -> bytes:
    rnd = random.Random(18)
    out, size, i = [], 0, 0
    while size < sparse_bytes + dense_bytes:
        ts = f"2024-03-01T10:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:02d}0000000Z"
        pod = "[pod/api-7d9f8b6c4-qx2lp/api] " if i % 3 else "[pod/api-7d9f8b6c4-zz9kk/api] "
        if size < sparse_bytes:
            text = f"GET /health ok {rnd.randrange(10**6)} " + "x" * rnd.randrange(40, 200)
        else:  # every line an event: the chunks are cut to about TARGET_ROWS events
            text = f"Worker {rnd.randrange(100, 9999)} died (signal SIGKILL)"
        line = f"{pod}{ts} {text}\n"
        out.append(line)
        size += len(line)
        i += 1
    return "".join(out).encode()


def _ingest(cli, path, monkeypatch, *extra: str) -> dict:
    monkeypatch.setenv("PMORTEM_CHUNK_BYTES", str(12 << 20))
    monkeypatch.setenv("PMORTEM_NATIVE", "1")
    cli.db = str(cli.tmp / f"{path.name}{''.join(extra)}.duckdb")
    cli.ok("ingest", str(path), "-q", *extra)
    return {k: cli.sql(q) for k, q in TABLES.items()}


def test_dense_chunks_give_buffer_pages_back_and_store_the_same(cli, monkeypatch):
    path = cli.tmp / "app.log"
    path.write_bytes(_sparse_then_dense(14 << 20, 10 << 20))
    one_by_one = _ingest(cli, path, monkeypatch, "--threads", "1")
    trims: list[tuple[int, int]] = []
    real = chunks._trim

    def spy(reader, resident, limit):
        kept = real(reader, resident, limit)
        trims.append((resident, kept))
        return kept

    monkeypatch.setattr(chunks, "_trim", spy)
    pipelined = _ingest(cli, path, monkeypatch)
    assert pipelined == one_by_one
    assert pipelined["events"] and pipelined["sources"][0][0] == path.read_bytes().count(b"\n")
    # the dense part's chunks were cut below the 12 MB buffer, and its tail given back once
    given_back = [(r, k) for r, k in trims if k < r]
    assert given_back, trims
    assert all(k % mmap.PAGESIZE == 0 and k < 12 << 20 for _, k in given_back)


def test_trim_keeps_the_chunk_and_reads_stay_right(tmp_path):
    p = tmp_path / "x.log"
    lines = b"".join(b"line %07d\n" % i for i in range(900_000))  # 11.7 MB
    p.write_bytes(lines)
    with PlainReader(str(p), 8 << 20) as r:
        v, end, _ = r.read_at(0)  # touches the whole buffer
        assert bytes(v) == lines[:end]
        kept = chunks._trim(r, r.capacity, 1 << 20)
        assert kept == 2 << 20  # the chunk size plus a MiB of slack
        assert chunks._trim(r, kept, 1 << 20) == kept  # nothing more to give back
        # a later, larger read faults the pages in again and reads the file right
        v, end2, eof = r.read_at(end)
        assert bytes(v) == lines[end:end2] and eof
