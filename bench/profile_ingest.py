#!/usr/bin/env python3
"""Where `pmortem ingest` spends its time: cProfile plus polars time by pmortem call site.

    python bench/profile_ingest.py bench/out/corpus.log [--top 15] [--prof /tmp/p.prof]

cProfile sees polars work only as one opaque `PyLazyFrame.collect`; this script also
wraps polars' eager-to-lazy `collect` and charges its wall time to the innermost
pmortem/ or parsers/ source line that asked for it (with_columns, filter, group_by...),
so the table names the expression that costs, not just "polars".
Ingests into a fresh bench/out/profile.duckdb. Touches nothing in pmortem.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import linecache
import os
import pstats
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--prof", default=str(HERE / "out" / "ingest.prof"))
    ap.add_argument("--no-exprs", action="store_true", help="skip the single-expression timings")
    ap.add_argument("--db", default=str(HERE / "out" / "profile.duckdb"))
    a = ap.parse_args(argv)
    for suf in ("", ".wal"):
        if os.path.exists(a.db + suf):
            os.unlink(a.db + suf)

    import polars.lazyframe.frame as lf_mod

    sites: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    roots = (str(ROOT / "pmortem"), str(ROOT / "parsers"))
    depth = [0]

    def wrap(orig):
        def timed(self, *args, **kw):
            if depth[0]:
                return orig(self, *args, **kw)
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return orig(self, *args, **kw)
            finally:
                depth[0] -= 1
                dt = time.perf_counter() - t0
                f = sys._getframe(1)
                key = "(outside pmortem)"
                while f is not None:
                    fn = f.f_code.co_filename
                    if fn.startswith(roots):
                        code = linecache.getline(fn, f.f_lineno).strip()[:70].replace("|", "\\|")
                        key = f"{os.path.relpath(fn, ROOT)}:{f.f_lineno} ({f.f_code.co_name}) `{code}`"
                        break
                    f = f.f_back
                site = sites[key]
                site[0] += dt
                site[1] += 1

        return timed

    lf_mod.LazyFrame.collect = wrap(lf_mod.LazyFrame.collect)
    lf_mod.LazyFrame._collect_eager = wrap(lf_mod.LazyFrame._collect_eager)

    from pmortem.ingest import IngestOptions, ingest

    prof = cProfile.Profile()
    t0 = time.monotonic()
    prof.enable()
    summary = ingest([a.corpus], a.db, IngestOptions(), progress=False)
    prof.disable()
    wall = time.monotonic() - t0
    prof.dump_stats(a.prof)
    t = summary.totals()
    print(
        f"ingest {a.corpus}: {summary.bytes / 1e6:,.0f} MB, {t['lines']:,} lines, {t['events']:,} events in {wall:.1f} s under the profiler"
    )
    print(f"({summary.bytes / 1e6 / wall:,.0f} MB/s; profiler overhead included; raw profile: {a.prof})\n")

    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("cumulative").print_stats(r"(pmortem|parsers|polars|duckdb|builtins|_io)", a.top + 15)
    print("### cProfile, by cumulative time\n")
    print(buf.getvalue().split("Ordered by")[1] if "Ordered by" in buf.getvalue() else buf.getvalue())

    print("### polars time by pmortem call site (wall seconds of the collect each line triggers)\n")
    print("| call site | seconds | share of ingest | calls |")
    print("| --- | ---: | ---: | ---: |")
    for key, (secs, n) in sorted(sites.items(), key=lambda kv: -kv[1][0])[: a.top]:
        print(f"| {key} | {secs:.2f} | {100 * secs / wall:.1f} % | {n} |")
    total = sum(v[0] for v in sites.values())
    print(
        f"| all polars collects | {total:.2f} | {100 * total / wall:.1f} % | {sum(v[1] for v in sites.values())} |"
    )
    if not a.no_exprs:
        exprs(a.corpus)
    return 0


def exprs(corpus: str, nbytes: int = 32 << 20) -> None:
    """Time pmortem's per-line expressions one by one on the corpus' first chunk."""
    import polars as pl
    from pmortem.parsers import envelopes, payloads
    from pmortem.parsers.catalogue import load_catalogue

    with open(corpus, "rb") as fh:
        data = fh.read(nbytes)
    data = data[: data.rfind(b"\n") + 1]
    from pmortem.parsers.pipeline import split_lines
    from pmortem.parsers.readers import Chunk

    lines = split_lines(Chunk(data, 1, 0)).select("line")
    envelope = envelopes.detect_envelope(lines.get_column("line").head(400).to_list())
    env = envelopes.split_envelope(lines, envelope)
    p = pl.col("payload")
    cat = load_catalogue()
    tests = {
        f"split_envelope({envelope}) (whole call)": lambda: envelopes.split_envelope(lines, envelope),
        "level_expr(payload)": lambda: env.select(payloads.level_expr(p, p.str.starts_with("{"))),
        "payload ~ CONTINUATION_RE": lambda: env.select(p.str.contains(payloads.CONTINUATION_RE)),
        "payload ~ JSON_LEVEL_RE extract": lambda: env.select(p.str.extract(payloads.JSON_LEVEL_RE, 1)),
        "payload[:160] ~ TEXT_LEVEL_RE extract": lambda: env.select(
            p.str.slice(0, 160).str.extract(payloads.TEXT_LEVEL_RE, 1)
        ),
        "contains_any(catalogue literals, ci)": lambda: env.select(
            p.str.contains_any(cat.literals or [], ascii_case_insensitive=True)
        ),
        "env_ts_text -> datetime (parse_rfc3339)": lambda: env.select(
            payloads.parse_rfc3339(pl.col("env_ts_text"))
        ),
        "line.str.len_bytes (floor: one pass)": lambda: lines.select(pl.col("line").str.len_bytes()),
    }
    print(f"\n### single expressions on the first {len(data) / 1e6:.0f} MB ({lines.height:,} lines)\n")
    print("| expression | seconds | MB/s |")
    print("| --- | ---: | ---: |")
    for name, fn in tests.items():
        try:
            best = min(_timed(fn) for _ in range(2))
            print(f"| {name} | {best:.3f} | {len(data) / 1e6 / best:,.0f} |")
        except Exception as exc:  # noqa: BLE001 - internals move; report and go on
            print(f"| {name} | error: {str(exc).splitlines()[0][:60]} | |")


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
