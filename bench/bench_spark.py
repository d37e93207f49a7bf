#!/usr/bin/env python3
"""Local engine vs `--engine spark` in local[N] on the generated corpus (bench/README.md, "Spark engine").

    python bench/bench_spark.py --size 256MB [--master 'local[2]'] [--split-size 32MiB] [--md out.md]

1. generate bench/out/corpus-<size>.log if missing (gen_corpus.py, seeded; same as bench_ingest.py)
2. `pmortem ingest` (local engine) into a fresh database: wall and CPU seconds
3. `pmortem ingest --engine spark` into a fresh Parquet dataset, in a fresh process: the JVM
   start, the Spark job (planning, parse tasks, the parsed steps back), the driver's store
   loop and the Parquet export, each timed
4. the two compared: events and rejects row for row, the line index per source, minute and
   entity (the local and the Spark run cut chunks at different places)
5. `pmortem report -f json` over the database and over the dataset (--data): wall seconds,
   and the two reports compared (but for the command line)

Each engine in its own process, one after the other; the machine's load average is printed
with the numbers (this machine is shared: 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
sys.path.insert(0, str(HERE))

SPARK_RUN = r"""
import json, os, sys, time
t0 = time.monotonic()
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
from pyspark.sql import SparkSession
b = SparkSession.builder.master(sys.argv[3]).appName("pmortem bench").config("spark.ui.enabled", "false")
b = b.config("spark.ui.showConsoleProgress", "false")
s = b.getOrCreate()
s.sparkContext.setLogLevel("ERROR")
s.range(1).count()
t1 = time.monotonic()
# the first Python job's start-up (the worker daemon, pyarrow, pmortem's imports) outside the ingest's time
def warm(it):
    import pmortem.spark.tasks  # noqa: F401
    yield from it
s.createDataFrame(s.sparkContext.parallelize([(i,) for i in range(4)], 4), "a int").mapInArrow(warm, "a int").collect()
t1b = time.monotonic()
import pmortem
summary = pmortem.ingest([sys.argv[1]], db=None, engine="spark", out=sys.argv[2], split_size=int(sys.argv[4]))
t2 = time.monotonic()
print(json.dumps({"jvm_start_s": t1 - t0, "warmup_s": t1b - t1, "ingest_s": t2 - t1b, "job_s": summary.spark["seconds"],
                  "task_s": summary.spark["task_s"], "task_cpu_s": summary.spark["task_cpu_s"],
                  "tasks": summary.spark["tasks"], "events": summary.totals()["events"], "lines": summary.totals()["lines"]}))
s.stop()
"""


def _size(text: str) -> int:
    from gen_corpus import parse_size

    return parse_size(text)


def _run(cmd: list[str], **kw) -> tuple[float, float, subprocess.CompletedProcess]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    wall = time.monotonic() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if p.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd[:4])}... failed ({p.returncode}): {p.stderr[-2000:]}")
    return wall, cpu, p


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="256MB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", help="this file instead of the generated corpus")
    ap.add_argument("--master", default="local[2]")
    ap.add_argument("--split-size", default="32MiB", help="bytes per Spark task (default 32MiB)")
    ap.add_argument("--skip-report", action="store_true")
    ap.add_argument("--md", help="also write the Markdown table to this file")
    ap.add_argument("--json", help="also write the raw numbers to this file")
    a = ap.parse_args(argv)
    OUT.mkdir(exist_ok=True)
    if a.corpus:
        corpus = Path(a.corpus)
    else:
        corpus = OUT / f"corpus-{a.size}.log" if a.size != "1GB" else OUT / "corpus.log"
        if not corpus.exists():
            from gen_corpus import generate

            generate(_size(a.size), str(corpus), seed=a.seed)
    size = corpus.stat().st_size
    db, ds = OUT / "spark-bench-local.duckdb", OUT / "spark-bench-ds"
    for p in (db, Path(str(db) + ".wal")):
        p.unlink(missing_ok=True)
    shutil.rmtree(ds, ignore_errors=True)
    pm = [sys.executable, "-m", "pmortem"]
    r: dict = {"corpus": str(corpus), "bytes": size, "master": a.master, "split_size": a.split_size,
               "load_before": os.getloadavg()[0]}

    wall, cpu, _ = _run([*pm, "ingest", str(corpus), "--db", str(db), "-q"])
    r["local_s"], r["local_cpu_s"] = wall, cpu
    wall, cpu, p = _run([sys.executable, "-c", SPARK_RUN, str(corpus), str(ds), a.master, str(_size(a.split_size))])
    sp = json.loads(p.stdout.strip().splitlines()[-1])
    r.update({f"spark_{k}": v for k, v in sp.items()})
    r["spark_process_s"], r["spark_cpu_s"] = wall, cpu
    r["load_after_ingest"] = os.getloadavg()[0]

    from pmortem.spark.compare import differences

    diff = differences(str(db), str(ds), ("events", "rejects", "line_index", "requests"))
    r["same_events"] = diff["events"][2:] == (0, 0) and diff["events"][0] == diff["events"][1]
    r["same_rejects"] = diff["rejects"][2:] == (0, 0)
    r["events_rows"] = diff["events"][0]
    # row for row (before 2026-12-04 only per minute: each chunk and range wrote its own rows)
    r["same_line_index"] = diff["line_index"][2:] == (0, 0) and diff["line_index"][0] == diff["line_index"][1]
    r["same_requests"] = diff["requests"][2:] == (0, 0) and diff["requests"][0] == diff["requests"][1]

    if not a.skip_report:
        wall, _, p1 = _run([*pm, "report", "--db", str(db), "-f", "json", "-q"])
        r["report_db_s"] = wall
        wall, _, p2 = _run([*pm, "report", "--data", str(ds), "-f", "json", "-q"])
        r["report_parquet_s"] = wall
        j1, j2 = json.loads(p1.stdout), json.loads(p2.stdout)
        j1.pop("command"), j2.pop("command")
        r["same_report"] = j1 == j2
    r["load_after"] = os.getloadavg()[0]
    mb = size / 1e6
    rows = [
        ("corpus", f"{mb:,.0f} MB, {r['spark_lines']:,} lines, {r['events_rows']:,} events"),
        ("local engine: ingest (wall / CPU)", f"{r['local_s']:.1f} s / {r['local_cpu_s']:.1f} s ({mb / r['local_s']:,.0f} MB/s)"),
        (f"spark {a.master}: JVM and session start; first Python job (workers, imports)",
         f"{r['spark_jvm_start_s']:.1f} s; {r['spark_warmup_s']:.1f} s"),
        ("spark tasks' own time: wall / CPU, summed (per-core throughput)",
         f"{r['spark_task_s']:.1f} s / {r['spark_task_cpu_s']:.1f} s ({mb / r['spark_task_s']:,.0f} MB/s per core)"),
        (f"spark {a.master}: ingest ({r['spark_tasks']} tasks of {a.split_size})",
         f"{r['spark_ingest_s']:.1f} s ({mb / r['spark_ingest_s']:,.0f} MB/s); Spark job {r['spark_job_s']:.1f} s, "
         f"driver store + Parquet {r['spark_ingest_s'] - r['spark_job_s']:.1f} s"),
        ("spark: whole process (wall / CPU)", f"{r['spark_process_s']:.1f} s / {r['spark_cpu_s']:.1f} s"),
        ("same events / rejects / line index / request rollup, row for row",
         f"{r['same_events']} / {r['same_rejects']} / {r['same_line_index']} / {r['same_requests']}"),
    ]
    if not a.skip_report:
        rows.append(("report -f json: DuckDB file / Parquet (--data)",
                     f"{r['report_db_s']:.1f} s / {r['report_parquet_s']:.1f} s (same report: {r['same_report']})"))
    rows.append(("load average (before / after ingests / end)",
                 f"{r['load_before']:.1f} / {r['load_after_ingest']:.1f} / {r['load_after']:.1f}"))
    md = "| measure | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in rows)
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1, default=str) + "\n")
    ok = r["same_events"] and r["same_rejects"] and r["same_line_index"] and r["same_requests"] and r.get("same_report", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
