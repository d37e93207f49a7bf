#!/usr/bin/env python3
"""pmortem ingest vs a plain DuckDB SQL baseline, same file, same run.

    python bench/bench_ingest.py --size 1GB            # the bar: ratio >= 1.5, peak RSS < 1 GB
    python bench/bench_ingest.py --size 5GB --skip-baseline --skip-store-lines   # RSS at 5 GB

Steps (all in one run, page cache warmed first so both read from memory):
  1. generate bench/out/corpus.log (1GB) or corpus-<size>.log if missing (bench/gen_corpus.py, seeded)
  2. baseline: a fresh DuckDB file, `CREATE TABLE AS SELECT ... regexp_extract(...)` over the
     file read as lines with read_csv (one VARCHAR column, a delimiter that never occurs)
  3. `pmortem ingest <corpus> --db <fresh db>` with default settings
  4. counts per event kind: pmortem's `events` vs the baseline's table vs the generator's truth file
  5. re-ingest of the unchanged file into the same database
  6. `pmortem ingest --store-lines` into another fresh database (the cost of copying every line)
Every step runs in its own child process; wall time is measured around it, peak RSS by
polling the child's process tree with psutil every 50 ms (sum of RSS) and its own high-water
mark (/proc/<pid>/status VmHWM, polled); CPU seconds are the child's user + sys (os.wait4).
`--matrix`: the production-shaped corpora (0/10/40/75 % request lines, raw nginx, raw pino),
one summary row each, compared by CPU seconds. A Markdown table goes to stdout (and --md FILE).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from gen_corpus import EXPECTED_KIND, INTERESTING, generate, parse_size  # noqa: E402

OUT = HERE / "out"

# ------------------------------------------------------------------ the DuckDB-only baseline
# The same six event kinds pmortem's catalogue makes of this corpus, written as one would by
# hand: read every line, keep those a cheap regex flags, split the kubectl prefix, extract fields.
# Request lines (pino-http JSON, nginx access, `GET /path 200 45ms`) among the kept lines are
# counted per (pod, second, method, route template, status) with latency sum and max.
ENVELOPE_SPLIT = {
    "kubectl_prefix": r"regexp_extract(line, '^\[pod/([^/\]]+)/([^\]]+)\] (\S+) ?(.*)$', ['pod', 'container', 'ts', 'payload'])",
    None: "{'pod': NULL::VARCHAR, 'container': NULL::VARCHAR, 'ts': NULL::VARCHAR, 'payload': line}",
}
BASELINE_SQL = r"""
CREATE TEMP TABLE hit AS
WITH raw AS (
    SELECT line FROM read_csv($path, columns = {'line': 'VARCHAR'}, delim = $delim, quote = '', escape = '',
                              header = false, auto_detect = false)
)
SELECT $split AS e
FROM raw
WHERE regexp_matches(line, '(?i)number of cpus|worker|response is closed|context cancel|event loop lag|"statusCode"|\b(?:GET|POST|PUT|DELETE|PATCH|HEAD) /');

CREATE TABLE baseline_events AS
WITH classified AS (
    SELECT e.pod, e.container, e.ts AS ts_text, e.payload,
        CASE
            WHEN regexp_matches(e.payload, '(?i)number of cpus\s*[:=]?\s*\d+') THEN 'cpu_count'
            WHEN regexp_matches(e.payload, '(?i)\bworker\b.{0,40}?\d+\)?.{0,12}?\b(?:died|exited|terminated|killed|crashed)\b') THEN 'worker_exit'
            WHEN regexp_matches(e.payload, '(?i)\bworker\b.{0,40}?\d+\)?\s+(?:started|online|ready)\b') THEN 'worker_start'
            WHEN regexp_matches(e.payload, '(?i)Response (?:is|has been|already) (?:closed|committed)') THEN 'response_closed'
            WHEN regexp_matches(e.payload, '(?i)context (?:cancel+ed|deadline exceeded)') THEN 'context_cancelled'
            WHEN regexp_matches(e.payload, '(?i)event[ -]?loop[ _-]?lag[^\d]{0,24}\d+(?:\.\d+)?\s*ms') THEN 'event_loop_lag'
        END AS kind
    FROM hit
)
SELECT pod, container, ts_text::TIMESTAMPTZ AS ts, kind,
    CASE WHEN kind IN ('response_closed', 'context_cancelled') THEN kind END AS error_class,
    TRY_CAST(regexp_extract(payload, '(?i)number of cpus\s*[:=]?\s*(\d+)', 1) AS INTEGER) AS cpu_count,
    TRY_CAST(regexp_extract(payload, '(?i)\bworker\b.{0,40}?(\d+)', 1) AS BIGINT) AS pid,
    NULLIF(regexp_extract(payload, '\bsignal\b\s*[:=]?\s*(SIG[A-Z0-9]+)', 1), '') AS signal,
    TRY_CAST(regexp_extract(payload, '(\d+(?:\.\d+)?)\s*ms', 1) AS DOUBLE) AS duration_ms,
    payload AS message
FROM classified
WHERE kind IS NOT NULL;

CREATE TABLE baseline_requests AS
WITH r AS (
    SELECT e.pod, e.ts AS ts_text, e.payload,
        regexp_extract(e.payload, '\b(GET|POST|PUT|DELETE|PATCH|HEAD)\b', 1) AS method,
        regexp_extract(e.payload, '(?:"url":"|\b(?:GET|POST|PUT|DELETE|PATCH|HEAD) )(/[^ "?]*)', 1) AS route,
        TRY_CAST(coalesce(NULLIF(regexp_extract(e.payload, '"statusCode":(\d{3})', 1), ''),
                          NULLIF(regexp_extract(e.payload, '(?:HTTP/\d\.\d" | /\S* )(\d{3}) ', 1), '')) AS INTEGER) AS status
    FROM hit
    WHERE regexp_matches(e.payload, '"statusCode"|\b(?:GET|POST|PUT|DELETE|PATCH|HEAD) /')
), typed AS (
    SELECT pod, method, status,
        regexp_replace(route, '/[0-9a-f]*[0-9][0-9a-f]*(/|$)', '/:id\1', 'g') AS route,
        date_trunc('second', coalesce(
            TRY_CAST(ts_text AS TIMESTAMPTZ),
            try_strptime(regexp_extract(payload, '\[([^\]]+)\]', 1), '%d/%b/%Y:%H:%M:%S %z'),
            to_timestamp(TRY_CAST(NULLIF(regexp_extract(payload, '"time":(\d+)', 1), '') AS BIGINT) / 1000))) AS second,
        coalesce(TRY_CAST(NULLIF(regexp_extract(payload, '"responseTime":(\d+(?:\.\d+)?)', 1), '') AS DOUBLE),
                 TRY_CAST(NULLIF(regexp_extract(payload, ' (\d+(?:\.\d+)?)ms$', 1), '') AS DOUBLE),
                 1000 * TRY_CAST(NULLIF(regexp_extract(payload, '" (\d+\.\d+) \S+$', 1), '') AS DOUBLE)) AS ms
    FROM r WHERE status IS NOT NULL
)
SELECT pod, second, method, route, status, count(*) AS n, sum(ms) AS ms_sum, max(ms) AS ms_max
FROM typed GROUP BY ALL;
"""


def baseline_sql(envelope: str | None) -> str:
    return BASELINE_SQL.replace("$split", ENVELOPE_SPLIT[envelope])


def run_baseline(path: str, db: str, envelope: str | None = "kubectl_prefix") -> None:
    """Child-process entry: build the baseline tables, print their counts as JSON."""
    import duckdb

    t0 = time.monotonic()
    con = duckdb.connect(db)
    for stmt in baseline_sql(envelope).split(";\n"):
        if stmt.strip():
            con.execute(stmt.replace("$path", "?").replace("$delim", "?"), [path, "\x01"] if "$path" in stmt else [])
    counts = dict(con.execute("SELECT kind, count(*) FROM baseline_events GROUP BY ALL").fetchall())
    requests = con.execute("SELECT coalesce(sum(n), 0)::BIGINT FROM baseline_requests").fetchone()[0]
    con.close()
    print(json.dumps({"counts": counts, "requests": requests, "seconds_inside": time.monotonic() - t0}))


# ------------------------------------------------------------------ measuring a child
class Measured:
    def __init__(self, argv: list[str], env: dict | None = None):
        self.argv = argv
        self.env = env
        self.peak_tree = 0
        self.maxrss = 0
        self.seconds = 0.0
        self.rc = None
        self.stdout = ""
        self.stderr = ""
        self.cpu = 0.0
        self.load = ""
        self.hwm = 0

    def run(self) -> Measured:
        stop = threading.Event()
        load0 = os.getloadavg()[0]
        t0 = time.monotonic()
        p = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, text=True
        )

        def poll() -> None:
            try:
                proc = psutil.Process(p.pid)
            except psutil.Error:
                return
            while not stop.is_set():
                try:
                    self.hwm = max(self.hwm, _vm_hwm(p.pid))
                    rss = proc.memory_info().rss
                    for c in proc.children(recursive=True):
                        try:
                            rss += c.memory_info().rss
                        except psutil.Error:
                            pass
                    self.peak_tree = max(self.peak_tree, rss)
                except psutil.Error:
                    return
                stop.wait(0.05)

        th = threading.Thread(target=poll, daemon=True)
        th.start()
        out_chunks: list[str] = []
        err_chunks: list[str] = []
        readers = [
            threading.Thread(target=lambda: out_chunks.append(p.stdout.read()), daemon=True),
            threading.Thread(target=lambda: err_chunks.append(p.stderr.read()), daemon=True),
        ]
        for r in readers:
            r.start()
        _, status, ru = os.wait4(p.pid, 0)
        self.seconds = time.monotonic() - t0
        stop.set()
        th.join()
        for r in readers:
            r.join()
        p.returncode = os.waitstatus_to_exitcode(status)
        self.rc = p.returncode
        self.maxrss = ru.ru_maxrss * 1024  # Linux: KiB
        self.cpu = ru.ru_utime + ru.ru_stime
        self.load = f"{load0:.1f}->{os.getloadavg()[0]:.1f}"
        self.stdout, self.stderr = "".join(out_chunks), "".join(err_chunks)
        return self

    @property
    def peak(self) -> int:
        """The larger of the tree poll and the child's own high-water mark (VmHWM, polled).
        Not ru_maxrss: after fork + exec the kernel carries the parent's peak over into the
        child's, and this process holds a few hundred MB after generating a corpus."""
        return max(self.peak_tree, self.hwm)


def _vm_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def pmortem_argv() -> list[str]:
    exe = shutil.which("pmortem")
    return [exe] if exe else [sys.executable, "-c", "from pmortem.cli import main; main()"]


def compile_package() -> None:
    """Byte-compile pmortem's modules, as `pip install .` does at install time. A development
    (editable) install run with PYTHONDONTWRITEBYTECODE=1, as on these machines, would
    otherwise compile every module at each start: about 0.1 s per run that no installed
    copy pays."""
    import compileall
    import importlib.util

    for name in ("pmortem", "pmortem.parsers", "pmortem.analyzer"):
        spec = importlib.util.find_spec(name)
        for d in spec.submodule_search_locations or []:
            compileall.compile_dir(d, maxlevels=0, quiet=1)


def fresh_db(name: str) -> str:
    p = OUT / name
    for suf in ("", ".wal"):
        q = Path(str(p) + suf)
        if q.exists():
            q.unlink()
    return str(p)


def pmortem_counts(db: str) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(db, read_only=True)
    rows = con.execute("SELECT kind, error_class, count(*) FROM events GROUP BY ALL").fetchall()
    con.close()
    by = {(k, e): n for k, e, n in rows}
    return {name: by.get(EXPECTED_KIND[name], 0) for name in INTERESTING} | {"_all": rows}


def pmortem_totals(db: str) -> tuple[int, int]:
    """(events stored, requests seen): the `requests` rollup's count when the table exists,
    else the http_request events (before the rollup)."""
    import duckdb

    con = duckdb.connect(db, read_only=True)
    try:
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'requests'").fetchone()[0]
        if has:
            reqs = con.execute("SELECT coalesce(sum(requests), 0)::BIGINT FROM requests").fetchone()[0]
        else:
            reqs = con.execute("SELECT count(*) FROM events WHERE kind = 'http_request'").fetchone()[0]
    finally:
        con.close()
    return int(events), int(reqs)


def git_rev() -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(HERE.parent), "status", "--porcelain", "--", "pmortem", "parsers"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        return rev + (" (+ uncommitted changes in pmortem/ or parsers/)" if dirty else "")
    except OSError:
        return "?"


def mb(n: float) -> str:
    return f"{n / 1e6:,.0f} MB"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="pmortem ingest vs DuckDB-only baseline (see bench/README.md)")
    ap.add_argument("--size", default="1GB")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", help="use this file instead of the generated corpus (no truth check)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-reingest", action="store_true")
    ap.add_argument("--skip-store-lines", action="store_true")
    ap.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="run baseline and pmortem alternately N times; the fastest run of each counts",
    )
    ap.add_argument("--keep-dbs", action="store_true", help="keep the databases under bench/out/")
    ap.add_argument("--md", help="also write the Markdown table to this file")
    ap.add_argument("--json", help="also write the raw numbers to this file")
    ap.add_argument("--requests", type=float, help="share of request records in the generated corpus (0..1)")
    ap.add_argument("--raw", choices=["nginx", "pino"], help="a raw file (no kubectl envelope) of nginx access or pino lines")
    ap.add_argument("--envelope", default="kubectl_prefix", help="with --corpus: kubectl_prefix or none (the baseline's split)")
    ap.add_argument("--matrix", action="store_true",
                    help="every production-shaped corpus: 0/10/40/75 %% request lines, a raw nginx and a raw pino file")
    ap.add_argument("--baseline-run", nargs=3, metavar=("FILE", "DB", "ENVELOPE"), help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.baseline_run:
        f, d, env = a.baseline_run
        run_baseline(f, d, None if env == "none" else env)
        return 0

    OUT.mkdir(exist_ok=True)
    if a.corpus:
        return run_one(a, Path(a.corpus), None, a.envelope)[2]
    if not a.matrix:
        corpus, truth = ensure_corpus(a.size, a.seed, a.requests, a.raw)
        return run_one(a, corpus, truth, truth["envelope"])[2]
    summary = []
    ok_all = True
    for req, raw in MATRIX:
        corpus, truth = ensure_corpus(a.size, a.seed, req, raw)
        res, _, ok = run_one(a, corpus, truth, truth["envelope"])
        ok_all &= ok == 0
        summary.append(res)
    md = matrix_table(summary)
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        Path(a.json).write_text(json.dumps(summary, indent=2, default=str))
    return 0 if ok_all else 1


# the production-shaped corpora: (share of request records, raw file kind)
MATRIX = [(0.0, None), (0.10, None), (0.40, None), (0.75, None), (None, "nginx"), (None, "pino")]


def ensure_corpus(size_s: str, seed: int, requests: float | None, raw: str | None) -> tuple[Path, dict]:
    size = parse_size(size_s)
    if raw:
        name = f"raw-{raw}-{size_s}-s{seed}.log"
    elif requests is not None:
        name = f"corpus-req{round(requests * 100)}-{size_s}-s{seed}.log"
    else:
        name = "corpus.log" if size == 10**9 and seed == 1 else f"corpus-{size_s}-s{seed}.log"
    corpus = OUT / name
    tpath = Path(str(corpus) + ".truth.json")
    truth = json.loads(tpath.read_text()) if corpus.exists() and tpath.exists() else None
    ok = truth is not None and (
        truth.get("size_requested") == size and truth.get("seed") == seed
        and truth.get("bytes") == corpus.stat().st_size and truth.get("raw") == raw
        and truth.get("requests_arg") == requests
    )
    if not ok:
        print(f"generating {corpus} ({size_s}, seed {seed}) ...", file=sys.stderr)
        truth = generate(size, str(corpus), seed, requests=requests, raw=raw)
    truth.setdefault("envelope", "kubectl_prefix")
    return corpus, truth


def matrix_table(results: list[dict]) -> str:
    """One row per corpus. The ratio is by CPU seconds of each side in the same run (user +
    sys of the child): on a loaded 2-core host wall time measures the neighbours."""
    rows = [
        "| corpus | MB | request lines | baseline CPU s | pmortem CPU s | baseline MB/CPU-s | pmortem MB/CPU-s "
        "| ratio (CPU) | ratio (wall) | peak RSS baseline | peak RSS pmortem | events | requests pmortem / baseline / truth | checks |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
    ]
    for r in results:
        b, p = r.get("baseline", {}), r.get("pmortem", {})
        mbytes = r["bytes"] / 1e6
        cpu_ratio = b["cpu"] / p["cpu"] if b and p.get("rc") == 0 else float("nan")
        wall_ratio = b["seconds"] / p["seconds"] if b and p.get("rc") == 0 else float("nan")
        tr = r.get("truth") or {}
        rows.append(
            f"| {Path(r['corpus']).name} | {mbytes:,.0f} | {tr.get('request_share_of_lines', 0) * 100:.0f} % "
            f"| {b.get('cpu', 0):.1f} | {p.get('cpu', 0):.1f} | {mbytes / max(b.get('cpu', 0), 1e-9):,.0f} "
            f"| {mbytes / max(p.get('cpu', 0), 1e-9):,.0f} | **{cpu_ratio:.2f}x** | {wall_ratio:.2f}x "
            f"| {mb(b.get('peak_rss', 0))} | {mb(p.get('peak_rss_all_runs', p.get('peak_rss', 0)))} "
            f"| {p.get('events', '-'):,} | {p.get('requests', '-'):,} / {b.get('requests', '-'):,} / {tr.get('requests', '-'):,} "
            f"| {'OK' if all(r.get('checks', {}).values()) else 'MISMATCH'} |"
        )
    return "\n".join(rows) + "\n"


def run_one(a, corpus: Path, truth: dict | None, envelope: str | None) -> tuple[dict, str, int]:
    nbytes = corpus.stat().st_size
    gb = nbytes / 1e9

    # warm the page cache so neither side pays for the disk
    t0 = time.monotonic()
    with open(corpus, "rb") as fh:
        while fh.read(64 << 20):
            pass
    warm = time.monotonic() - t0
    print(
        f"corpus {corpus} {nbytes:,} bytes; page-cache read {nbytes / 1e6 / warm:,.0f} MB/s", file=sys.stderr
    )

    res: dict = {
        "truth": truth,
        "corpus": str(corpus),
        "bytes": nbytes,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_rev(),
    }
    res["machine"] = (
        f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB RAM, Python {platform.python_version()}"
    )

    compile_package()
    base = None
    pm = None
    pm_peak = 0
    runs: list[dict] = []
    pdb = fresh_db("bench_pmortem.duckdb")
    for i in range(a.repeat):
        if not a.skip_baseline:
            bdb = fresh_db("bench_baseline.duckdb")
            print(f"[{i + 1}/{a.repeat}] baseline (DuckDB SQL) ...", file=sys.stderr)
            b = Measured(
                [sys.executable, str(Path(__file__).resolve()), "--baseline-run", str(corpus), bdb, envelope or "none"]
            ).run()
            if b.rc != 0:
                print(b.stderr, file=sys.stderr)
                raise SystemExit("baseline failed")
            runs.append(
                {"what": "baseline", "seconds": b.seconds, "cpu": b.cpu, "peak_rss": b.peak, "load": b.load}
            )
            if base is None or b.seconds < base.seconds:
                base = b
                bj = json.loads(b.stdout.strip().splitlines()[-1])
                res["baseline"] = {
                    "seconds": b.seconds,
                    "cpu": b.cpu,
                    "peak_rss": b.peak,
                    "peak_rss_tree": b.peak_tree,
                    "maxrss": b.maxrss,
                    "counts": bj["counts"],
                    "requests": bj["requests"],
                    "db_bytes": os.path.getsize(bdb),
                    "load": b.load,
                }
            else:
                res["baseline"]["peak_rss"] = max(res["baseline"]["peak_rss"], b.peak)
            if not a.keep_dbs:
                os.unlink(bdb)
        pdb = fresh_db("bench_pmortem.duckdb")
        print(f"[{i + 1}/{a.repeat}] pmortem ingest ...", file=sys.stderr)
        p = Measured([*pmortem_argv(), "ingest", str(corpus), "--db", pdb]).run()
        runs.append(
            {
                "what": "pmortem",
                "seconds": p.seconds,
                "cpu": p.cpu,
                "peak_rss": p.peak,
                "load": p.load,
                "rc": p.rc,
            }
        )
        if p.rc != 0:
            pm = p
            break
        pm_peak = max(pm_peak, p.peak)
        if pm is None or p.seconds < pm.seconds:
            pm = p
    res["runs"] = runs
    res["pmortem"] = {
        "seconds": pm.seconds,
        "cpu": pm.cpu,
        "peak_rss": pm.peak,
        "peak_rss_tree": pm.peak_tree,
        "maxrss": pm.maxrss,
        "rc": pm.rc,
        "load": pm.load,
        "stderr_tail": pm.stderr.strip().splitlines()[-3:],
    }
    if pm.rc != 0:
        print(pm.stderr[-4000:], file=sys.stderr)
    else:
        res["pmortem"]["peak_rss_all_runs"] = pm_peak
        pc = pmortem_counts(pdb)
        res["pmortem"]["all_kinds"] = [list(r) for r in pc.pop("_all")]
        res["pmortem"]["counts"] = pc
        res["pmortem"]["events"], res["pmortem"]["requests"] = pmortem_totals(pdb)
        res["pmortem"]["db_bytes"] = os.path.getsize(pdb)

    if pm.rc == 0 and not a.skip_reingest:
        print("re-ingest (unchanged) ...", file=sys.stderr)
        re_ = Measured([*pmortem_argv(), "ingest", str(corpus), "--db", pdb]).run()
        res["reingest"] = {
            "seconds": re_.seconds,
            "cpu": re_.cpu,
            "peak_rss": re_.peak,
            "rc": re_.rc,
            "unchanged": "unchanged" in re_.stderr,
            "stderr_tail": re_.stderr.strip().splitlines()[-2:],
        }
    if not a.keep_dbs and os.path.exists(pdb):
        os.unlink(pdb)

    if not a.skip_store_lines:
        sdb = fresh_db("bench_store_lines.duckdb")
        print("pmortem ingest --store-lines ...", file=sys.stderr)
        st = Measured([*pmortem_argv(), "ingest", str(corpus), "--db", sdb, "--store-lines"]).run()
        res["store_lines"] = {
            "seconds": st.seconds,
            "cpu": st.cpu,
            "load": st.load,
            "peak_rss": st.peak,
            "rc": st.rc,
            "db_bytes": os.path.getsize(sdb) if os.path.exists(sdb) else None,
            "stderr_tail": st.stderr.strip().splitlines()[-2:],
        }
        if st.rc == 0:
            res["store_lines"]["counts"] = {k: v for k, v in pmortem_counts(sdb).items() if k != "_all"}
        if not a.keep_dbs and os.path.exists(sdb):
            os.unlink(sdb)

    # ---- checks and table
    checks = []
    if truth:
        t_ev = truth["events"]
        if "counts" in res.get("pmortem", {}):
            checks.append(("pmortem == truth", res["pmortem"]["counts"] == t_ev))
        if base:
            checks.append(
                ("baseline == truth", {k: res["baseline"]["counts"].get(k, 0) for k in INTERESTING} == t_ev)
            )
        if "counts" in res.get("store_lines", {}):
            checks.append(("pmortem --store-lines == truth", res["store_lines"]["counts"] == t_ev))
    if base and "counts" in res.get("pmortem", {}):
        checks.append(
            (
                "pmortem == baseline",
                {k: res["baseline"]["counts"].get(k, 0) for k in INTERESTING} == res["pmortem"]["counts"],
            )
        )
    if truth and truth.get("requests_arg") is not None or (truth and truth.get("raw")):
        if base:
            checks.append(("baseline requests == truth", res["baseline"]["requests"] == truth["requests"]))
        if "requests" in res.get("pmortem", {}):
            checks.append(("pmortem requests == truth", res["pmortem"]["requests"] == truth["requests"]))
    res["checks"] = {k: v for k, v in checks}

    rows = [("what", "value")]
    rows.append(
        (
            "corpus",
            f"{corpus.name}: {nbytes:,} bytes"
            + (
                f", {truth['lines']:,} lines, {sum(truth['events'].values()):,} interesting events"
                if truth
                else ""
            ),
        )
    )
    if base:
        rows.append(
            (
                "DuckDB-only baseline",
                f"{res['baseline']['seconds']:.1f} s, **{nbytes / 1e6 / res['baseline']['seconds']:,.0f} MB/s**, CPU {res['baseline']['cpu']:.1f} s, peak RSS {mb(res['baseline']['peak_rss'])}, load {res['baseline']['load']}",
            )
        )
    if pm.rc == 0:
        rows.append(
            (
                "pmortem ingest (defaults)",
                f"{pm.seconds:.1f} s, **{nbytes / 1e6 / pm.seconds:,.0f} MB/s**, CPU {pm.cpu:.1f} s, peak RSS **{mb(pm_peak)}** (fastest run: tree poll {mb(pm.peak_tree)}, VmHWM {mb(pm.hwm)}), DB {mb(res['pmortem']['db_bytes'])}, load {pm.load}",
            )
        )
    else:
        rows.append(
            (
                "pmortem ingest (defaults)",
                f"FAILED rc={pm.rc} after {pm.seconds:.1f} s, peak RSS {mb(pm.peak)}: {' / '.join(res['pmortem']['stderr_tail'])}",
            )
        )
    if base and pm.rc == 0:
        ratio = res["baseline"]["seconds"] / pm.seconds
        res["ratio"] = ratio
        rows.append(
            (
                "ratio pmortem / baseline throughput",
                f"**{ratio:.2f}x** (bar: >= 1.5x) {'PASS' if ratio >= 1.5 else 'FAIL'}",
            )
        )
    if pm.rc == 0:
        rows.append(("peak RSS bar (< 1 GB)", "PASS" if pm_peak < 10**9 else "FAIL"))
    if "reingest" in res:
        r = res["reingest"]
        rows.append(
            (
                "re-ingest unchanged file",
                f"{r['seconds']:.2f} s wall, CPU {r['cpu']:.2f} s (aim < 1 s) {'PASS' if r['seconds'] < 1 else 'FAIL'}; reported unchanged: {r['unchanged']}",
            )
        )
    if "store_lines" in res and pm.rc == 0:
        s = res["store_lines"]
        if s["rc"] == 0:
            extra = s["seconds"] - pm.seconds
            res["store_lines"]["extra_s_per_gb"] = extra / gb
            rows.append(
                (
                    "--store-lines",
                    f"{s['seconds']:.1f} s ({nbytes / 1e6 / s['seconds']:,.0f} MB/s), CPU {s['cpu']:.1f} s; vs default: {extra:+.1f} s wall = **{extra / gb:+.1f} s per GB** ({(s['cpu'] - pm.cpu) / gb:+.1f} CPU-s per GB), peak RSS {mb(s['peak_rss'])}, DB {mb(s['db_bytes'])}, load {s['load']}",
                )
            )
        else:
            rows.append(("--store-lines", f"FAILED rc={s['rc']}: {' / '.join(s['stderr_tail'])}"))
    for k, v in checks:
        rows.append((f"check: {k}", "OK" if v else "MISMATCH"))
    if truth:
        names = INTERESTING
        has_sl = "counts" in res.get("store_lines", {})
        hdr = "| kind | truth | pmortem | baseline |" + (
            " --store-lines |" if "counts" in res.get("store_lines", {}) else ""
        )
    table = "\n".join(
        [f"| {rows[0][0]} | {rows[0][1]} |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in rows[1:]]]
    )
    if truth:
        lines = [hdr, "| --- | ---: | ---: | ---: |" + (" ---: |" if has_sl else "")]
        for k in names:
            pcnt = res.get("pmortem", {}).get("counts", {}).get(k, "-")
            bcnt = res.get("baseline", {}).get("counts", {}).get(k, "-") if base else "-"
            row = (
                f"| {k} | {truth['events'][k]:,} | {pcnt:,} | {bcnt if bcnt == '-' else format(bcnt, ',')} |"
                if pcnt != "-"
                else f"| {k} | {truth['events'][k]:,} | - | {bcnt} |"
            )
            if has_sl:
                row += f" {res['store_lines']['counts'].get(k, 0):,} |"
            lines.append(row)
        table += "\n\n" + "\n".join(lines)
    head = f"pmortem ingest benchmark, {res['date']}, commit {res['commit']}, {res['machine']}\n\n"
    md = head + table + "\n"
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=str))
    ok = all(v for _, v in checks) and pm.rc == 0
    return res, md, 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
