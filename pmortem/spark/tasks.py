"""What a Spark task runs: the local ingest's chunk sources over a file or a byte range of one.

Nothing here imports pyspark: `run_tasks` is the function handed to `mapInArrow` (Arrow
record batches of tasks in, record batches of parsed steps out), and the rest is plain
Python the tests call directly.

A task is a whole file (compressed, a JSON document, or small): the same chunk source the
local ingest would use (`ingest._chunk_source`), so its steps are the local run's, chunk for
chunk. Or a byte range of a large uncompressed file: its first and last byte are moved to
*cuts*, event starts the parser itself chose (the chunk's `tail_offset`, where the local run
hands a chunk's unfinished last event to the next chunk), so a stack trace or a CRI `P`
piece straddling the range's nominal boundary is read whole by the range that holds its
start, as the local run reads it whole at a chunk boundary. Both neighbours compute the cut
of their shared boundary with the same function over the same bytes, so they agree on it
without talking. Line numbers in a range count from 1; the driver shifts them (it knows how
many lines the earlier ranges had).
"""

from __future__ import annotations

import functools
import os
import pickle
from collections.abc import Iterator

from ..chunks import PreadSource
from ..parsers.pipeline import parse_chunk
from ..parsers.readers import Chunk, LimitExceeded, ReadState, is_uri, limits_scope, open_regular
from ..parsers.requests import split_requests

# The look-back windows read before a boundary to find the cut there. A window may start inside
# a multi-line event: its first lines (stack frames, the F piece of a runtime-split line) then
# look like events of their own, and a cut among them would split that event. So a cut is taken
# only when two windows of different sizes agree on it (the larger one holds the event's start,
# or the event ended before the smaller one's cut); else the next larger window, and at last
# everything from the file's start. The look-back may reach past earlier boundaries (an event
# longer than a range): those get the same cut, and the ranges between them are empty.
CUT_WINDOWS = (64 << 10, 256 << 10, 4 << 20, 32 << 20)


def _line_start(pread, pos: int, size: int) -> int:
    """The first line start at or after `pos` (0 stays 0); `pread(n, offset)` reads the file."""
    if pos <= 0:
        return 0
    at = pos - 1
    while at < size:
        block = pread(1 << 16, at)
        if not block:
            break
        i = block.find(b"\n")
        if i >= 0:
            return at + i + 1
        at += len(block)
    return size


def _window_cut(pread, ctx, w0: int, hi: int) -> int | None:
    """The parser's own cut in [w0, hi): where it would hand a chunk's unfinished end over."""
    data = pread(hi - w0, w0)
    res = parse_chunk(Chunk(data, 1, w0), ctx, final=False)
    if res.tail_offset is not None:
        return res.tail_offset
    if res.n_lines == res.n_rejected:
        return hi  # nothing but rejected lines: every line is a place to cut
    return None


def find_cut(path: str, ctx, boundary: int, size: int) -> int:
    """Where the range that nominally starts at `boundary` really starts: an event start before
    the line start at or after `boundary` that the parser would hand to a next chunk (nothing
    after it belongs to an event that started before it); 0 when there is none. Both ranges
    that share the boundary compute it, with this function over the same bytes."""
    if is_uri(path):
        # an object in a store: the same search over ranged reads of it (pmortem/remote.py)
        with open_regular(path) as obj:
            return _find_cut(obj.pread, ctx, boundary, size)
    fd = os.open(path, os.O_RDONLY)
    try:
        return _find_cut(functools.partial(os.pread, fd), ctx, boundary, size)
    finally:
        os.close(fd)


def _find_cut(pread, ctx, boundary: int, size: int) -> int:
    """find_cut over `pread(n, offset)`: a local file's os.pread or an object's ranged reads."""
    hi = _line_start(pread, boundary, size)
    if hi >= size:
        return size
    last = None
    for w in CUT_WINDOWS:
        if w >= hi:
            break
        w0 = _line_start(pread, hi - w, size)
        if w0 >= hi:
            continue  # one line longer than the window
        cut = _window_cut(pread, ctx, w0, hi)
        if cut is not None and cut == last:
            return cut
        last = cut
    cut = _window_cut(pread, ctx, 0, hi)
    return 0 if cut is None else cut


class RangeSource(PreadSource):
    """`PreadSource` over [start, end) of a plain file, line numbers from `first_line`.

    The range's end is a cut (see `find_cut`): its last chunk is parsed as final, nothing left
    over. The file's last range ends as `PreadSource` ends a file (its open tail a chunk of its own)."""

    def __init__(self, path: str, ctx, *, end: int, last: bool, **kw):
        super().__init__(path, ctx, **kw)
        self.end = end
        self.last = last


def task_steps(task: dict) -> Iterator[tuple]:
    """The records of one task, in order: ("step", Step) with its requests rolled up, then
    ("end", {pos, bytes_read, error}) or ("limit", message) when a [limits] cap stopped it."""
    import time

    from ..ingest import _chunk_source

    t0, c0 = time.perf_counter(), time.process_time()
    p = pickle.loads(task["payload"])
    ctx, opts, limits = p["ctx"], p["opts"], p["limits"]
    cat = ctx.catalogue
    state = ReadState()
    path, size = task["path"], task["size"]
    with limits_scope(limits):
        try:
            if task["start"] < 0:
                src = _chunk_source(path, task["fmt"], ctx, opts, size, 0, 1, state)
            else:
                start = 0 if task["start"] == 0 else find_cut(path, ctx, task["start"], size)
                end = size if task["last"] else find_cut(path, ctx, task["end"], size)
                if end <= start:
                    yield ("end", {"pos": 0, "bytes_read": 0, "error": None, "range": None, "seconds": 0.0, "cpu": 0.0})
                    return
                from ..parsers import native

                # a range whose cut is the file's end (no event starts after it: the last range is
                # empty) ends the file: its open tail is stored on its own, as locally
                src = RangeSource(path, ctx, end=end, last=bool(task["last"]) or end >= size, size=size, start=start, first_line=1,
                                  chunk_bytes=opts.chunk_for(native.eligible(ctx)), state=state)
            for st in src:
                st.res = split_requests(st.res, cat.slow_request_ms, keep_all=cat.request_events == "all")
                yield ("step", st)
        except LimitExceeded as exc:
            yield ("limit", str(exc))
            return
    # (the task's own time, parse and all: per-core throughput, bench/bench_spark.py)
    yield ("end", {"pos": src.pos, "bytes_read": state.bytes_read, "error": state.error,
                   "seconds": time.perf_counter() - t0, "cpu": time.process_time() - c0})


def run_tasks(batches):
    """mapInArrow's function: task rows in, one row per record of `task_steps` out."""
    import pyarrow as pa

    from . import OUT_SCHEMA_FIELDS

    schema = pa.schema([(n, getattr(pa, t)()) for n, t in OUT_SCHEMA_FIELDS])
    for batch in batches:
        for task in batch.to_pylist():
            for seq, rec in enumerate(task_steps(task)):
                blob = pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL)
                yield pa.RecordBatch.from_arrays(
                    [pa.array([task["task"]], pa.int32()), pa.array([seq], pa.int32()), pa.array([blob], pa.binary())],
                    schema=schema,
                )
