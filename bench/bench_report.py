#!/usr/bin/env python3
"""`pmortem report` time and peak RSS against the size of the export, on request-heavy data.

    python bench/bench_report.py                          # 1M, 10M, 50M, 100M (databases cached in bench/out/)
    python bench/bench_report.py --sizes 1M,10M           # some sizes only
    python bench/bench_report.py --runs 3 --memory-limit 512MB
    python bench/bench_report.py --regen                  # rebuild the cached databases
    python bench/bench_report.py --sizes 10M --profile    # seconds per stage and per query, in-process
    python bench/bench_report.py --sizes 5GB              # the database of a 5 GB export (5e9 / 160 bytes a line)
    python bench/bench_report.py --sizes 50M --parquet    # also over the Parquet dataset (`report --data`)
    python bench/bench_report.py --sizes 50M --parquet --profile --explain 3   # EXPLAIN ANALYZE of the 3 heaviest

A size is N log lines, or an export size (5GB: the lines of 160 bytes, this generator's line length,
that make 5 GB of export; the database is much smaller).

A size is N log lines of the export (what the issue calls "N events": lines, not event rows).
Each database (bench/out/reqheavy-<N>.duckdb, git-ignored) is made with `pmortem.db.connect` (the
real schema and migrations) and filled with DuckDB SQL over `range()`, shaped like a request-heavy
production export as ingest stores it now (parsers/requests.py `split_requests`): about 80 % of the
lines are requests, counted in the `requests` rollup (per source, pod, pid, second, method, route
template, status, upstream: counts, latency sum / max, histogram buckets, the latencies list, first
and last time and line); only the notable requests (5xx, 401/403/408/499/504, aborted, slow: at or
over 400 ms) stay `http_request` events, next to the other lines (`log` lines, dependency calls,
client spans, memory lines); every line is counted in `line_index`. The healthy trickle: 0.4 % of
requests are 503, 0.5 % slow, 0.3 % of logs at error level, a few timeouts and single worker exits.
Lines come at 1,000 a second, centred on the incident, so the N-line database spans N/1000
seconds, and every line is a function of its index (hash of source and index), generated in steps
that start at the same indexes in every size: the 10M database is exactly the central 10M lines of
the 100M one (its rollup rows too, but for the seconds at its two ends).
The incident slice (the founding case: a 48-core campaign pod whose ~900 workers die in 2 min,
SIGKILL with instant respawn, each new worker fetching from translation, `Response is closed`
server errors, client error spans, 502s at the gateway for the campaign routes; two healthy
campaign pods on 8/16 cores that started minutes before) is the same in every size.
The build checks its route templates against parsers/requests.py's `route_template`.

Then, per size: `pmortem report --format json` as a child process (wall time, CPU seconds, peak RSS
of the process tree polled every 10 ms and the kernel's ru_maxrss), and the findings compared with
the 10M database's: the window, the root cause, and every finding's rule, severity and metrics.
Exit 0 when every size >= 10M gives the 10M findings.

With --parquet, each database is also exported (once, cached beside it as reqheavy-<N>.parquet/)
with pmortem's own export code (pmortem/spark/dataset.py `export`: the hive-partitioned dataset
`ingest --engine spark` writes), `pmortem report --data DIR --format json` runs the same way, and
its report is compared with the DuckDB file's: the findings as above, and the whole JSON but for
the command line.
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
    ("gateway", "gateway-ingress-7d4b9c8f6-h2x9q", "ip-10-0-7-10", 0.30, 0.95, "/api"),
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
# the columns of a generated line (table L): the event columns, plus the request's method and route template
LCOLS = COLS + ", method, route_t"
CHUNK = 1 << 22  # background lines per generation step; steps start at multiples of CHUNK (the same in every size)
BOUNDS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)  # parsers.requests.BUCKETS_MS
SLOW_MS = 400.0  # parsers.requests.SLOW_REQUEST_MS
NOTABLE_STATUS = (401, 403, 408, 499, 504)  # parsers.requests.NOTABLE_STATUS
SEGMENTS = ("items", "cart", "users", "orders", "reviews", "stock")  # a request's route: <prefix>/<segment>/<id>
LINE_BYTES = 160  # a generated line's length in the export (its byte_offset step)


def parse_n(text: str) -> int:
    """'10M' log lines, or '5GB' of export: the lines of LINE_BYTES that make it."""
    t = text.strip().upper()
    if t.endswith("B"):
        from pmortem.api import _SIZE_RE, _SIZE_UNITS

        m = _SIZE_RE.fullmatch(t)
        if not m:
            raise SystemExit(f"size {text!r}: use lines (10M) or an export size (5GB)")
        return int(float(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]) // LINE_BYTES
    mult = {"K": 10**3, "M": 10**6, "G": 10**9}.get(t[-1], 1)
    return int(float(t[:-1] if mult > 1 else t) * mult)


def t_sql(offset_us: str) -> str:
    return f"(TIMESTAMPTZ '{INCIDENT.isoformat()}' + to_microseconds(CAST({offset_us} AS BIGINT)))"


SPANS: dict[int, tuple] = {}  # source -> first and last line's time, as emit() stored them


def emit(con, src: int, select_l: str) -> tuple[int, int]:
    """Store the lines `select_l` (columns LCOLS, in file order) of source `src` as ingest stores them
    (parsers/requests.py `split_requests`): every request counted in the `requests` rollup, only the
    notable requests (5xx, 401/403/408/499/504, aborted, slow) and every non-request line as events,
    every line counted in `line_index`. Returns (lines, events)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE L AS {select_l}")
    keep = (f"kind <> 'http_request' OR status IS NULL OR status >= 500 OR status IN {NOTABLE_STATUS} "
            f"OR coalesce(duration_ms >= {SLOW_MS}, false)")
    con.execute(f"""
    INSERT INTO events ({COLS})
    SELECT {COLS.replace('message', "CASE WHEN kind = 'http_request' THEN coalesce(method, '-') || ' ' || route || ' ' || coalesce(CAST(status AS TEXT), '-') || ' ' || CAST(CAST(duration_ms AS INTEGER) AS TEXT) || 'ms' ELSE message END")}
    FROM L WHERE {keep} ORDER BY line_no
    """)
    bucket = " + ".join(f"CASE WHEN duration_ms > {b} THEN 1 ELSE 0 END" for b in BOUNDS)
    sums = ", ".join(f"count(*) FILTER (WHERE b = {i})" for i in range(len(BOUNDS) + 1))
    con.execute(f"""
    INSERT INTO requests
    SELECT source_id, service, pod, pid, date_trunc('second', ts) AS second, method, route_t, status, NULL AS upstream,
           count(*), count(duration_ms), CASE WHEN count(duration_ms) > 0 THEN sum(duration_ms) END, max(duration_ms), {sums},
           coalesce(list(duration_ms) FILTER (WHERE duration_ms IS NOT NULL), []), min(ts), max(ts), min(line_no), max(line_no)
    FROM (SELECT *, CASE WHEN duration_ms IS NOT NULL THEN {bucket} END AS b FROM L WHERE kind = 'http_request')
    GROUP BY source_id, service, pod, pid, second, method, route_t, status
    """)
    con.execute("""
    INSERT INTO line_index
    SELECT source_id, date_trunc('minute', ts), service, pod, container, level, count(*), min(line_no), max(line_no),
           min(byte_offset), max(byte_offset) + 160
    FROM L GROUP BY ALL ORDER BY 1, 2
    """)
    n_lines, n_events, lo, hi = con.execute(f"SELECT count(*), count(*) FILTER (WHERE {keep}), min(ts), max(ts) FROM L").fetchone()
    con.execute("DROP TABLE L")
    a, b = SPANS.get(src, (lo, hi))
    SPANS[src] = (min(a, lo), max(b, hi))
    return n_lines, n_events


def build(db_path: Path, n_events: int, threads: int | None = None) -> dict:
    from pmortem.db import connect

    for p in (db_path, db_path.with_suffix(".duckdb.wal"), db_path.with_suffix(".json")):
        if p.exists():
            p.unlink()
    t_start = time.perf_counter()
    SPANS.clear()
    con = connect(str(db_path))
    con.execute("SET preserve_insertion_order = true")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    (OUT / "tmp").mkdir(parents=True, exist_ok=True)
    con.execute(f"SET temp_directory = '{OUT / 'tmp'}'")
    src = 1
    paths = []  # (source_id, path, service, pod, host, lines, events)
    segs = "[" + ", ".join(f"'{s}'" for s in SEGMENTS) + "]"
    # ---- background: per source, line index j from -n/2 to n/2, in time order (as ingest stores a file)
    for svc, pod, host, share, req_share, prefix in BACKGROUND:
        n_src = int(n_events * share)
        step_us = 1e6 / (RATE * share)  # this source's mean gap
        lo, hi = -(n_src // 2), n_src - n_src // 2
        h = f"hash({src}, j)"
        rq = int(req_share * 10000)
        n_lines = n_ev = 0
        for a in range((lo // CHUNK) * CHUNK, hi, CHUNK):
            a, b = max(a, lo), min(a + CHUNK, hi)
            nl, ne = emit(con, src, f"""
            WITH r AS (
                SELECT j, CAST(j * {step_us} AS BIGINT) + CAST({h} % {max(int(step_us), 1)} AS BIGINT) AS t_us,
                       CAST({h} % 10000 AS INTEGER) AS u, CAST(hash({src}, j, 1) % 100000 AS INTEGER) AS v
                FROM range({a}, {b}) t(j)
            ),
            k AS (
                SELECT *, CASE WHEN u < {rq} THEN 'http_request'
                               WHEN u < {rq} + 300 THEN 'dependency_call'
                               WHEN u < {rq} + 450 THEN 'span'
                               WHEN u < {rq} + 500 THEN 'memory'
                               WHEN u < {rq} + 503 THEN 'error'
                               WHEN u = 9999 AND v < 20000 THEN 'worker_exit'
                               ELSE 'log' END AS kind,
                       -- a request: 0.4 % 503, 0.5 % slow (400 ms - 2 s), the rest 1-300 ms
                       CASE WHEN v < 400 THEN 503 ELSE 200 END AS st,
                       CASE WHEN v % 1000 < 5 THEN 400.5 + (v // 1000) * 16 ELSE 1.5 + (v % 997) * 0.3 END AS dur,
                       {segs}[1 + v % {len(SEGMENTS)}] AS seg
                FROM r
            )
            SELECT {src} AS source_id, {t_sql('t_us')} AS ts, NULL AS ts_text, j + {LINE0} AS line_no, (j + {LINE0}) * 160 AS byte_offset,
                   1 AS line_count, '{svc}' AS service, 'prod' AS namespace, '{pod}' AS pod, '{svc}' AS container, '{host}' AS host,
                   CAST(1 + v % 4 AS BIGINT) AS pid, 'stdout' AS stream,
                   CASE WHEN kind = 'http_request' AND st >= 500 THEN 'error' WHEN kind = 'log' AND v < 300 THEN 'error'
                        WHEN kind IN ('error', 'worker_exit') THEN 'error' ELSE 'info' END AS level,
                   kind,
                   CASE kind
                     WHEN 'dependency_call' THEN 'calling http://search.prod.svc:8080/v1/items?id=' || (v % 9973)
                     WHEN 'span' THEN 'GET /v1/items'
                     WHEN 'memory' THEN 'Memory usage: rss=' || (80 + v % 90) || 'MB heapTotal=' || (20 + v % 30) || 'MB'
                     WHEN 'error' THEN 'upstream request timed out after 3000 ms (read timeout)'
                     WHEN 'worker_exit' THEN 'Worker ' || (100 + v % 64) || ' exited with code 1'
                     WHEN 'log' THEN (CASE WHEN v < 300 THEN 'failed to render widget: TypeError: Cannot read properties of undefined (slot ' || (v % 9) || ')'
                                           ELSE 'cache refresh done: ' || (v % 5000) || ' keys in ' || (v % 90) || ' ms' END)
                   END AS message,
                   CASE WHEN kind = 'span' THEN '{{"span_kind":"client"}}'
                        WHEN kind = 'http_request' THEN (CASE WHEN v % 5 = 0 THEN '{{"method":"POST"}}' ELSE '{{"method":"GET"}}' END) END AS attrs,
                   CASE WHEN kind = 'span' THEN format('{{:016x}}{{:016x}}', hash({src}, j, 7), hash({src}, j, 8)) END AS trace_id,
                   CASE WHEN kind = 'span' THEN format('{{:016x}}', hash({src}, j, 9)) END AS span_id,
                   NULL AS cpu_count, CASE WHEN kind = 'worker_exit' THEN 1 END AS exit_code, NULL AS signal,
                   CASE WHEN kind = 'error' THEN 'read_timeout' END AS error_class,
                   CASE WHEN kind = 'http_request' THEN st WHEN kind = 'span' THEN 1 END AS status,
                   CASE WHEN kind = 'http_request' THEN dur WHEN kind = 'span' THEN CAST(v % 700 AS DOUBLE) + 0.5 END AS duration_ms,
                   CASE WHEN kind = 'http_request' THEN '{prefix}/' || seg || '/' || ((j % 9973) + 9973) % 9973 END AS route,
                   CASE WHEN kind IN ('dependency_call', 'span') THEN 'search' END AS peer,
                   CASE WHEN kind = 'http_request' THEN (CASE WHEN v % 5 = 0 THEN 'POST' ELSE 'GET' END) END AS method,
                   CASE WHEN kind = 'http_request' THEN '{prefix}/' || seg || '/:id' END AS route_t
            FROM k ORDER BY j
            """)
            n_lines, n_ev = n_lines + nl, n_ev + ne
        paths.append((src, f"exports/{pod}.log", svc, pod, host, n_lines, n_ev))
        src += 1

    # ---- the incident slice: campaign pods (own sources), translation server errors, client spans, gateway 5xx
    for pod, host, cores, before_s in CAMPAIGN:
        base = f"-{before_s * 1_000_000}"
        rows = [
            f"SELECT {t_sql(base + ' + 100')}, 'cpu_count', 'Number of CPUs: {cores}', {cores}, NULL::BIGINT, NULL::TEXT, NULL::INTEGER, NULL::TEXT, NULL::DOUBLE",
            f"SELECT {t_sql(base + ' + 200')}, 'primary_start', 'Primary 1 is running, forking {cores} workers', NULL, 1, NULL, NULL, NULL, NULL",
            f"""SELECT {t_sql(base + ' + 50000 + w * 40000')}, 'worker_start', 'Worker ' || (100 + w) || ' started', NULL, 100 + w, NULL, NULL, NULL, NULL
                FROM range({cores}) t(w)""",
            # healthy campaign traffic until 10 min after the incident: one request a second (rolled up, none notable)
            f"""SELECT {t_sql(base + ' + 1000000 * s + 500000')}, 'http_request', NULL, NULL, 100 + s % {cores}, NULL, NULL,
                       '/campaigns/' || (s % 97), 40.0 + s % 200
                FROM range({before_s + 600}) t(s)""",
        ]
        if cores == 48:
            k_ts = f"7000000 + k * {DEATH_DT_US}"
            rows += [
                f"""SELECT {t_sql(k_ts)}, 'worker_exit', 'Worker fragment (pid: ' || (100 + k) || ') died (code: null, signal: SIGKILL), restarting',
                           NULL, 100 + k, 'SIGKILL', NULL, NULL, NULL FROM range({DEATHS}) t(k)""",
                f"""SELECT {t_sql(k_ts + ' + 50000 + hash(k) % 100000')}, 'worker_start', 'Worker ' || (148 + k) || ' started', NULL, 148 + k, NULL, NULL, NULL, NULL
                    FROM range({DEATHS}) t(k)""",
                f"""SELECT {t_sql(k_ts + ' + 80000 + hash(k) % 100000')}, 'dependency_call',
                           'Fetching translations from http://translation-service:8080/translations?lang=de', NULL, 148 + k, NULL, NULL, NULL, NULL
                    FROM range({DEATHS}) t(k)""",
            ]
        nl, ne = emit(con, src, f"""
        SELECT {src} AS source_id, ts, NULL AS ts_text, row_number() OVER (ORDER BY ts) + {LINE0} AS line_no,
               (row_number() OVER (ORDER BY ts) + {LINE0}) * 160 AS byte_offset, 1 AS line_count, 'campaign' AS service, 'prod' AS namespace,
               '{pod}' AS pod, 'campaign' AS container, '{host}' AS host, pid, 'stdout' AS stream,
               CASE WHEN kind = 'worker_exit' THEN 'warn' ELSE 'info' END AS level, kind, message,
               CASE WHEN kind = 'http_request' THEN '{{"method":"GET"}}' END AS attrs, NULL AS trace_id, NULL AS span_id, cpu AS cpu_count,
               NULL AS exit_code, sig AS signal, NULL AS error_class, CASE WHEN kind = 'http_request' THEN 200 END AS status,
               dur AS duration_ms, route, CASE WHEN kind = 'dependency_call' THEN 'translation-service' END AS peer,
               CASE WHEN kind = 'http_request' THEN 'GET' END AS method, CASE WHEN kind = 'http_request' THEN '/campaigns/:id' END AS route_t
        FROM ({' UNION ALL '.join(rows)}) x(ts, kind, message, cpu, pid, sig, code, route, dur)
        ORDER BY ts
        """)
        paths.append((src, f"exports/{pod}.log", "campaign", pod, host, nl, ne))
        src += 1
    inc_pod, inc_host = CAMPAIGN[-1][0], CAMPAIGN[-1][1]
    # translation: every 10th death hangs up a response (its own export of the incident hour); two lines each
    k_ts = f"7000000 + k * {DEATH_DT_US}"
    nl, ne = emit(con, src, f"""
    SELECT {src} AS source_id, ts, NULL AS ts_text, row_number() OVER (ORDER BY ts) + {LINE0} AS line_no, 0 AS byte_offset, 2 AS line_count,
           'translation' AS service, 'prod' AS namespace, 'translation-5c8d7f6b9-b2n4m' AS pod, 'translation' AS container,
           'ip-10-0-4-10' AS host, 1 AS pid, 'stdout' AS stream, 'error' AS level, 'error' AS kind, message, NULL AS attrs,
           NULL AS trace_id, NULL AS span_id, NULL AS cpu_count, NULL AS exit_code, NULL AS signal, 'response_closed' AS error_class,
           NULL AS status, NULL AS duration_ms, NULL AS route, NULL AS peer, NULL AS method, NULL AS route_t
    FROM (SELECT {t_sql(k_ts + ' + 5000 + hash(k, 1) % 200000')} AS ts,
                 'Failed to write response for GET /translations?lang=de after ' || (200 + k % 300) || 'ms client=10.0.3.17:' || (40000 + k)
                 || ' trace=' || format('{{:016x}}{{:016x}}', hash(k, 77), hash(k, 78)) || chr(10)
                 || 'java.lang.IllegalStateException: Response is closed' AS message
          FROM range(0, {DEATHS}, 10) t(k))
    ORDER BY ts
    """)
    paths.append((src, "exports/translation-service.log", "translation", "translation-5c8d7f6b9-b2n4m", "ip-10-0-4-10", nl, ne))
    src += 1
    # client spans of the incident pod (a span export), some sharing a trace with a server error
    nl, ne = emit(con, src, f"""
    SELECT {src} AS source_id, ts, NULL AS ts_text, row_number() OVER (ORDER BY ts) + {LINE0} AS line_no, 0 AS byte_offset, 1 AS line_count,
           'campaign-service' AS service, 'prod' AS namespace, '{inc_pod}' AS pod, 'campaign' AS container, '{inc_host}' AS host,
           pid, NULL AS stream, 'error' AS level, 'span' AS kind, message, '{{"span_kind":"client"}}' AS attrs, trace_id, span_id,
           NULL AS cpu_count, NULL AS exit_code, NULL AS signal, error_class, 2 AS status,
           duration_ms, '/translations' AS route, 'translation-service' AS peer, NULL AS method, NULL AS route_t
    FROM (SELECT {t_sql(k_ts + ' - 1000000')} AS ts, 100 + k AS pid,
                 CASE WHEN k % 4 = 0 THEN 'context cancelled' ELSE 'read timeout' END AS message,
                 CASE WHEN k % 30 = 0 THEN format('{{:016x}}{{:016x}}', hash(k, 77), hash(k, 78))
                      ELSE format('{{:016x}}{{:016x}}', hash(k, 79), hash(k, 80)) END AS trace_id,
                 format('{{:016x}}', hash(k, 81)) AS span_id, 1000.0 + k % 300 AS duration_ms,
                 CASE WHEN k % 4 = 0 THEN 'context_cancelled' ELSE 'read_timeout' END AS error_class
          FROM range(0, {DEATHS}, 7) t(k))
    ORDER BY ts
    """)
    paths.append((src, "exports/spans.jsonl", None, None, None, nl, ne))
    src += 1
    # gateway 502s for the campaign routes while workers die (a second gateway export): all notable
    nl, ne = emit(con, src, f"""
    SELECT {src} AS source_id, ts, NULL AS ts_text, row_number() OVER (ORDER BY ts) + {LINE0} AS line_no, 0 AS byte_offset, 1 AS line_count,
           'gateway' AS service, 'prod' AS namespace, 'gateway-ingress-7d4b9c8f6-z7c5v' AS pod, 'gateway' AS container,
           'ip-10-0-7-11' AS host, 1 AS pid, 'stdout' AS stream, 'error' AS level, 'http_request' AS kind, NULL AS message,
           '{{"method":"GET"}}' AS attrs, NULL AS trace_id, NULL AS span_id, NULL AS cpu_count, NULL AS exit_code, NULL AS signal,
           NULL AS error_class, 502 AS status, CAST(k % 90 AS DOUBLE) AS duration_ms, '/campaigns/' || (k % 97) AS route, NULL AS peer,
           'GET' AS method, '/campaigns/:id' AS route_t
    FROM (SELECT {t_sql(k_ts + ' + 20000')} AS ts, k FROM range(0, {DEATHS}, 3) t(k))
    ORDER BY ts
    """)
    paths.append((src, "exports/gateway-ingress-7d4b9c8f6-z7c5v.log", "gateway", "gateway-ingress-7d4b9c8f6-z7c5v", "ip-10-0-7-11", nl, ne))
    src += 1
    # pod objects (a pods.json): 1 CPU limit for the campaign pods
    nl, ne = emit(con, src, f"""
    SELECT {src} AS source_id, {t_sql("-600000000")} AS ts, NULL AS ts_text, {LINE0} + n AS line_no, 0 AS byte_offset, 1 AS line_count,
           'campaign' AS service, 'prod' AS namespace, pod, NULL AS container, host, NULL AS pid, NULL AS stream, 'info' AS level,
           'pod_spec' AS kind, 'pod ' || pod || ' on ' || host AS message, '{{"cpu_limit": 1, "cpu_request": 1, "memory_limit_mb": 2048}}' AS attrs,
           NULL AS trace_id, NULL AS span_id, NULL AS cpu_count, NULL AS exit_code, NULL AS signal, NULL AS error_class, NULL AS status,
           NULL AS duration_ms, NULL AS route, NULL AS peer, NULL AS method, NULL AS route_t
    FROM (VALUES {', '.join(f"({i}, '{p}', '{h}')" for i, (p, h, _, _) in enumerate(CAMPAIGN))}) v(n, pod, host)
    """)
    paths.append((src, "exports/pods.json", None, None, None, nl, ne))
    con.executemany(
        """INSERT INTO sources (source_id, path, abspath, size, fingerprint, bytes_done, lines_done, format, service, pod, host,
                                lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events, status, ingested_at)
           VALUES (?, ?, '/bench/' || ?, 0, 'synthetic:' || ?, 0, ?, 'kubectl_prefix', ?, ?, ?, ?, ?, 0, 0, ?, ?, 'complete', now())""",
        [(s, p, p, s, nl, svc, pod, host, nl, nl, nl - ne, ne) for s, p, svc, pod, host, nl, ne in paths],
    )
    con.executemany("UPDATE sources SET first_ts = ?, last_ts = ? WHERE source_id = ?",
                    [(lo, hi, s) for s, (lo, hi) in SPANS.items()])
    con.execute("CHECKPOINT")
    n_lines = sum(p[5] for p in paths)
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    kinds = dict(con.execute("SELECT kind, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC").fetchall())
    req_rows, reqs = con.execute("SELECT count(*), sum(requests) FROM requests").fetchone()
    span = con.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    # the route templates written above are what ingest's templating makes of the routes
    sample = con.execute("SELECT DISTINCT route, '/' || split_part(route, '/', 2) || '/' || split_part(route, '/', 3) || '/:id' "
                         "FROM events WHERE kind = 'http_request' AND route LIKE '%/%/%/%' LIMIT 200").fetchall()
    con.close()
    if sample:
        import polars as pl
        from pmortem.parsers.requests import route_template

        got = pl.DataFrame({"r": [r for r, _ in sample]}).select(route_template(pl.col("r"))).to_series().to_list()
        assert got == [t for _, t in sample], "bench route templates differ from parsers/requests.py's"
    meta = {"lines": n_lines, "events": n, "requests": int(reqs or 0), "request_rows": req_rows, "kinds": kinds,
            "first": span[0].isoformat(), "last": span[1].isoformat(),
            "build_s": round(time.perf_counter() - t_start, 1), "generator_lines": n_events}
    db_path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return meta


def run_report(db: Path, out: Path, extra: list[str], data: Path | None = None) -> dict:
    src = ["--data", str(data)] if data else ["--db", str(db)]
    cmd = [sys.executable, "-m", "pmortem.cli", "report", *src, "--format", "json", "--out", str(out), *extra]
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
    return {"wall_s": round(wall, 2), "cpu_s": round(ru.ru_utime + ru.ru_stime, 2), "load_after": round(os.getloadavg()[0], 2),
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


def explain_analyze(con, key: str, name: str, params: dict, path: Path) -> str:
    """DuckDB's profile of one query (EXPLAIN ANALYZE's numbers, from its JSON profiling output), as
    text: every operator, the slowest first, with its rows and what a scan read and filtered
    (Filters, Total Files Read, ...). Returns the path written."""
    from pmortem.analyzer import sqlrun

    sql = sqlrun.load_sql(name)
    used = {k: v for k, v in params.items() if f"${k}" in sql}
    raw = path.with_suffix(".json")
    con.execute("SET profiling_mode = 'detailed'")
    con.execute("SET enable_profiling = 'json'")
    con.execute(f"SET profiling_output = '{raw}'")
    try:
        w, c = time.perf_counter(), time.process_time()
        con.execute(sql, used).fetchall()
        w, c = time.perf_counter() - w, time.process_time() - c
    finally:
        con.execute("SET enable_profiling = 'no_output'")
    tree = json.loads(raw.read_text())
    ops = []

    def walk(node: dict, depth: int) -> None:
        ops.append((node.get("timing", 0.0), depth, node.get("name", "?"), node.get("intermediate_rows"),
                    node.get("row_groups_scanned"), node.get("total_row_groups_to_scan"), node.get("extra_info") or {}))
        for ch in node.get("children", []):
            walk(ch, depth + 1)

    for node in tree.get("operator", []):
        walk(node, 0)
    q, io = tree.get("query", {}), tree.get("io", {})
    lines = [f"{key} ({name}.sql), params {json.dumps(used, default=str)}",
             f"wall {w:.3f} s, process CPU {c:.3f} s; DuckDB: {q.get('total_time', 0):.3f} s, row groups scanned "
             f"{q.get('total_row_groups_scanned')} of {q.get('total_row_groups_to_scan')}, rows scanned {q.get('total_rows_scanned')}, "
             f"bytes read {io.get('total_bytes_read')}, peak buffer memory {tree.get('system', {}).get('peak_buffer_memory')}",
             "operators by their own time (seconds, summed over threads); scans with row groups read / to read:"]
    for t, depth, op, rows, rg, rg_all, extra in sorted(ops, key=lambda o: -o[0]):
        keep = {k: v for k, v in extra.items() if k in ("Function", "Table", "Text", "Filters", "Dynamic Filters", "File Filters",
                                                         "Total Files Read", "Scanning Files", "Projections", "Join Type",
                                                         "Conditions", "Expression")} if isinstance(extra, dict) else extra
        lines.append(f"{t:8.3f} s  depth {depth:2d}  {op:24s} rows {rows}" + (f"  row groups {rg}/{rg_all}" if rg_all else "")
                     + (f"  {json.dumps(keep, default=str)[:600]}" if keep else ""))
    path.write_text("\n".join(lines) + "\n")
    raw.unlink()
    return str(path)


def profile(db: Path, threads: int | None = None, memory_limit: str | None = None, data: Path | None = None,
            explain: int = 0) -> dict:
    """Seconds per report stage and per detector query, in-process (the same calls as `pmortem report`:
    the database read-only, or the Parquet dataset `data`; DuckDB's memory limit, check_data,
    build_report), CPU seconds with them. `explain`: EXPLAIN ANALYZE of that many of the heaviest
    queries (by CPU), run again afterwards, written to bench/out/explain-<db>-<query>.txt."""
    from pmortem.analyzer import sqlrun
    from pmortem.analyzer.redact import load_redactor
    from pmortem.analyzer.report import Options, build_report

    from pmortem.api import REPORT_MEMORY_LIMIT, check_data, parse_size
    from pmortem.db import open_data, open_existing

    queries: list[tuple[str, float, float]] = []
    texts: dict[str, tuple[str, dict]] = {}
    stages: list[list] = []
    orig = sqlrun.Runner.run

    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def timed(self, name, params, key=None):
        w, c = clock()
        try:
            return orig(self, name, params, key)
        finally:
            queries.append((key or name, round(time.perf_counter() - w, 3), round(time.process_time() - c, 3)))
            texts[key or name] = (name, params)

    def progress(stage: str) -> None:
        w, c = clock()
        if stages:
            stages[-1][1:] = [round(w - stages[-1][1], 3), round(c - stages[-1][2], 3)]
        stages.append([stage, w, c])

    sqlrun.Runner.run = timed
    try:
        con = open_data(str(data)) if data else open_existing(str(db), read_only=True)
        con.execute("SET memory_limit = ?", [parse_size(memory_limit or REPORT_MEMORY_LIMIT, "memory limit")])
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        w0, c0 = clock()
        progress("check_data")
        check_data(con, str(data or db), None, None, None)
        build_report(con, Options(), load_redactor(None), progress)
        progress("end")
        stages.pop()
        total = (round(time.perf_counter() - w0, 2), round(time.process_time() - c0, 2))
        explained = [explain_analyze(con, q, *texts[q], OUT / f"explain-{(data or db).name}-{q}.txt")
                     for q, _, _ in sorted(queries, key=lambda x: -x[2])[:explain]]
        con.close()
    finally:
        sqlrun.Runner.run = orig
    return {"total_wall_s": total[0], "total_cpu_s": total[1], "explain": explained,
            "stages": sorted(([s, w, c] for s, w, c in stages), key=lambda x: -x[2]),
            "queries": sorted(([q, w, c] for q, w, c in queries), key=lambda x: -x[2])}


def db_name(n: int) -> Path:
    return OUT / f"reqheavy-{f'{n // 1_000_000}M' if n % 1_000_000 == 0 else n}.duckdb"


def export_parquet(db: Path) -> tuple[Path, dict]:
    """The database as the Parquet dataset `ingest --engine spark` writes, with pmortem's own export
    (pmortem/spark/dataset.py); cached beside it. Returns the directory and what it took."""
    from pmortem.spark.dataset import MANIFEST, export

    out = db.with_suffix(".parquet")
    meta_path = out / "bench-export.json"
    if not (out / MANIFEST).exists() or not meta_path.exists() or meta_path.stat().st_mtime < db.stat().st_mtime:
        import shutil

        shutil.rmtree(out, ignore_errors=True)
        work = OUT / "tmp" / f"{db.stem}-export"
        shutil.rmtree(work, ignore_errors=True)
        out.mkdir(parents=True)
        work.mkdir(parents=True)
        print(f"exporting {db.name} to {out} ...", file=sys.stderr, flush=True)
        w, c = time.perf_counter(), time.process_time()
        export(str(db), out, work)
        files = list(out.rglob("*.parquet"))
        meta = {"export_s": round(time.perf_counter() - w, 1), "export_cpu_s": round(time.process_time() - c, 1),
                "files": len(files), "gb": round(sum(f.stat().st_size for f in files) / 2**30, 2)}
        meta_path.write_text(json.dumps(meta))
    return out, json.loads(meta_path.read_text())


def report_runs(db: Path, out: Path, extra: list[str], runs: int, data: Path | None = None) -> dict:
    """`runs` report runs; the fastest by wall counts, every run's wall / CPU / load kept."""
    best, every = None, []
    for _ in range(runs):
        load = os.getloadavg()[0]
        r = run_report(db, out, extra, data)
        r["load_before"] = round(load, 2)
        every.append([r["wall_s"], r["cpu_s"], r["load_before"]])
        if best is None or r["wall_s"] < best["wall_s"]:
            best = r
    return {**best, "runs": every}


def same_report(a: dict, b: dict) -> list[str]:
    """Where two report dicts differ, but for the command line (the source of the data is in it)."""
    out = []
    for k in sorted(set(a) | set(b)):
        if k != "command" and a.get(k) != b.get(k):
            if isinstance(a.get(k), list) and isinstance(b.get(k), list) and len(a[k]) == len(b[k]):
                out += [f"{k}[{i}]: {json.dumps(x, default=str)[:300]} != {json.dumps(y, default=str)[:300]}"
                        for i, (x, y) in enumerate(zip(a[k], b[k], strict=True)) if x != y]
            else:
                out.append(f"{k}: {json.dumps(a.get(k), default=str)[:300]} != {json.dumps(b.get(k), default=str)[:300]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1M,10M,50M,100M",
                    help="export sizes in log lines, or bytes of export (5GB) (default 1M,10M,50M,100M)")
    ap.add_argument("--runs", type=int, default=1, help="report runs per size; the fastest counts (default 1)")
    ap.add_argument("--regen", action="store_true", help="rebuild the cached databases")
    ap.add_argument("--memory-limit", help="passed to pmortem report")
    ap.add_argument("--threads", help="passed to pmortem report")
    ap.add_argument("--build-threads", type=int, help="DuckDB threads while generating (default all)")
    ap.add_argument("--json", type=Path, help="write the results here too")
    ap.add_argument("--build-only", action="store_true", help="generate the missing databases and stop")
    ap.add_argument("--profile", action="store_true",
                    help="instead of the child-process runs: seconds per stage and per query, in-process")
    ap.add_argument("--parquet", action="store_true",
                    help="also report over the database exported as the Parquet dataset (`report --data`)")
    ap.add_argument("--explain", type=int, default=0, metavar="N",
                    help="with --profile: EXPLAIN ANALYZE of the N heaviest queries, to bench/out/explain-*.txt")
    args = ap.parse_args()
    sizes = [parse_n(s) for s in args.sizes.split(",")]
    ref_n = 10_000_000
    if ref_n not in sizes and not (args.build_only or args.profile):
        sizes = sorted({*sizes, ref_n})
    OUT.mkdir(exist_ok=True)
    extra = [*(["--memory-limit", args.memory_limit] if args.memory_limit else []),
             *(["--threads", args.threads] if args.threads else [])]
    rows, keys, pq_diffs = [], {}, {}
    for n in sizes:
        db = db_name(n)
        meta_path = db.with_suffix(".json")
        if not args.build_only and (args.regen or not meta_path.exists()
                                    or (args.parquet and not (db.with_suffix(".parquet") / "bench-export.json").exists())):
            # generate / export in a child: the kernel's ru_maxrss of a report child starts from this
            # process's own peak (it is kept across fork and exec), so this one stays small
            cmd = [sys.executable, __file__, "--sizes", str(n), "--build-only",
                   *(["--regen"] if args.regen else []), *(["--parquet"] if args.parquet else []),
                   *(["--build-threads", str(args.build_threads)] if args.build_threads else [])]
            subprocess.run(cmd, check=True)
        if args.build_only and (args.regen or not db.exists() or not meta_path.exists()):
            print(f"generating {n:,} log lines into {db} ...", file=sys.stderr, flush=True)
            meta = build(db, n, args.build_threads)
            print(f"  built in {meta['build_s']} s: {meta['events']:,} events, {meta['requests']:,} requests in "
                  f"{meta['request_rows']:,} rollup rows", file=sys.stderr, flush=True)
        else:
            meta = json.loads(meta_path.read_text())
        pq = export_parquet(db) if args.parquet else None
        if args.build_only:
            continue
        if args.profile:
            for data in ([None, pq[0]] if pq else [None]):
                load = os.getloadavg()[0]
                prof = profile(db, int(args.threads) if args.threads else None, args.memory_limit, data, args.explain)
                prof = {"lines": meta["lines"], "events": meta["events"], "over": "parquet" if data else "duckdb",
                        "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2), **prof}
                print(json.dumps(prof, indent=1), flush=True)
                rows.append(prof)
            continue
        out = OUT / f"report-{db.stem}.json"
        best = report_runs(db, out, extra, args.runs)
        rep = json.loads(out.read_text())
        keys[n] = findings_key(rep)
        row = {"lines": meta["lines"], "events": meta["events"], "request_rows": meta["request_rows"],
               "db_gb": round(db.stat().st_size / 2**30, 2), "span_h": round(n / RATE / 3600, 1), **best,
               "window": keys[n]["window"], "root_cause": keys[n]["root_cause"], "findings": len(keys[n]["findings"])}
        if pq:
            pout = OUT / f"report-{db.stem}-parquet.json"
            pbest = report_runs(db, pout, extra, args.runs, pq[0])
            prep = json.loads(pout.read_text())
            pq_diffs[n] = same_report(rep, prep)
            row["parquet"] = {**pq[1], **pbest, "same_findings": findings_key(prep) == keys[n],
                              "same_report": not pq_diffs[n]}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    if args.build_only:
        return 0
    if args.profile:
        if args.json:
            args.json.write_text(json.dumps({"commit": commit(), "profiles": rows}, indent=2, default=str))
        return 0
    ok = True
    for row, n in zip(rows, sizes, strict=True):
        d = diff(keys[ref_n], keys[n])
        row["same_as_10M"] = not d
        if n >= ref_n and d:
            ok = False
        if d:
            print(f"{n:,} lines vs 10M:\n  " + "\n  ".join(d[:20]), file=sys.stderr)
        if pq_diffs.get(n):
            ok = ok and row["parquet"]["same_findings"]
            print(f"{n:,} lines, Parquet vs DuckDB file:\n  " + "\n  ".join(pq_diffs[n][:20]), file=sys.stderr)
    print(f"\ncommit {commit()}, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs"
          + (f", pmortem report {' '.join(extra)}" if extra else ""))
    print("| log lines | events | rollup rows | DB size | data span | report wall | CPU | peak RSS | load | window | root cause | findings = 10M's |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        print(f"| {r['lines']:,} | {r['events']:,} | {r['request_rows']:,} | {r['db_gb']} GB | {r['span_h']} h | {r['wall_s']} s | "
              f"{r['cpu_s']} s | {r['peak_rss_mb']} MB | {r['load_before']}-{r['load_after']} | "
              f"{r['window'][0][11:19]} - {r['window'][1][11:19]} | {r['root_cause']} | {'yes' if r['same_as_10M'] else 'NO'} |")
    if any("parquet" in r for r in rows):
        print("\n| log lines | events | Parquet files | size | export (wall / CPU) | report over DuckDB file: wall / CPU / peak RSS "
              "| over Parquet: wall / CPU / peak RSS | same findings | same report |")
        print("|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for r in rows:
            if "parquet" in r:
                p = r["parquet"]
                print(f"| {r['lines']:,} | {r['events']:,} | {p['files']} | {p['gb']} GB | {p['export_s']} s / {p['export_cpu_s']} s | "
                      f"{r['wall_s']} s / {r['cpu_s']} s / {r['peak_rss_mb']} MB | {p['wall_s']} s / {p['cpu_s']} s / {p['peak_rss_mb']} MB | "
                      f"{'yes' if p['same_findings'] else 'NO'} | {'yes' if p['same_report'] else 'no'} |")
    if args.json:
        args.json.write_text(json.dumps({"commit": commit(), "rows": rows}, indent=2, default=str))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
