"""Wall time per stage of one `pmortem ingest` on the native pipelined path.

    python bench/stages_ingest.py bench/out/corpus.log

`w:` stages run in the scan worker thread, `m:` ones in the main thread, `c:` in the writer
thread that commits (they overlap; whichever thread's sum is larger bounds the run). The frames
(`w: frames`) are built in the scan thread when the main thread is behind, else in the main
thread (inside `m: finish`). Times are wall seconds summed over chunks,
measured by wrapping the functions in-process (so interpreter start-up is not included), and
the calling thread's CPU seconds (`thread_time`: steadier than wall on a loaded machine, but
without the work polars hands to its own threads); the process's CPU at the end.
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import queue
import sys
import tempfile
import time
from pathlib import Path

ACC: collections.Counter = collections.Counter()
CPU: collections.Counter = collections.Counter()


def _wrap(owner, name: str, label: str) -> None:
    f = getattr(owner, name)

    @functools.wraps(f)
    def timed(*a, **k):
        t, c = time.perf_counter(), time.thread_time()
        try:
            return f(*a, **k)
        finally:
            ACC[label] += time.perf_counter() - t
            CPU[label] += time.thread_time() - c

    setattr(owner, name, timed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus")
    args = ap.parse_args()
    from pmortem.parsers import _scan, events, native, readers  # (build_events: as native calls it)

    from pmortem import ingest
    from pmortem.cli import main as cli

    _wrap(readers.PlainReader, "read_at", "w: read")
    _wrap(_scan, "scan", "w: C scan (with the literal search)")
    _wrap(_scan, "assemble", "w: C assemble")
    _wrap(_scan, "requests_fields", "w: C requests_fields")
    _wrap(native, "_extract", "w: extract (kept rows' strings, rejects)")
    _wrap(native, "annotate", "w: deferred lines (polars reference)")
    _wrap(native, "prepare_chunk", "w: prepare (all of the above but read)")
    _wrap(native, "finish_chunks", "m: finish (events of one or more chunks)")
    _wrap(native, "build_events", "m:   build events")
    _wrap(events, "classify_frame", "m:     classify")
    _wrap(events, "json_fields", "m:     JSON payloads")
    _wrap(ingest, "commit_chunk", "c: commit (DuckDB, writer thread)")
    _wrap(ingest, "split_requests", "m: requests rollup (split_requests)")
    _wrap(ingest, "compact_source", "m: compact_source (end of source)")
    _wrap(native, "_frames", "w: frames (polars: index, kept rows, request rows)")
    _wrap(native, "_request_rows", "w:   request rows")
    _wrap(queue.Queue, "get", "m: waiting for the scan thread")
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "stages.duckdb")
        sys.argv = ["pmortem", "ingest", "--db", db, args.corpus, "-q"]
        t0, c0 = time.perf_counter(), os.times()
        try:
            cli()
        except SystemExit as exc:
            if exc.code:
                return int(exc.code)
        total, c1 = time.perf_counter() - t0, os.times()
    print("| stage | wall s | thread CPU s |\n| --- | ---: | ---: |")
    for k in sorted(ACC):
        print(f"| {k} | {ACC[k]:.2f} | {CPU[k]:.2f} |")
    print(f"| total, in-process (process CPU) | {total:.2f} | {c1.user + c1.system - c0.user - c0.system:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
