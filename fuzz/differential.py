"""Native scanner vs polars reference, on any bytes: the checks the fuzz targets and the
property tests share.

Three properties, each raising AssertionError with what differed:

* `check_lines`: per line, the scanner's decisions (status, envelope, minute, time, level,
  is-JSON, continuation) on the lines it does not defer equal what `pipeline.annotate`
  (the reference's regexes) says.
* `check_chunks`: `parse_chunk_native` and `parse_chunk_reference` give identical results
  chunk by chunk, with the ingest loop's tail hand-over (tests/parsers/test_native.py's
  comparison, on arbitrary input).
* `check_handover`: the same bytes cut into chunks at arbitrary points (snapped to line
  starts, as the reader cuts) give the same events, rejects, counts and time span as one
  chunk holding the whole.

The fuzz input format (fuzz/corpus/*, both fuzz targets): byte 0 picks the envelope
(`ENVELOPES[b0 % 3]`), bit 2 a byte-order mark in front, bit 3 the two-thread scan; byte 1
seeds the chunk cut points; the rest is the log text.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import polars as pl
from pmortem.parsers import native
from pmortem.parsers.catalogue import load_catalogue
from pmortem.parsers.pipeline import SourceContext, parse_chunk_reference
from pmortem.parsers.readers import Chunk
from pmortem.parsers.requests import split_requests
from polars.testing import assert_frame_equal

ENVELOPES = ("kubectl_prefix", "kubectl", "cri")
CAT = load_catalogue()
COUNTS = ("n_lines", "n_rejected", "n_folded", "n_generic", "n_events")


def context(envelope: str) -> SourceContext:
    return SourceContext(source_id=1, envelope=envelope, catalogue=CAT, labels={},
                         reference_time=datetime(2026, 11, 27, tzinfo=UTC))


def decode_input(buf: bytes) -> tuple[str, bytes, int, bool]:
    """(envelope, data, cut seed, split) of a fuzz input."""
    if not buf:
        return ENVELOPES[0], b"", 0, False
    b0 = buf[0]
    seed = buf[1] if len(buf) > 1 else 0
    data = buf[2:]
    if b0 & 4:
        data = native.BOM + data
    return ENVELOPES[b0 % 3], data, seed, bool(b0 & 8)


def encode_input(envelope: str, data: bytes, seed: int = 0) -> bytes:
    return bytes([ENVELOPES.index(envelope), seed & 0xFF]) + data


def line_cuts(data: bytes, points) -> list[int]:
    """Arbitrary byte positions snapped back to line starts (the reader cuts a block after its
    last newline and carries the rest), sorted, without 0 and len(data)."""
    out = set()
    for p in points:
        p = min(max(int(p), 0), len(data))
        nl = data.rfind(b"\n", 0, p)
        if nl >= 0 and nl + 1 < len(data):
            out.add(nl + 1)
    return sorted(out)


def random_cuts(data: bytes, seed: int) -> list[int]:
    rnd = random.Random(seed)
    return line_cuts(data, [rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(0, 6))]) if data else []


def chunks_at(data: bytes, cuts: list[int]) -> list[Chunk]:
    out, line, prev = [], 1, 0
    for c in [*cuts, len(data)]:
        if c <= prev:
            continue
        piece = data[prev:c]
        out.append(Chunk(piece, line, prev))
        line += piece.count(b"\n")
        prev = c
    return out or [Chunk(b"", 1, 0)]


def run(parse, chunks: list[Chunk], ctx: SourceContext) -> list:
    """The ingest loop's hand-over of an unfinished last event to the next chunk (as
    tests/parsers/test_native.py::_run, and pmortem.ingest do it)."""
    out = []
    pending, pend_line, pend_off = b"", None, None
    for i, ch in enumerate(chunks):
        last = i == len(chunks) - 1
        data = pending + ch.data if pending else ch.data
        chunk = Chunk(data, pend_line if pending else ch.first_line, pend_off if pending else ch.offset)
        res = parse(chunk, ctx, final=last)
        out.append(res)
        pending = b""
        if res.tail_offset is not None:
            assert not last, "a final chunk left a tail"
            cut = res.tail_offset - chunk.offset
            pending, pend_line, pend_off = data[cut:], res.tail_line, res.tail_offset
    return out


def _sorted(df: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return df.sort([k for k in keys if k in df.columns], nulls_last=True)


INDEX_KEYS = ("minute", "service", "pod", "container", "level", "first_line")


def same_results(ref: list, nat: list) -> None:
    """Equal as the ingest stores them: request events rolled up (the native scanner leaves the
    request lines no event is kept for out of the events and hands them over as rollup rows)."""
    assert len(ref) == len(nat), ("chunks", len(ref), len(nat))
    ref = [split_requests(r, CAT.slow_request_ms) for r in ref]
    nat = [split_requests(n, CAT.slow_request_ms) for n in nat]
    for r, n in zip(ref, nat, strict=True):
        assert (r.requests is None) == (n.requests is None), ("requests", r.requests, n.requests)
        if r.requests is not None:
            assert_frame_equal(r.requests, n.requests)
        for f in (*COUNTS, "tail_offset", "tail_line", "first_ts", "last_ts"):
            assert getattr(r, f) == getattr(n, f), (f, getattr(r, f), getattr(n, f))
        assert_frame_equal(_sorted(r.events, "line_no"), _sorted(n.events, "line_no"))
        assert_frame_equal(_sorted(r.index, *INDEX_KEYS), _sorted(n.index, *INDEX_KEYS))
        assert_frame_equal(r.rejects, n.rejects)


def check_chunks(data: bytes, envelope: str, cuts: list[int]) -> list:
    """Native == reference, chunk by chunk; returns the reference's results."""
    ctx = context(envelope)
    chunks = chunks_at(data, cuts)
    ref = run(parse_chunk_reference, chunks, ctx)
    nat = run(native.parse_chunk_native, chunks, ctx)
    same_results(ref, nat)
    return ref


def merged(results: list) -> dict:
    """What a source's results add up to whatever the chunking: events, rejects, counts and
    the time span (the line index is per chunk: one minute's group may be split in two)."""
    ev = pl.concat([r.events for r in results], how="vertical_relaxed") if results else None
    rej = pl.concat([r.rejects for r in results], how="vertical_relaxed")
    firsts = [r.first_ts for r in results if r.first_ts is not None]
    lasts = [r.last_ts for r in results if r.last_ts is not None]
    idx = pl.concat([r.index for r in results], how="vertical_relaxed")
    idx = (
        idx.group_by("minute", "service", "pod", "container", "level")
        .agg(pl.col("lines").sum(), pl.col("first_line").min(), pl.col("last_line").max())
        .sort(["minute", "service", "pod", "container", "level"], nulls_last=True)
    )
    return {
        "events": _sorted(ev, "line_no"),
        "rejects": _sorted(rej, "line_no"),
        "index": idx,
        "counts": {f: sum(getattr(r, f) for r in results) for f in COUNTS},
        "first_ts": min(firsts) if firsts else None,
        "last_ts": max(lasts) if lasts else None,
    }


def same_merged(a: dict, b: dict) -> None:
    assert a["counts"] == b["counts"], (a["counts"], b["counts"])
    assert a["first_ts"] == b["first_ts"], ("first_ts", a["first_ts"], b["first_ts"])
    assert a["last_ts"] == b["last_ts"], ("last_ts", a["last_ts"], b["last_ts"])
    assert_frame_equal(a["events"], b["events"])
    assert_frame_equal(a["rejects"], b["rejects"])
    assert_frame_equal(a["index"], b["index"])


def waits_on_first_row(chunk: Chunk, ctx: SourceContext) -> bool:
    """Whether the cut of a non-final chunk gives up waiting: the open event of some
    partition (one a later line could still continue) starts at the chunk's first kept line,
    so waiting for it would leave nothing to store, and pipeline.py's rule then stores the
    chunk up to its last event start anyway ("the open partitions are not waited for"; only
    with chunks smaller than one event, far below the reader's chunk size). Lines of the
    next chunk that continue that event then start events of their own: by design, not a
    hand-over bug. Computed from the scanner's per-line arrays (equal to the reference's:
    check_lines / check_chunks) as assemble's passes A and B compute events."""
    import struct

    from pmortem.parsers.pipeline import FOLD_WINDOW

    p = native.prepare_chunk(chunk, ctx, final=False)
    r, a = p.r, p.a
    n = r["n"]
    rejected = {i for i, _ in a["rejects"]} | {i for i in range(n) if r["status"][i] > 1}
    ent = struct.unpack(f"{n}i", r["ent"])
    last_partial, last_line, last_start = {}, {}, {}
    first = None
    for i in range(n):
        if i in rejected:
            continue
        first = i if first is None else first
        part = (ent[i], r["stream"][i])
        c = bool(r["cont"][i]) or bool(last_partial.get(part, 0))
        last_partial[part] = r["partial"][i]
        if c and part in last_line and i - last_line[part] > FOLD_WINDOW:
            c = False
        last_line[part] = i
        if not c or part not in last_start:
            last_start[part] = i
    if first is None:
        return True
    return any(
        last_start[part] == first and (last_partial[part] or n - last_line[part] <= FOLD_WINDOW) for part in last_line
    )


def gave_up(parse, chunks: list[Chunk], ctx: SourceContext) -> bool:
    """Whether a non-final chunk of this run gave up waiting (`waits_on_first_row`)."""
    pending, pend_line, pend_off = b"", None, None
    for ch in chunks[:-1]:
        data = pending + ch.data if pending else ch.data
        chunk = Chunk(data, pend_line if pending else ch.first_line, pend_off if pending else ch.offset)
        if waits_on_first_row(chunk, ctx):
            return True
        res = parse(chunk, ctx, final=False)
        pending = b""
        if res.tail_offset is not None:
            cut = res.tail_offset - chunk.offset
            pending, pend_line, pend_off = data[cut:], res.tail_line, res.tail_offset
    return False


def check_handover(data: bytes, envelope: str, cuts: list[int], parse=None) -> bool:
    """Chunks cut anywhere (at line starts) add up to the whole. Returns False when a chunk
    gave up waiting (`gave_up`): then only the line count is compared."""
    ctx = context(envelope)
    parse = parse or native.parse_chunk_native
    whole = run(parse, [Chunk(data, 1, 0)], ctx)
    chunks = chunks_at(data, cuts)
    parts = run(parse, chunks, ctx)
    a, b = merged(whole), merged(parts)
    if gave_up(parse, chunks, ctx):
        assert a["counts"]["n_lines"] == b["counts"]["n_lines"], ("n_lines", a["counts"], b["counts"])
        return False
    same_merged(a, b)
    return True


# ------------------------------------------------------------------ per line
def _scan(data: bytes, envelope: str, split: bool) -> dict:
    lits = native.literal_search(CAT.literals + native.BUILDER_LITERALS).compiled
    bom = int(data[:3] == native.BOM)
    return native._scan.scan(data, native.ENVELOPE_CODES[envelope], bom, lits, 1 if split else 0)


def check_lines(data: bytes, envelope: str, split: bool = False) -> dict:
    """The scanner's per-line answers on the lines it decides equal the reference's; the
    two-thread scan equals the one-thread scan. Returns the scan."""
    import struct

    from pmortem.parsers.events import annotate
    from pmortem.parsers.events import parse_env_ts as _parse_env_ts

    r = _scan(data, envelope, False)
    if split:
        s = _scan(data, envelope, True)
        for key in r:
            assert s[key] == r[key], ("split scan differs", key)
    n = r["n"]
    if n == 0:
        return r
    start = struct.unpack(f"{n}q", r["start"])
    raw_len = struct.unpack(f"{n}q", r["raw_len"])
    mins = struct.unpack(f"{n}q", r["minute"])
    uss = struct.unpack(f"{n}q", r["ts_us"])
    ents = r["ents"]
    ent = struct.unpack(f"{n}i", r["ent"])
    decided = [i for i in range(n) if r["status"][i] == 0]
    if not decided:
        return r
    bom = data[:3] == native.BOM
    texts = []
    for i in decided:
        b = data[start[i] : start[i] + raw_len[i]]
        if i == 0 and bom:
            b = b[3:]
        if b.endswith(b"\r"):
            b = b[:-1]
        texts.append(b.decode("utf-8"))
    ann = annotate(pl.DataFrame({"line": texts}, schema={"line": pl.String}), context(envelope))
    ann = ann.with_columns(
        pl.coalesce("ts", _parse_env_ts(pl.col("env_ts_text"))).dt.epoch("us").alias("_us"),
        (pl.col("minute").dt.epoch("s") // 60).alias("_min"),
    )
    levels = {name: i for i, name in enumerate(native.LEVELS)}
    for k, i in enumerate(decided):
        row = ann.row(k, named=True)
        what = (i, texts[k][:120])
        assert row["env_ok"], ("scanner took a line the envelope regex rejects", *what)
        pod, cont = (ents[ent[i]] if ent[i] >= 0 else (None, None))
        assert (pod, cont) == (row["env_pod"], row["env_container"]), ("entity", *what, (pod, cont), (row["env_pod"], row["env_container"]))
        stream = {1: "stdout", 2: "stderr"}.get(r["stream"][i])
        assert stream == row["stream"], ("stream", *what, stream, row["stream"])
        assert bool(r["partial"][i]) == bool(row["partial"]), ("partial", *what)
        assert bool(r["is_json"][i]) == bool(row["is_json"]), ("is_json", *what)
        lv = levels.get(row["level"], -1)
        assert struct.unpack("b", r["level"][i : i + 1])[0] == lv, ("level", *what, row["level"])
        assert bool(r["cont"][i]) == bool(row["cont_text"]), ("continuation", *what, bool(r["cont"][i]))
        m = None if mins[i] == native.NONE64 else mins[i]
        assert m == row["_min"], ("minute", *what, m, row["_min"])
        if uss[i] != native.NONE64:  # the scanner's time, where it gives one, is polars'
            assert uss[i] == row["_us"], ("ts_us", *what, uss[i], row["_us"])
    return r


def check_all(buf: bytes) -> None:
    """Every property on one fuzz input."""
    envelope, data, seed, split = decode_input(buf)
    check_lines(data, envelope, split)
    cuts = random_cuts(data, seed)
    check_chunks(data, envelope, cuts)
    check_handover(data, envelope, cuts)
