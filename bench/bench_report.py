#!/usr/bin/env python3
"""`pmortem report` time and peak RSS against the number of events, on request-heavy data.

    python bench/bench_report.py                          # 1M, 10M, 50M, 100M (databases cached in bench/out/)
    python bench/bench_report.py --sizes 1M,10M           # some sizes only
    python bench/bench_report.py --runs 3 --memory-limit 512MB
    python bench/bench_report.py --regen                  # rebuild the cached databases

Each database (bench/out/reqheavy-<N>.duckdb, git-ignored) is made with `pmortem.db.connect` (the
real schema and migrations) and filled with DuckDB SQL over `range()`, shaped like a request-heavy
production export as today's ingest stores it: about three quarters `http_request` events, the rest
`log` lines, dependency calls, client spans and memory lines; a steady trickle of bad events (0.4 %
of requests are 5xx, 0.3 % of logs at error level, a few timeouts and single worker exits): about
200 bad events a minute from healthy services. Events come at 1,000 a second, centred on the
incident, so the N-event database spans N/1000 seconds, and every event is a function of its index
(hash of source and index): the 10M database is exactly the central 10M events of the 100M one.
The incident slice (the founding case: a 48-core campaign pod whose ~900 workers die in 2 min,
SIGKILL with instant respawn, each new worker fetching from translation, `Response is closed`
server errors, client error spans, 5xx at the gateway for the campaign routes; two healthy
campaign pods on 8/16 cores that started minutes before) is the same in every size.

Then, per size: `pmortem report --format json` as a child process (wall time, CPU seconds, peak RSS
of the process tree polled every 10 ms and the kernel's ru_maxrss), and the findings compared with
the 10M database's: the window, the root cause, and every finding's rule, severity and metrics.
Exit 0 when every size >= 10M gives the 10M findings.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(REPO))

INCIDENT = dt.datetime(2022, 4, 8, 20, 55, 5, tzinfo=dt.UTC)
RATE = 1000  # background events per second, all sources together
LINE0 = 1_000_000_000  # line numbers are index + LINE0: the same event has the same line in every size
# background sources: (service, pod, host, share of events, request share, route prefix)
BACKGROUND = [
    ("gateway", "gateway-ingress-7d4b9c8f6-h2x9q", "ip-10-0-7-10", 0.30, 0.95, "/"),
    ("storefront", "storefront-6b7c8d9f5-q7w2e", "ip-10-0-5-11", 0.16, 0.75, "/shop"),
    ("storefront", "storefront-6b7c8d9f5-m3k8d", "ip-10-0-5-12", 0.16, 0.75, "/shop"),
    ("checkout", "checkout-5c8d7f6b9-t6y4u", "ip-10-0-5-13", 0.10, 0.70, "/checkout"),
    ("search", "search-8f6d5c4b3-p9o8i", "ip-10-0-6-10", 0.10, 0.70, "/search"),
    ("translation", "translation-5c8d7f6b9-b2n4m", "ip-10-0-4-10", 0.10, 0.80, "/translations"),
    ("checkout", "checkout-5c8d7f6b9-r5e3w", "ip-10-0-5-14", 0.08, 0.70, "/checkout"),
]
CAMPAIGN = [  # pod, host, cores, seconds before the incident pod's start
    ("campaign-7f9c6d5b8-m4h2t", "ip-10-0-1-42", 8, 420),
    ("campaign-7f9c6d5b8-q8w3e", "ip-10-0-2-88", 16, 300),
    ("campaign-7f9c6d5b8-x2k9p", "ip-10-0-3-17", 48, 0),  # the incident pod
]
DEATHS, DEATH_DT_US = 900, 133_000
COLS = ("source_id, ts, ts_text, line_no, byte_offset, line_count, service, namespace, pod, container, host, pid, stream, "
        "level, kind, message, attrs, trace_id, span_id, cpu_count, exit_code, signal, error_class, status, duration_ms, "
        "route, peer")


def parse_n(text: str) -> int:
    t = text.strip().upper()
    mult = {"K": 10**3, "M": 10**6, "G": 10**9}.get(t[-1], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def t_sql(offset_us: str) -> str:
    return f"(TIMESTAMPTZ '{INCIDENT.isoformat()}' + to_microseconds(CAST({offset_us} AS BIGINT)))"


def build(db_path: Path, n_events: int) -> dict:
    from pmortem.db import connect

    for p in (db_path, db_path.with_suffix(".duckdb.wal"), db_path.with_suffix(".json")):
        if p.exists():
            p.unlink()
    t_start = time.perf_counter()
    con = connect(str(db_path))
    con.execute("SET preserve_insertion_order = true")
    (OUT / "tmp").mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{OUT / 'tmp'}'")
    src = 1
    paths = []
    # ---- background: per source, index j from -n/2 to n/2, in time order (as ingest stores a file)
    for svc, pod, host, share, req_share, prefix in BACKGROUND:
        n_src = int(n_events * share)
        step_us = 1e6 / (RATE * share)  # this source's mean gap
        lo, hi = -(n_src // 2), n_src - n_src // 2
        h = f"hash({src}, j)"
        con.execute(f"""
        INSERT INTO events ({COLS})
        WITH r AS (
            SELECT j, CAST(j * {step_us} AS BIGINT) + CAST({h} % {max(int(step_us), 1)} AS BIGINT) AS t_us,
                   CAST({h} % 10000 AS INTEGER) AS u, CAST(hash({src}, j, 1) % 100000 AS INTEGER) AS v
            FROM range({lo}, {hi}) t(j)
        ),
        k AS (
            SELECT *, CASE WHEN u < {int(req_share * 10000)} THEN 'http_request'
                           WHEN u < {int(req_share * 10000)} + 300 THEN 'dependency_call'
                           WHEN u < {int(req_share * 10000)} + 450 THEN 'span'
                           WHEN u < {int(req_share * 10000)} + 500 THEN 'memory'
                           WHEN u < {int(req_share * 10000)} + 503 THEN 'error'
                           WHEN u = 9999 AND v < 20000 THEN 'worker_exit'
                           ELSE 'log' END AS kind
            FROM r
        )
        SELECT {src}, {t_sql('t_us')} AS ts, NULL, j + {LINE0}, (j + {LINE0}) * 160, 1, '{svc}', 'prod', '{pod}', '{svc}', '{host}',
               CAST(1 + v % 4 AS BIGINT), 'stdout',
               CASE WHEN kind = 'http_request' AND v < 400 THEN 'error' WHEN kind = 'log' AND v < 300 THEN 'error'
                    WHEN kind IN ('error', 'worker_exit') THEN 'error' ELSE 'info' END,
               kind,
               CASE kind
                 WHEN 'http_request' THEN (CASE WHEN v % 5 = 0 THEN 'POST ' ELSE 'GET ' END) || '{prefix}/' || (v % 37) || '/' || (j % 9973)
                      || ' ' || (CASE WHEN v < 400 THEN 503 ELSE 200 END) || ' ' || (v % 700) || 'ms'
                 WHEN 'dependency_call' THEN 'calling http://search.prod.svc:8080/v1/items?id=' || (v % 9973)
                 WHEN 'span' THEN 'GET /v1/items'
                 WHEN 'memory' THEN 'Memory usage: rss=' || (80 + v % 90) || 'MB heapTotal=' || (20 + v % 30) || 'MB'
                 WHEN 'error' THEN 'upstream request timed out after 3000 ms (read timeout)'
                 WHEN 'worker_exit' THEN 'Worker ' || (100 + v % 64) || ' exited with code 1'
                 ELSE (CASE WHEN v < 300 THEN 'failed to render widget: TypeError: Cannot read properties of undefined (slot ' || (v % 9) || ')'
                            ELSE 'cache refresh done: ' || (v % 5000) || ' keys in ' || (v % 90) || ' ms' END)
               END,
               CASE WHEN kind = 'span' THEN '{{"span_kind":"client"}}' END,
               CASE WHEN kind = 'span' THEN format('{{:016x}}{{:016x}}', hash({src}, j, 7), hash({src}, j, 8)) END,
               CASE WHEN kind = 'span' THEN format('{{:016x}}', hash({src}, j, 9)) END,
               NULL, CASE WHEN kind = 'worker_exit' THEN 1 END, NULL,
               CASE WHEN kind = 'error' THEN 'read_timeout' END,
               CASE WHEN kind = 'http_request' THEN (CASE WHEN v < 400 THEN 503 ELSE 200 END) WHEN kind = 'span' THEN 1 END,
               CASE WHEN kind IN ('http_request', 'span') THEN CAST(v % 700 AS DOUBLE) + 0.5 END,
               CASE WHEN kind = 'http_request' THEN '{prefix}/' || (v % 37) END,
               CASE WHEN kind IN ('dependency_call', 'span') THEN 'search' END
        FROM k ORDER BY j
        """)
        paths.append((src, f"exports/{pod}.log", svc, pod, host))
        src += 1

    # ---- the incident slice: campaign pods (own sources), translation server errors, client spans, gateway 5xx
    camp_src = {}
    for pod, host, cores, before_s in CAMPAIGN:
        base = f"-{before_s * 1_000_000}"
        rows = [
            f"SELECT {t_sql(base + ' + 100')}, 'cpu_count', 'Number of CPUs: {cores}', {cores}, NULL::BIGINT, NULL::TEXT, NULL::INTEGER, NULL::TEXT",
            f"SELECT {t_sql(base + ' + 200')}, 'primary_start', 'Primary 1 is running, forking {cores} workers', NULL, 1, NULL, NULL, NULL",
            f"""SELECT {t_sql(base + ' + 50000 + w * 40000')}, 'worker_start', 'Worker ' || (100 + w) || ' started', NULL, 100 + w, NULL, NULL, NULL
                FROM range({cores}) t(w)""",
            # healthy campaign traffic until 10 min after the incident: one request a second
            f"""SELECT {t_sql(base + ' + 1000000 * s + 500000')}, 'http_request', 'GET /campaigns/' || (s % 97) || ' 200 ' || (40 + s % 200) || 'ms',
                       NULL, 100 + s % {cores}, NULL, NULL, '/campaigns'
                FROM range({before_s + 600}) t(s)""",
        ]
        if cores == 48:
            k_ts = f"7000000 + k * {DEATH_DT_US}"
            rows += [
                f"""SELECT {t_sql(k_ts)}, 'worker_exit', 'Worker fragment (pid: ' || (100 + k) || ') died (code: null, signal: SIGKILL), restarting',
                           NULL, 100 + k, 'SIGKILL', NULL, NULL FROM range({DEATHS}) t(k)""",
                f"""SELECT {t_sql(k_ts + ' + 50000 + hash(k) % 100000')}, 'worker_start', 'Worker ' || (148 + k) || ' started', NULL, 148 + k, NULL, NULL, NULL
                    FROM range({DEATHS}) t(k)""",
                f"""SELECT {t_sql(k_ts + ' + 80000 + hash(k) % 100000')}, 'dependency_call',
                           'Fetching translations from http://translation-service:8080/translations?lang=de', NULL, 148 + k, NULL, NULL, NULL
                    FROM range({DEATHS}) t(k)""",
            ]
        con.execute(f"""
        INSERT INTO events ({COLS})
        SELECT {src}, ts, NULL, row_number() OVER (ORDER BY ts) + {LINE0}, (row_number() OVER (ORDER BY ts) + {LINE0}) * 160, 1, 'campaign', 'prod',
               '{pod}', 'campaign', '{host}', pid, 'stdout', CASE WHEN kind = 'worker_exit' THEN 'warn' ELSE 'info' END, kind, message,
               NULL, NULL, NULL, cpu, NULL, sig, NULL, CASE WHEN kind = 'http_request' THEN 200 END,
               CASE WHEN kind = 'http_request' THEN 40.0 END, route,
               CASE WHEN kind = 'dependency_call' THEN 'translation-service' END
        FROM ({' UNION ALL '.join(rows)}) x(ts, kind, message, cpu, pid, sig, code, route)
        ORDER BY ts
        """)
        camp_src[pod] = src
        paths.append((src, f"exports/{pod}.log", "campaign", pod, host))
        src += 1
    inc_pod, inc_host = CAMPAIGN[-1][0], CAMPAIGN[-1][1]
    # translation: every 10th death hangs up a response (its own export of the incident hour)
    k_ts = f"7000000 + k * {DEATH_DT_US}"
    con.execute(f"""
    INSERT INTO events ({COLS})
    SELECT {src}, ts, NULL, row_number() OVER (ORDER BY ts) + {LINE0}, 0, 2, 'translation', 'prod', 'translation-5c8d7f6b9-b2n4m', 'translation',
           'ip-10-0-4-10', 1, 'stdout', 'error', 'error', message, NULL, NULL, NULL, NULL, NULL, NULL, 'response_closed', NULL, NULL, NULL, NULL
    FROM (SELECT {t_sql(k_ts + ' + 5000 + hash(k, 1) % 200000')} AS ts,
                 'Failed to write response for GET /translations?lang=de after ' || (200 + k % 300) || 'ms client=10.0.3.17:' || (40000 + k)
                 || ' trace=' || format('{{:016x}}{{:016x}}', hash(k, 77), hash(k, 78)) || chr(10)
                 || 'java.lang.IllegalStateException: Response is closed' AS message
          FROM range(0, {DEATHS}, 10) t(k))
    ORDER BY ts
    """)
    paths.append((src, "exports/translation-service.log", "translation", "translation-5c8d7f6b9-b2n4m", "ip-10-0-4-10"))
    src += 1
    # client spans of the incident pod (a span export), some sharing a trace with a server error
    con.execute(f"""
    INSERT INTO events ({COLS})
    SELECT {src}, ts, NULL, row_number() OVER (ORDER BY ts) + {LINE0}, 0, 1, 'campaign-service', 'prod', '{inc_pod}', 'campaign', '{inc_host}',
           pid, NULL, 'error', 'span', message, '{{"span_kind":"client"}}', trace_id, span_id, NULL, NULL, NULL, error_class, 2,
           duration_ms, '/translations', 'translation-service'
    FROM (SELECT {t_sql(k_ts + ' - 1000000')} AS ts, 100 + k AS pid,
                 CASE WHEN k % 4 = 0 THEN 'context cancelled' ELSE 'read timeout' END AS message,
                 CASE WHEN k % 30 = 0 THEN format('{{:016x}}{{:016x}}', hash(k, 77), hash(k, 78))
                      ELSE format('{{:016x}}{{:016x}}', hash(k, 79), hash(k, 80)) END AS trace_id,
                 format('{{:016x}}', hash(k, 81)) AS span_id, 1000.0 + k % 300 AS duration_ms,
                 CASE WHEN k % 4 = 0 THEN 'context_cancelled' ELSE 'read_timeout' END AS error_class
          FROM range(0, {DEATHS}, 7) t(k))
    ORDER BY ts
    """)
    paths.append((src, "exports/spans.jsonl", None, None, None))
    src += 1
    # gateway 502s for the campaign routes while workers die (a second gateway export)
    con.execute(f"""
    INSERT INTO events ({COLS})
    SELECT {src}, ts, NULL, row_number() OVER (ORDER BY ts) + {LINE0}, 0, 1, 'gateway', 'prod', 'gateway-ingress-7d4b9c8f6-z7c5v', 'gateway',
           'ip-10-0-7-11', 1, 'stdout', 'error', 'http_request', 'GET /campaigns/' || (k % 97) || ' 502 ' || (k % 90) || 'ms', NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, 502, CAST(k % 90 AS DOUBLE), '/campaigns', NULL
    FROM (SELECT {t_sql(k_ts + ' + 20000')} AS ts, k FROM range(0, {DEATHS}, 3) t(k))
    ORDER BY ts
    """)
    paths.append((src, "exports/gateway-ingress-7d4b9c8f6-z7c5v.log", "gateway", "gateway-ingress-7d4b9c8f6-z7c5v", "ip-10-0-7-11"))
    src += 1
    # pod objects (a pods.json): 1 CPU limit for the campaign pods
    con.execute(f"""
    INSERT INTO events ({COLS})
    SELECT {src}, {t_sql("-600000000")}, NULL, {LINE0} + n, 0, 1, 'campaign', 'prod', pod, NULL, host, NULL, NULL, 'info', 'pod_spec',
           'pod ' || pod || ' on ' || host, '{{"cpu_limit": 1, "cpu_request": 1, "memory_limit_mb": 2048}}', NULL, NULL, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL, NULL
    FROM (VALUES {', '.join(f"({i}, '{p}', '{h}')" for i, (p, h, _, _) in enumerate(CAMPAIGN))}) v(n, pod, host)
    """)
    paths.append((src, "exports/pods.json", None, None, None))
    con.execute("""
    INSERT INTO line_index
    SELECT source_id, date_trunc('minute', ts), service, pod, container, level, count(*), min(line_no), max(line_no),
           min(byte_offset), max(byte_offset) + 160
    FROM events GROUP BY ALL ORDER BY 1, 2
    """)
    con.executemany(
        """INSERT INTO sources (source_id, path, abspath, size, fingerprint, bytes_done, lines_done, format, service, pod, host,
                                lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events, status, ingested_at)
           VALUES (?, ?, '/bench/' || ?, 0, 'synthetic:' || ?, 0, 0, 'kubectl_prefix', ?, ?, ?, 0, 0, 0, 0, 0, 0, 'complete', now())""",
        [(s, p, p, s, svc, pod, host) for s, p, svc, pod, host in paths],
    )
    con.execute("""
    UPDATE sources SET lines = c.n, lines_parsed = c.n, events = c.n, lines_done = c.n, first_ts = c.lo, last_ts = c.hi
    FROM (SELECT source_id, count(*) AS n, min(ts) AS lo, max(ts) AS hi FROM events GROUP BY 1) c
    WHERE c.source_id = sources.source_id
    """)
    con.execute("CHECKPOINT")
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    kinds = dict(con.execute("SELECT kind, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC").fetchall())
    span = con.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    con.close()
    meta = {"events": n, "kinds": kinds, "first": span[0].isoformat(), "last": span[1].isoformat(),
            "build_s": round(time.perf_counter() - t_start, 1), "generator_events": n_events}
    db_path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return meta


def run_report(db: Path, out: Path, extra: list[str]) -> dict:
    cmd = [sys.executable, "-m", "pmortem.cli", "report", "--db", str(db), "--format", "json", "--out", str(out), *extra]
    if out.exists():
        out.unlink()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)  # the child's own rusage (CPU, ru_maxrss) when it ends
        if pid:
            break
        try:
            peak = max(peak, ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True)))
        except psutil.Error:
            pass
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read()
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"report failed ({proc.returncode}): {stderr.strip()[-2000:]}")
    return {"wall_s": round(wall, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2),
            "peak_rss_mb": round(max(peak, ru.ru_maxrss * 1024) / 2**20), "ru_maxrss_mb": round(ru.ru_maxrss / 1024)}


def findings_key(rep: dict) -> dict:
    """What must not change with more surrounding data: window, root cause, every finding's rule, severity, metrics."""
    root = next((f["rule"] for f in rep["findings"] if f["id"] == rep["root_cause"]), None)
    return {
        "incident": rep["incident"],
        "window": [rep["window"]["start"], rep["window"]["end"]],
        "root_cause": root,
        "impact_deaths": rep["impact"]["deaths"],
        "findings": sorted(
            [{"rule": f["rule"], "severity": f["severity"], "pod": (f.get("entity") or {}).get("pod"), "metrics": f["metrics"]}
             for f in rep["findings"]],
            key=lambda f: (f["rule"], str(f["pod"]), json.dumps(f["metrics"], sort_keys=True, default=str)),
        ),
    }


def diff(a: dict, b: dict) -> list[str]:
    out = []
    for k in ("incident", "window", "root_cause", "impact_deaths"):
        if a[k] != b[k]:
            out.append(f"{k}: {a[k]} != {b[k]}")
    fa = {(f["rule"], str(f["pod"])): f for f in a["findings"]}
    fb = {(f["rule"], str(f["pod"])): f for f in b["findings"]}
    for key in sorted(set(fa) | set(fb)):
        x, y = fa.get(key), fb.get(key)
        if x is None or y is None:
            out.append(f"finding {key}: only in {'10M' if y is None else 'this size'}")
        elif x != y:
            ms = {m: (x["metrics"].get(m), y["metrics"].get(m)) for m in set(x["metrics"]) | set(y["metrics"])
                  if x["metrics"].get(m) != y["metrics"].get(m)}
            out.append(f"finding {key}: severity {x['severity']}/{y['severity']} metrics {ms}")
    return out


def commit() -> str:
    r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return r.stdout.strip() or "?"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,10M,50M,100M", help="event counts (default 1M,10M,50M,100M)")
    ap.add_argument("--runs", type=int, default=1, help="report runs per size; the fastest counts (default 1)")
    ap.add_argument("--regen", action="store_true", help="rebuild the cached databases")
    ap.add_argument("--memory-limit", help="passed to pmortem report")
    ap.add_argument("--threads", help="passed to pmortem report")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--build-only", action="store_true", help="generate the missing databases and stop")
    args = ap.parse_args()
    sizes = [parse_n(s) for s in args.sizes.split(",")]
    ref_n = 10_000_000
    if ref_n not in sizes and not args.build_only:
        sizes = sorted({*sizes, ref_n})
    OUT.mkdir(exist_ok=True)
    extra = [*(["--memory-limit", args.memory_limit] if args.memory_limit else []),
             *(["--threads", args.threads] if args.threads else [])]
    rows, keys = [], {}
    for n in sizes:
        db = OUT / f"reqheavy-{n // 1_000_000 if n >= 1_000_000 else n}{'M' if n >= 1_000_000 else ''}.duckdb"
        meta_path = db.with_suffix(".json")
        if args.regen or not db.exists() or not meta_path.exists():
            print(f"generating {n:,} events into {db} ...", file=sys.stderr, flush=True)
            meta = build(db, n)
            print(f"  built in {meta['build_s']} s", file=sys.stderr, flush=True)
        else:
            meta = json.loads(meta_path.read_text())
        if args.build_only:
            continue
        out = OUT / f"report-{db.stem}.json"
        best = None
        for _ in range(args.runs):
            load = os.getloadavg()[0]
            r = run_report(db, out, extra)
            r["load_before"] = round(load, 2)
            if best is None or r["wall_s"] < best["wall_s"]:
                best = r
        keys[n] = findings_key(json.loads(out.read_text()))
        row = {"events": meta["events"], "db_gb": round(db.stat().st_size / 2**30, 2), "span_h": round(n / RATE / 3600, 1), **best,
               "window": keys[n]["window"], "root_cause": keys[n]["root_cause"], "findings": len(keys[n]["findings"])}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if args.build_only:
        return 0
    ok = True
    for row, n in zip(rows, sizes, strict=True):
        d = diff(keys[ref_n], keys[n])
        row["same_as_10M"] = not d
        if n >= ref_n and d:
            ok = False
        if d:
            print(f"{n:,} events vs 10M:\n  " + "\n  ".join(d[:20]), file=sys.stderr)
    print(f"\ncommit {commit()}, {dt.date.today().isoformat()}, {os.cpu_count()} CPUs"
          + (f", pmortem report {' '.join(extra)}" if extra else ""))
    print("| events | DB size | data span | report wall | CPU | peak RSS (max of polled tree and ru_maxrss) | window | root cause | findings = 10M's |")
    print("|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        print(f"| {r['events']:,} | {r['db_gb']} GB | {r['span_h']} h | {r['wall_s']} s | {r['cpu_s']} s | "
              f"{r['peak_rss_mb']} MB | {r['window'][0][11:19]} - {r['window'][1][11:19]} | "
              f"{r['root_cause']} | {'yes' if r['same_as_10M'] else 'NO'} |")
    if args.json:
        args.json.write_text(json.dumps({"commit": commit(), "rows": rows}, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
