"""A plain file is read in place (PlainReader, by offset, tails re-read); a compressed one is
streamed (iter_chunks, tails carried). Both must store exactly the same thing, whatever the
chunk size: lines longer than a chunk, over-long lines, no final newline, stack traces cut
by a chunk boundary, and the native scanner or the polars path."""

from __future__ import annotations

import gzip
import random

import pytest
from pmortem.parsers.readers import MAX_LINE_BYTES, PlainReader

TABLES = {
    "events": "SELECT line_no, byte_offset, line_count, kind, level, pod, message FROM events ORDER BY line_no",
    "rejects": "SELECT line_no, byte_offset, reason FROM rejects ORDER BY line_no",
    "index": "SELECT sum(lines), min(first_line), max(last_line), min(minute), max(minute) FROM line_index",
    "sources": "SELECT lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events, bytes_done, lines_done FROM sources",
}


def _content(seed: int) -> bytes:
    rnd = random.Random(seed)
    out = []
    for i in range(3000):
        ts = f"2024-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{rnd.randrange(10**9):09d}Z"
        pod = rnd.choice(["[pod/api-7d9f8b6c4-qx2lp/api] ", "[pod/api-7d9f8b6c4-zz9kk/api] "])
        r = rnd.random()
        if r < 0.05:
            out.append(f"{pod}{ts} ERROR request failed\n{pod}{ts} java.lang.IllegalStateException: Response is closed\n"
                       f"{pod}{ts} \tat a.B.c(B.java:1)\n{pod}{ts} \tat a.B.d(B.java:2)")
        elif r < 0.07:
            out.append(f"{pod}{ts} INFO long " + "x" * rnd.randrange(5000, 20000))
        elif r < 0.075:
            out.append(f"{pod}{ts} WARN " + "y" * (MAX_LINE_BYTES + 10))
        elif r < 0.1:
            out.append(f"{pod}{ts} Worker {rnd.randrange(100, 999)} died (signal SIGKILL)")
        else:
            out.append(f"{pod}{ts} " + '{"level":30,"msg":"ok ' + str(i) + '"}')
    return "\n".join(out).encode()  # no final newline


def _cri_content(seed: int) -> bytes:
    """containerd's format: long lines split into P pieces, with the other stream's lines
    written between the pieces, as a runtime interleaves stdout and stderr. (Stack traces
    spread over streams: `_interleaved_traces`.)"""
    rnd = random.Random(seed)
    out = []
    pieces: dict[str, list[str]] = {"stdout": [], "stderr": []}
    for i in range(6000):
        ts = f"2024-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{rnd.randrange(10**9):09d}Z"
        stream = rnd.choice(["stdout", "stderr"])
        if pieces[stream]:
            piece = pieces[stream].pop(0)
            out.append(f"{ts} {stream} {'P' if pieces[stream] else 'F'} {piece}")
            continue
        r = rnd.random()
        text = (
            "ERROR Response is closed" if r < 0.06
            else f"Worker {rnd.randrange(100, 999)} died (signal SIGKILL)" if r < 0.1
            else "INFO long " + "x" * rnd.randrange(100, 30000) if r < 0.2
            else '{"level":50,"msg":"failed ' + str(i) + '"}'
        )
        parts = [text[k : k + 4000] for k in range(0, len(text), 4000)]
        out.append(f"{ts} {stream} {'P' if len(parts) > 1 else 'F'} {parts[0]}")
        pieces[stream] = parts[1:]
    return ("\n".join(out) + "\n").encode()


def test_cri_partials_across_chunks_read_in_place_equal_streamed_and_reference(cli, monkeypatch):
    data = _cri_content(5)
    plain = cli.tmp / "0.log"
    plain.write_bytes(data)
    gz = cli.tmp / "0.log.gz"
    gz.write_bytes(gzip.compress(data))
    # chunks well above the longest line (~30 KB in pieces): a chunk that is all one event
    # cannot be cut, and where that happens depends on how the file was read
    a = _ingest(cli, plain, monkeypatch, 256 * 1024, "1")
    b = _ingest(cli, gz, monkeypatch, 256 * 1024, "1")
    c = _ingest(cli, plain, monkeypatch, 256 * 1024, "0")
    assert a == b == c
    src = cli.sql("SELECT format, lines_folded FROM sources")[0]
    assert src[0] == "cri" and src[1] > 0  # P pieces were folded into their lines


def _ingest(cli, path, monkeypatch, chunk: int, native: str, *extra: str) -> dict:
    monkeypatch.setenv("PMORTEM_CHUNK_BYTES", str(chunk))
    monkeypatch.setenv("PMORTEM_NATIVE", native)
    cli.db = str(cli.tmp / f"{path.name}-{chunk}-{native}{''.join(extra)}.duckdb")
    cli.ok("ingest", str(path), "-q", *extra)
    return {k: cli.sql(q) for k, q in TABLES.items()}


@pytest.mark.parametrize("chunk", [4096, 64 * 1024, 32 * 1024 * 1024])
def test_plain_file_read_in_place_equals_streamed_gzip(cli, monkeypatch, chunk):
    data = _content(chunk)
    plain = cli.tmp / "app.log"
    plain.write_bytes(data)
    gz = cli.tmp / "app.log.gz"
    gz.write_bytes(gzip.compress(data))
    a = _ingest(cli, plain, monkeypatch, chunk, "1")
    b = _ingest(cli, gz, monkeypatch, chunk, "1")
    c = _ingest(cli, plain, monkeypatch, chunk, "0")
    d = _ingest(cli, plain, monkeypatch, chunk, "1", "--threads", "1")  # native, not pipelined
    assert a == b == c == d
    assert a["sources"][0][0] == data.count(b"\n") + 1
    assert any("too long" in r[2] for r in a["rejects"])
    assert any(e[3] == "worker_exit" for e in a["events"])


def test_reader_hands_over_whole_lines_and_long_heads(tmp_path):
    p = tmp_path / "x.log"
    p.write_bytes(b"a\n" + b"b" * 50 + b"\n" + b"c" * (MAX_LINE_BYTES + 100) + b"\nd")
    with PlainReader(str(p), 16) as r:
        v, end, eof = r.read_at(0)
        assert bytes(v) == b"a\n" and end == 2 and not eof
        v, end, eof = r.read_at(2)  # longer than the buffer, shorter than the limit: whole
        assert bytes(v) == b"b" * 50 + b"\n" and end == 53 and not eof
        v, end, eof = r.read_at(53)  # over-long: enough of its head to be rejected
        assert len(v) > MAX_LINE_BYTES and end == 53 + MAX_LINE_BYTES + 101 and not eof
        v, end, eof = r.read_at(end)
        assert bytes(v) == b"d" and eof
        assert r.read_at(end + 1)[0] is None


def test_without_the_native_scanner_ingest_says_so_and_stores_the_same(cli, monkeypatch):
    from pmortem.parsers import native

    p = cli.tmp / "app.log"
    p.write_bytes(_content(7)[:400_000])
    monkeypatch.delenv("PMORTEM_CHUNK_BYTES", raising=False)
    cli.db = str(cli.tmp / "fast.duckdb")
    fast_out = cli.ok("ingest", str(p)).stderr
    fast = {k: cli.sql(q) for k, q in TABLES.items() if k != "sources"}
    monkeypatch.setattr(native, "_scan", None)
    cli.db = str(cli.tmp / "slow.duckdb")
    slow_out = cli.ok("ingest", str(p)).stderr
    slow = {k: cli.sql(q) for k, q in TABLES.items() if k != "sources"}
    assert "note:" not in fast_out
    assert "native scanner was not built" in slow_out and "slower polars path" in slow_out
    assert fast == slow and fast["events"]


def _build_sizes(cli, monkeypatch, delay: float = 0.0, scan_delay: float = 0.0) -> tuple[list[int], dict, dict]:
    """A light file ingested natively in 64 KB chunks: the number of chunks each event build
    took (each build delayed by `delay` seconds, each chunk's scan by `scan_delay`), its
    tables, and the tables of a one-chunk-at-a-time ingest (`--threads 1`) of the same file."""
    import time

    from pmortem.parsers import native

    plain = cli.tmp / "app.log"
    plain.write_bytes(_content(11))
    one_by_one = _ingest(cli, plain, monkeypatch, 64 * 1024, "1", "--threads", "1")
    sizes: list[int] = []
    real = native.finish_chunks

    def recorded(ps):
        sizes.append(len(ps))
        time.sleep(delay)
        return real(ps)

    monkeypatch.setattr(native, "finish_chunks", recorded)
    real_prepare = native.prepare_chunk

    def slow_scan(*a, **k):
        time.sleep(scan_delay)
        return real_prepare(*a, **k)

    monkeypatch.setattr(native, "prepare_chunk", slow_scan)
    return sizes, _ingest(cli, plain, monkeypatch, 64 * 1024, "1"), one_by_one


def test_a_slow_event_builder_takes_ready_chunks_together_and_stores_the_same(cli, monkeypatch):
    """When the event builder falls behind the scan thread it builds and commits every chunk
    that is ready in one go: the result is the same as one chunk at a time."""
    sizes, batched, one_by_one = _build_sizes(cli, monkeypatch, delay=0.05)  # the scan thread gets ahead
    assert max(sizes) > 2, sizes  # more than the two a light build waits for anyway
    assert batched == one_by_one


def test_light_chunks_are_built_two_at_a_time_after_the_first(cli, monkeypatch):
    """Each event build has a fixed polars cost: after the first chunk (alone, so the builder
    starts early) chunks with few kept rows are built and committed at least two at a time,
    and the tables are the same as one chunk at a time. The scan is slowed down so the
    builder is the one waiting (64 KB chunks scan faster than the builder starts)."""
    sizes, paired, one_by_one = _build_sizes(cli, monkeypatch, scan_delay=0.01)
    assert len(sizes) > 4 and sizes[0] == 1, sizes
    # all but the last build (the file's end, or the open tail, which always goes alone)
    assert all(s >= 2 for s in sizes[1:-2]), sizes
    assert paired == one_by_one


def _interleaved_traces(seed: int, n: int = 4000) -> bytes:
    """containerd's file of a Java program: stack traces on stderr written frame by frame,
    with other threads' stdout lines landing between the frames (as printStackTrace and a
    logger on stdout interleave). A chunk boundary can fall anywhere in between."""
    rnd = random.Random(seed)
    out: list[str] = []
    trace: list[str] = []
    for i in range(n):
        ts = f"2024-03-01T10:{i // 60 % 60:02d}:{i % 60:02d}.{rnd.randrange(10**9):09d}Z"
        if trace and rnd.random() < 0.6:
            out.append(f"{ts} stderr F {trace.pop(0)}")
            continue
        r = rnd.random()
        if r < 0.05 and not trace:
            out.append(f"{ts} stderr F ERROR request {i} failed")
            trace = ["java.lang.IllegalStateException: Response is closed"] + [
                f"\tat com.example.Handler{k}.handle(Handler{k}.java:{rnd.randrange(10, 99)})" for k in range(rnd.randrange(3, 9))
            ]
        else:
            out.append(f"{ts} stdout F " + ('{"level":30,"msg":"request ' + str(i) + ' ok"}' if r < 0.7 else f"Worker {i} started"))
    out += [f"2024-03-01T11:00:00.000000000Z stderr F {frame}" for frame in trace]  # the last trace, whole
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("chunk", [4096, 16 * 1024, 64 * 1024])
def test_stack_traces_interleaved_with_another_stream_fold_the_same_whatever_the_chunks(cli, monkeypatch, chunk):
    """Before: a frame behind the chunk's end, after another stream's later line, lost its
    event (the cut left the trace's event in the chunk). Every event a later line could still
    continue now goes to the next chunk."""
    data = _interleaved_traces(chunk)
    plain = cli.tmp / "0.log"
    plain.write_bytes(data)
    gz = cli.tmp / "0.log.gz"
    gz.write_bytes(gzip.compress(data))
    whole = _ingest(cli, plain, monkeypatch, 64 * 1024 * 1024, "0")  # one chunk: the reference
    assert _ingest(cli, plain, monkeypatch, chunk, "1") == whole
    assert _ingest(cli, gz, monkeypatch, chunk, "1") == whole
    assert _ingest(cli, plain, monkeypatch, chunk, "0") == whole
    assert _ingest(cli, plain, monkeypatch, chunk, "1", "--threads", "1") == whole
    # the traces were folded: each ERROR event holds its exception and frames
    traces = [e for e in whole["events"] if "Response is closed" in (e[6] or "")]
    assert traces and all(e[2] >= 5 and e[6].count("\tat ") == e[2] - 2 for e in traces)


def test_a_frame_far_after_its_partition_starts_its_own_event(cli, monkeypatch):
    """A line that looks like a continuation joins its partition's event only within
    FOLD_WINDOW lines of that partition's previous line; the same with any chunking."""
    from pmortem.parsers.pipeline import FOLD_WINDOW

    lines = ["2024-03-01T10:00:00.000000001Z stderr F ERROR failed", "2024-03-01T10:00:00.000000002Z stderr F \tat a.B.c(B.java:1)"]
    lines += [f"2024-03-01T10:00:01.{k:09d}Z stdout F tick {k}" for k in range(FOLD_WINDOW)]
    lines += ["2024-03-01T10:00:02.000000001Z stderr F \tat a.B.d(B.java:2)"]  # FOLD_WINDOW + 1 lines after
    plain = cli.tmp / "0.log"
    plain.write_bytes(("\n".join(lines) + "\n").encode())
    whole = _ingest(cli, plain, monkeypatch, 64 * 1024 * 1024, "0")
    for native in ("0", "1"):
        assert _ingest(cli, plain, monkeypatch, 4096, native) == whole
    ((first_count,),) = [(e[2],) for e in whole["events"] if e[6] and e[6].startswith("ERROR failed")]
    assert first_count == 2  # the ERROR line and its near frame; the far one is not folded in


def test_an_event_dense_file_is_read_in_smaller_chunks_and_stores_the_same(cli, monkeypatch):
    """A crash loop logs an event per line: the reader shrinks its chunks to about TARGET_ROWS
    kept rows each (memory stays bounded), and stores what big chunks store."""
    from pmortem import chunks, ingest

    rnd = random.Random(3)
    lines = []
    for i in range(20000):
        ts = f"2024-03-01T10:{i // 6000 % 60:02d}:{i // 100 % 60:02d}.{i % 100:02d}0000000Z"
        lines.append(f"[pod/api-7d9f8b6c4-qx2lp/api] {ts} " + '{"level":50,"pid":' + str(rnd.randrange(100, 999)) + ',"msg":"fetch ' + str(i) + ' failed: context cancelled"}')
    plain = cli.tmp / "dense.log"
    plain.write_text("\n".join(lines) + "\n")
    big = _ingest(cli, plain, monkeypatch, 64 * 1024 * 1024, "1")
    commits: list[int] = []
    real = ingest.commit_chunk
    monkeypatch.setattr(ingest, "commit_chunk", lambda con, sid, res, *a, **k: (commits.append(res.events.height), real(con, sid, res, *a, **k))[1])
    monkeypatch.setattr(chunks, "TARGET_ROWS", 1000)
    monkeypatch.setattr(chunks, "FIRST_CHUNK", 256 * 1024)
    monkeypatch.setattr(chunks, "MIN_CHUNK", 16 * 1024)
    small = _ingest(cli, plain, monkeypatch, 64 * 1024 * 1024, "1", "--wait", "5")  # (another database)
    assert small == big
    assert len(commits) > 10 and max(commits) < 4000, commits
