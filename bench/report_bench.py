#!/usr/bin/env python3
"""`pmortem report` on a generated 30-day archive: time to the file written, peak RSS.

    python bench/report_bench.py                      # 50M events (generated once, cached), 3 runs
    python bench/report_bench.py --events 5000000     # smaller archive, own cache file
    python bench/report_bench.py --regen              # rebuild the cached database
    python bench/report_bench.py --profile            # + per-detector seconds (in-process)

The database (bench/out/report-<N>.duckdb, git-ignored) is created through
`pmortem.db.connect` (so the schema and its migrations are the real ones) and filled with DuckDB
SQL over `range()`, shaped like the founding case's data:
  * 30 days (2022-03-10 .. 2022-04-08), services campaign (3 replicas, a new pod every ~16 h),
    translation (4 pods), checkout (4), search (3), gateway (2); one source per pod file, one
    span file for all pods; rows stored per source in time order, as ingest writes them;
  * mostly `log` / `http_request` / `dependency_call` / `span` events, a little `memory` and
    `event_loop_lag`, scattered background errors and single worker exits (noise);
  * every campaign pod start logs its CPU count (4/8/16 by a seeded draw; 48 twice) and starts
    one worker per core; pod objects with a 1-CPU limit;
  * 2022-04-06 10:49 a near miss: a 48-core pod with a ~750-death spiral, replaced after 2 min
    by a pod on a 16-core host;
  * 2022-04-08 20:55 the incident: a 48-core pod, ~900 worker deaths in 3 min (SIGKILL, instant
    respawn, each new worker fetching from translation), `Response is closed` server errors
    aligned with the deaths, client error spans sharing trace ids with some of them.
Then `pmortem report --db X --out FILE` runs as a child process: wall time from start to exit
(the file is written before exit), peak RSS by polling the child with psutil every 10 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
OUT = HERE / "out"
sys.path.insert(0, str(REPO))

T0 = dt.datetime(2022, 3, 10, tzinfo=dt.UTC)
DAYS = 30
INCIDENT = dt.datetime(2022, 4, 8, 20, 55, 5, tzinfo=dt.UTC)
NEAR_MISS = dt.datetime(2022, 4, 6, 10, 49, 0, tzinfo=dt.UTC)
GEN_H = 16  # hours a campaign pod lives
REPLICAS = 3
FIXED = [  # service, pods, host prefix, share of background events
    ("translation", 4, "ip-10-0-4-", 0.22),
    ("checkout", 4, "ip-10-0-5-", 0.18),
    ("search", 3, "ip-10-0-6-", 0.12),
    ("gateway", 2, "ip-10-0-7-", 0.08),
]
CAMPAIGN_SHARE = 0.40
SPAN_SRC = 1
POD_HASH = "7f9c6d5b8"


def us(t: dt.datetime) -> int:
    return int((t - T0).total_seconds() * 1_000_000)


def suffix(rng: random.Random) -> str:
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))


# ----------------------------------------------------------------------------- the layout
def layout(seed: int = 20220408) -> dict:
    """Pods, their sources and the campaign pod starts (small tables, built in Python)."""
    rng = random.Random(seed)
    gen_us = GEN_H * 3600 * 1_000_000
    span_us = DAYS * 86400 * 1_000_000
    pods, starts = [], []
    src = SPAN_SRC + 1
    # campaign replicas: replica 0 has a generation boundary exactly at the incident start
    phases = [
        us(INCIDENT) % gen_us,
        (us(INCIDENT) + gen_us // 3) % gen_us,
        (us(INCIDENT) + 2 * gen_us // 3) % gen_us,
    ]
    for r in range(REPLICAS):
        g = 0
        while True:
            start = phases[r] + (g - 1) * gen_us
            if start >= span_us:
                break
            cpu = rng.choice([4, 8, 16])
            host = {4: "ip-10-0-1-15", 8: "ip-10-0-1-42", 16: "ip-10-0-2-88"}[cpu]
            if r == 0 and start == us(INCIDENT):
                cpu, host = 48, "ip-10-0-3-17"
            pod = f"campaign-{POD_HASH}-{suffix(rng)}"
            starts.append(
                {
                    "replica": r,
                    "gen": g,
                    "ts_us": max(start, 0),
                    "pod": pod,
                    "host": host,
                    "cpu": cpu,
                    "source_id": src,
                    "incident": r == 0 and start == us(INCIDENT),
                }
            )
            pods.append(
                {"service": "campaign", "pod": pod, "host": host, "source_id": src, "replica": r, "gen": g}
            )
            src += 1
            g += 1
    # near miss: a surge pod on the 48-core host, then its replacement on a 16-core host
    for pod_t, cpu, host, tag in [
        (NEAR_MISS, 48, "ip-10-0-3-17", "near_miss"),
        (NEAR_MISS + dt.timedelta(seconds=131), 16, "ip-10-0-2-31", "replacement"),
    ]:
        pod = f"campaign-{POD_HASH}-{suffix(rng)}"
        starts.append(
            {
                "replica": -1,
                "gen": -1,
                "ts_us": us(pod_t),
                "pod": pod,
                "host": host,
                "cpu": cpu,
                "source_id": src,
                "incident": False,
                "tag": tag,
            }
        )
        pods.append(
            {"service": "campaign", "pod": pod, "host": host, "source_id": src, "replica": -1, "gen": -1}
        )
        src += 1
    fixed = []
    for svc, n, hp, share in FIXED:
        for k in range(n):
            pod = f"{svc}-5c8d7f6b9-{suffix(rng)}"
            fixed.append(
                {"service": svc, "pod": pod, "host": f"{hp}{10 + k}", "source_id": src, "share": share / n}
            )
            pods.append(
                {
                    "service": svc,
                    "pod": pod,
                    "host": f"{hp}{10 + k}",
                    "source_id": src,
                    "replica": None,
                    "gen": None,
                }
            )
            src += 1
    return {
        "pods": pods,
        "starts": starts,
        "fixed": fixed,
        "gen_us": gen_us,
        "phases": phases,
        "pod_src": src,
    }


# -------------------------------------------------------------------------- the generator
COLS = (
    "source_id, ts, ts_text, line_no, byte_offset, line_count, service, namespace, pod, container, host, pid, "
    "stream, level, kind, message, attrs, trace_id, span_id, cpu_count, exit_code, signal, error_class, status, "
    "duration_ms, route, peer, entity_source, dedup_key"
)


def build(db_path: Path, n_events: int, threads: int | None = None) -> dict:
    from pmortem.db import connect

    if db_path.exists():
        db_path.unlink()
    lay = layout()
    con = connect(str(db_path))
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = true")
    con.execute(f"SET temp_directory = '{OUT / 'tmp'}'")
    t_build = time.perf_counter()

    # small tables: pods, campaign starts, fixed pods with their cumulative share of events
    con.execute(
        "CREATE TEMP TABLE b_pods (service TEXT, pod TEXT, host TEXT, source_id INTEGER, replica INTEGER, gen INTEGER)"
    )
    con.executemany(
        "INSERT INTO b_pods VALUES (?, ?, ?, ?, ?, ?)",
        [(p["service"], p["pod"], p["host"], p["source_id"], p["replica"], p["gen"]) for p in lay["pods"]],
    )
    con.execute(
        "CREATE TEMP TABLE b_starts (replica INTEGER, gen INTEGER, ts_us BIGINT, pod TEXT, host TEXT, cpu INTEGER, source_id INTEGER, incident BOOLEAN, tag TEXT)"
    )
    con.executemany(
        "INSERT INTO b_starts VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                s["replica"],
                s["gen"],
                s["ts_us"],
                s["pod"],
                s["host"],
                s["cpu"],
                s["source_id"],
                s["incident"],
                s.get("tag"),
            )
            for s in lay["starts"]
        ],
    )
    # background slot -> pod: slots 0..999 (per mille), campaign replicas first, then fixed pods
    slots = []
    camp = int(CAMPAIGN_SHARE * 1000)
    for k in range(camp):
        slots.append((k, "campaign", k % REPLICAS, None))
    k = camp
    for f in lay["fixed"]:
        for _ in range(round(f["share"] * 1000)):
            if k < 1000:
                slots.append((k, f["service"], None, f["pod"]))
                k += 1
    while k < 1000:
        slots.append((k, lay["fixed"][0]["service"], None, lay["fixed"][0]["pod"]))
        k += 1
    con.execute("CREATE TEMP TABLE b_slots (slot INTEGER, service TEXT, replica INTEGER, pod TEXT)")
    con.executemany("INSERT INTO b_slots VALUES (?, ?, ?, ?)", slots)
    con.execute("CREATE TEMP TABLE b_phase (replica INTEGER, phase_us BIGINT)")
    con.executemany("INSERT INTO b_phase VALUES (?, ?)", list(enumerate(lay["phases"])))

    t0 = T0.isoformat()
    span_us = DAYS * 86400 * 1_000_000
    step = span_us / n_events
    gen_us = lay["gen_us"]

    # ---- background: n_events rows, evenly spread over 30 days with jitter
    con.execute(f"""
    CREATE TEMP TABLE b_raw AS
    WITH r AS (
        SELECT i, CAST(i * {step} AS BIGINT) + CAST(hash(i) % {max(int(step), 1)} AS BIGINT) AS t_us,
               CAST(hash(i, 1) % 1000 AS INTEGER) AS slot, CAST(hash(i, 2) % 1000 AS INTEGER) AS kr,
               CAST(hash(i, 3) % 100000 AS INTEGER) AS noise
        FROM range({n_events}) t(i)
    ),
    s AS (
        SELECT r.*, sl.service, coalesce(sl.pod, st.pod) AS pod, coalesce(p.host, st.host) AS host,
               coalesce(p.source_id, st.source_id) AS pod_src, st.cpu, sl.replica
        FROM r JOIN b_slots sl USING (slot)
        LEFT JOIN b_phase ph ON ph.replica = sl.replica
        LEFT JOIN b_starts st ON st.replica = sl.replica
             AND st.gen = CAST(floor((r.t_us - ph.phase_us) / {gen_us}) AS INTEGER) + 1
        LEFT JOIN b_pods p ON p.pod = sl.pod
    )
    SELECT i, t_us, service, pod, host, pod_src, kr, noise,
           CASE WHEN noise < 3 AND service = 'campaign' THEN 'worker_exit'
                WHEN noise < 12 THEN 'error'
                WHEN kr < 380 THEN 'log'
                WHEN kr < 620 THEN (CASE WHEN service IN ('translation', 'gateway') THEN 'http_request' ELSE 'log' END)
                WHEN kr < 800 THEN (CASE WHEN service IN ('campaign', 'checkout', 'search') THEN 'dependency_call' ELSE 'http_request' END)
                WHEN kr < 960 THEN 'span'
                WHEN kr < 980 THEN 'memory'
                ELSE (CASE WHEN service = 'campaign' THEN 'event_loop_lag' ELSE 'log' END) END AS kind
    FROM s
    """)
    n_bg = con.execute("SELECT count(*) FROM b_raw").fetchone()[0]
    assert n_bg == n_events, n_bg

    con.execute(f"""
    CREATE TEMP TABLE b_ev AS
    SELECT CASE WHEN kind = 'span' THEN {SPAN_SRC} ELSE pod_src END AS source_id,
           TIMESTAMPTZ '{t0}' + to_microseconds(t_us) AS ts,
           service, 'prod' AS namespace, pod, service AS container, host,
           CAST(1000 + noise % 64 AS BIGINT) AS pid,
           'stdout' AS stream,
           CASE WHEN kind IN ('error', 'worker_exit') THEN 'error' WHEN kr % 50 = 0 THEN 'warn' ELSE 'info' END AS level,
           kind,
           CASE kind
             WHEN 'log' THEN (CASE WHEN kr % 3 = 0 THEN 'GET /api/' || service || '/' || (i % 9973) || ' 200 ' || (noise % 400) || 'ms'
                                   WHEN kr % 3 = 1 THEN 'cache refresh done: ' || (noise % 5000) || ' keys in ' || (noise % 90) || ' ms'
                                   ELSE 'processed batch ' || (i % 100003) || ' (' || (noise % 200) || ' items)' END)
             WHEN 'http_request' THEN 'GET /' || (CASE WHEN service = 'translation' THEN 'translations?lang=de' ELSE 'api/v1/route' || (kr % 17) END)
                                      || ' 200 ' || (noise % 700) || 'ms bytes=' || (140000 + noise) || ' client=10.0.' || (kr % 8) || '.' || (noise % 250) || ':' || (30000 + noise % 30000)
             WHEN 'dependency_call' THEN 'Fetching ' || (CASE WHEN service = 'campaign' THEN 'translations from http://translation-service:8080/translations?lang=de'
                                                              ELSE 'data from http://gateway:8080/v1/' || (kr % 23) END)
             WHEN 'span' THEN 'GET /' || (CASE WHEN service = 'campaign' THEN 'translations' ELSE 'v1/route' || (kr % 11) END)
             WHEN 'memory' THEN 'Memory usage: rss=' || (60 + noise % 90) || '.' || (noise % 10) || 'MB heapTotal=' || (5 + noise % 20) || '.1MB'
             WHEN 'event_loop_lag' THEN 'Event loop lag: ' || (noise % 300) || ' ms'
             WHEN 'error' THEN (CASE WHEN noise % 3 = 0 THEN 'upstream connect error: ECONNRESET after ' || (noise % 900) || ' ms'
                                     WHEN noise % 3 = 1 THEN 'request to http://gateway:8080/v1/x timed out (read timeout after 2000 ms)'
                                     ELSE 'Too many connections: pool exhausted (' || (noise % 64) || ')' END)
             WHEN 'worker_exit' THEN 'Worker fragment (pid: ' || (1000 + noise % 64) || ') died (code: 1, signal: null), restarting'
           END AS message,
           CASE WHEN kind = 'span' THEN '{{"span_kind":"client"}}' END AS attrs,
           CASE WHEN kind = 'span' THEN format('{{:016x}}{{:016x}}', hash(i, 7), hash(i, 8)) END AS trace_id,
           CASE WHEN kind = 'span' THEN format('{{:016x}}', hash(i, 9)) END AS span_id,
           CAST(NULL AS INTEGER) AS cpu_count,
           CASE WHEN kind = 'worker_exit' THEN 1 END AS exit_code,
           CAST(NULL AS TEXT) AS signal,
           CASE WHEN kind = 'error' THEN (CASE WHEN noise % 3 = 0 THEN 'econnreset' WHEN noise % 3 = 1 THEN 'read_timeout' ELSE 'too_many_connections' END) END AS error_class,
           CASE WHEN kind = 'http_request' THEN 200 WHEN kind = 'span' THEN 1 END AS status,
           CASE WHEN kind IN ('http_request', 'span') THEN CAST(noise % 700 AS DOUBLE) + 0.5 END AS duration_ms,
           CASE WHEN kind IN ('http_request', 'span') THEN '/' || service END AS route,
           CASE WHEN kind IN ('dependency_call', 'span') THEN (CASE WHEN service = 'campaign' THEN 'translation-service' ELSE 'gateway' END) END AS peer
    FROM b_raw
    """)
    con.execute("DROP TABLE b_raw")

    # ---- pod starts: CPU-count line, primary, one worker per core; pod objects for the last pods
    con.execute(f"""
    INSERT INTO b_ev (source_id, ts, service, namespace, pod, container, host, pid, stream, level, kind, message, cpu_count)
    SELECT source_id, TIMESTAMPTZ '{t0}' + to_microseconds(ts_us + 180), 'campaign', 'prod', pod, 'campaign', host, 1, 'stdout', 'info',
           'cpu_count', 'Number of CPUs: ' || cpu, cpu FROM b_starts
    UNION ALL
    SELECT source_id, TIMESTAMPTZ '{t0}' + to_microseconds(ts_us + 200), 'campaign', 'prod', pod, 'campaign', host, 1, 'stdout', 'info',
           'primary_start', 'Primary 1 is running, forking ' || cpu || ' workers', NULL FROM b_starts
    UNION ALL
    SELECT source_id, TIMESTAMPTZ '{t0}' + to_microseconds(ts_us + 50000 + w * 40000), 'campaign', 'prod', pod, 'campaign', host, 100 + w,
           'stdout', 'info', 'worker_start', 'Worker ' || (100 + w) || ' started', NULL
    FROM b_starts, range(0, 48) t(w) WHERE w < cpu
    """)
    con.execute(f"""
    INSERT INTO b_ev (source_id, ts, service, namespace, pod, container, host, stream, level, kind, message, attrs)
    SELECT {lay["pod_src"]}, TIMESTAMPTZ '{t0}' + to_microseconds(ts_us), 'campaign', 'prod', pod, 'campaign', host, NULL, 'info', 'pod_spec',
           'pod ' || pod || ' on ' || host, '{{"cpu_limit": 1, "cpu_request": 1, "memory_limit_mb": 2048}}'
    FROM b_starts QUALIFY row_number() OVER (PARTITION BY replica ORDER BY ts_us DESC) = 1
    """)

    # ---- the two spirals: worker k dies at start + 7 s + k * dt; its replacement starts 50-150 ms later
    spirals = con.execute("""
        SELECT pod, host, source_id, ts_us, cpu, tag FROM b_starts WHERE incident OR tag = 'near_miss' ORDER BY ts_us""").fetchall()
    trans_pod = lay["fixed"][0]
    for pod, host, src, ts_us, cpu, tag in spirals:
        deaths, dt_us = (900, 133_000) if tag is None else (750, 200_000)
        base = f"TIMESTAMPTZ '{t0}' + to_microseconds({ts_us} + 7000000 + k * {dt_us}"
        con.execute(f"""
        INSERT INTO b_ev (source_id, ts, service, namespace, pod, container, host, pid, stream, level, kind, message, exit_code, signal)
        SELECT {src}, {base}), 'campaign', 'prod', '{pod}', 'campaign', '{host}', 100 + k, 'stdout', 'info', 'worker_exit',
               'Worker fragment (pid: ' || (100 + k) || ') died (code: null, signal: SIGKILL), restarting', NULL, 'SIGKILL'
        FROM range({deaths}) t(k)
        """)
        con.execute(f"""
        INSERT INTO b_ev (source_id, ts, service, namespace, pod, container, host, pid, stream, level, kind, message, peer)
        SELECT {src}, {base} + 50000 + CAST(hash(k) % 100000 AS BIGINT)), 'campaign', 'prod', '{pod}', 'campaign', '{host}', 100 + {cpu} + k, 'stdout', 'info',
               'worker_start', 'Worker ' || (100 + {cpu} + k) || ' started', NULL
        FROM range({deaths}) t(k)
        UNION ALL
        SELECT {src}, {base} + 80000 + CAST(hash(k) % 100000 AS BIGINT)), 'campaign', 'prod', '{pod}', 'campaign', '{host}', 100 + {cpu} + k, 'stdout', 'info',
               'dependency_call', 'Fetching translations from http://translation-service:8080/translations?lang=de', 'translation-service'
        FROM range({deaths}) t(k)
        """)
        if tag is None:
            # every 10th death hangs up a translation response (server error, same trace as a client span for every 3rd)
            con.execute(f"""
            INSERT INTO b_ev (source_id, ts, service, namespace, pod, container, host, stream, level, kind, message, error_class)
            SELECT {trans_pod["source_id"]}, {base} + 5000 + CAST(hash(k, 1) % 200000 AS BIGINT)), 'translation', 'prod', '{trans_pod["pod"]}', 'translation',
                   '{trans_pod["host"]}', 'stdout', 'error', 'error',
                   'Failed to write response for GET /translations?lang=de after ' || (200 + k % 300) || 'ms client=10.0.3.17:' || (40000 + k)
                   || ' trace=' || format('{{:016x}}{{:016x}}', hash(k, 77), hash(k, 78)) || chr(10)
                   || 'java.lang.IllegalStateException: Response is closed', 'response_closed'
            FROM range(0, {deaths}, 10) t(k)
            """)
            con.execute(f"""
            INSERT INTO b_ev (source_id, ts, service, namespace, pod, container, host, pid, stream, level, kind, message, attrs,
                              trace_id, span_id, status, duration_ms, route, peer, error_class)
            SELECT {SPAN_SRC}, {base} - 1000000), 'campaign', 'prod', '{pod}', 'campaign', '{host}', 100 + k, 'stdout', 'error', 'span',
                   CASE WHEN k % 4 = 0 THEN 'context cancelled' ELSE 'read timeout' END, '{{"span_kind":"client"}}',
                   CASE WHEN k % 10 = 0 AND k % 30 = 0 THEN format('{{:016x}}{{:016x}}', hash(k, 77), hash(k, 78))
                        ELSE format('{{:016x}}{{:016x}}', hash(k, 79), hash(k, 80)) END,
                   format('{{:016x}}', hash(k, 81)), 2, 1000.0 + k % 300, '/translations', 'translation-service',
                   CASE WHEN k % 4 = 0 THEN 'context_cancelled' ELSE 'read_timeout' END
            FROM range(0, {deaths}, 7) t(k)
            """)

    # ---- final table: per source in time order (as ingest writes it), line numbers and offsets
    con.execute(f"""
    INSERT INTO events ({COLS})
    SELECT source_id, ts, strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ'), line_no, (line_no - 1) * 131, 1, service, namespace, pod, container,
           host, pid, stream, level, kind, message, CAST(attrs AS JSON), trace_id, span_id, cpu_count, exit_code, signal, error_class,
           status, duration_ms, route, peer, NULL, hash(coalesce(pod, ''), coalesce(container, ''), ts, message)
    FROM (SELECT *, row_number() OVER (PARTITION BY source_id ORDER BY ts) AS line_no FROM b_ev)
    ORDER BY source_id, ts
    """)
    con.execute("DROP TABLE b_ev")
    con.execute("""
    INSERT INTO line_index
    SELECT source_id, date_trunc('minute', ts), service, pod, container, level, count(*), min(line_no), max(line_no),
           min(byte_offset), max(byte_offset) + 131
    FROM events GROUP BY ALL ORDER BY 1, 2
    """)
    con.execute(f"""
    INSERT INTO sources (source_id, path, abspath, compression, size, fingerprint, bytes_done, lines_done, format, service,
                         pod, host, lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events, first_ts, last_ts,
                         status, ingested_at, lines_duplicate)
    SELECT source_id, path, '/bench/' || path, NULL, lines * 131, 'synthetic:' || source_id, lines * 131, lines,
           fmt, service, pod, host, lines, lines, 0, 0, 0, lines, first_ts, last_ts, 'complete', now(), 0
    FROM (
        SELECT e.source_id,
               CASE WHEN e.source_id = {SPAN_SRC} THEN 'exports/spans.jsonl'
                    WHEN e.source_id = {lay["pod_src"]} THEN 'exports/pods.json'
                    ELSE 'exports/' || any_value(e.pod) || '.log' END AS path,
               CASE WHEN e.source_id = {SPAN_SRC} THEN 'otel_span_ndjson' WHEN e.source_id = {lay["pod_src"]} THEN 'document'
                    ELSE 'kubectl' END AS fmt,
               CASE WHEN e.source_id IN ({SPAN_SRC}, {lay["pod_src"]}) THEN NULL ELSE any_value(e.service) END AS service,
               CASE WHEN e.source_id IN ({SPAN_SRC}, {lay["pod_src"]}) THEN NULL ELSE any_value(e.pod) END AS pod,
               CASE WHEN e.source_id IN ({SPAN_SRC}, {lay["pod_src"]}) THEN NULL ELSE any_value(e.host) END AS host,
               count(*) AS lines, min(ts) AS first_ts, max(ts) AS last_ts
        FROM events e GROUP BY e.source_id
    )
    """)
    con.execute("CHECKPOINT")
    n = con.execute("SELECT count(*) FROM events").fetchone()[0]
    kinds = dict(con.execute("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY 2 DESC").fetchall())
    con.close()
    meta = {
        "events": n,
        "kinds": kinds,
        "build_s": round(time.perf_counter() - t_build, 1),
        "generator_events": n_events,
        "incident": INCIDENT.isoformat(),
        "near_miss": NEAR_MISS.isoformat(),
    }
    db_path.with_suffix(".json").write_text(json.dumps(meta, indent=2))
    return meta


# ----------------------------------------------------------------------------- measuring
def run_report(db: Path, out: Path, extra: list[str] | None = None) -> dict:
    cmd = [sys.executable, "-m", "pmortem.cli", "report", "--db", str(db), "--out", str(out), *(extra or [])]
    if out.exists():
        out.unlink()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ps = psutil.Process(proc.pid)
    peak = 0
    while proc.poll() is None:
        try:
            rss = ps.memory_info().rss + sum(c.memory_info().rss for c in ps.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.01)
    wall = time.perf_counter() - t0
    stdout, stderr = proc.communicate()
    if proc.returncode != 0 or not out.exists():
        raise SystemExit(f"report failed ({proc.returncode}): {stderr.strip()}")
    return {"seconds": round(wall, 2), "peak_rss_mb": round(peak / 2**20), "stderr": stderr.strip()}


def profile(db: Path) -> list[tuple[str, float]]:
    """Seconds per detector query, in-process (the same Analysis as `pmortem report`)."""
    from pmortem.analyzer import sqlrun
    from pmortem.analyzer.redact import load_redactor
    from pmortem.analyzer.report import Options, build_report

    from pmortem.db import open_existing

    times: list[tuple[str, float]] = []
    orig = sqlrun.Runner.run

    def timed(self, name, params, key=None):
        t = time.perf_counter()
        try:
            return orig(self, name, params, key)
        finally:
            times.append((key or name, round(time.perf_counter() - t, 3)))

    sqlrun.Runner.run = timed
    try:
        con = open_existing(str(db))
        t = time.perf_counter()
        build_report(con, Options(), load_redactor(None))
        times.append(("total (build_report)", round(time.perf_counter() - t, 3)))
        con.close()
    finally:
        sqlrun.Runner.run = orig
    return times


def commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--events", type=int, default=50_000_000, help="background events to generate (default 50M)"
    )
    ap.add_argument("--db", type=Path, help="database to use (default bench/out/report-<events>.duckdb)")
    ap.add_argument("--regen", action="store_true", help="rebuild the cached database")
    ap.add_argument("--runs", type=int, default=3, help="report runs (default 3)")
    ap.add_argument("--profile", action="store_true", help="also time each detector in-process")
    ap.add_argument("--threads", type=int, help="DuckDB threads while generating")
    args = ap.parse_args()

    OUT.mkdir(exist_ok=True)
    db = args.db or OUT / f"report-{args.events // 1_000_000}M.duckdb"
    meta_path = db.with_suffix(".json")
    if args.regen or not db.exists() or not meta_path.exists():
        print(f"generating {args.events:,} events into {db} ...", file=sys.stderr)
        meta = build(db, args.events, args.threads)
        print(f"  built in {meta['build_s']} s", file=sys.stderr)
    else:
        meta = json.loads(meta_path.read_text())
    size_gb = db.stat().st_size / 2**30
    out = Path("/tmp/pmortem-report-bench.md")
    runs = [run_report(db, out) for _ in range(args.runs)]
    secs = [r["seconds"] for r in runs]
    result = {
        "date": dt.date.today().isoformat(),
        "commit": commit(),
        "events": meta["events"],
        "db_gb": round(size_gb, 2),
        "report_s_first": secs[0],
        "report_s_median": statistics.median(secs),
        "report_s_all": secs,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "cpus": os.cpu_count(),
        "report": runs[-1]["stderr"],
    }
    if args.profile:
        result["profile"] = profile(db)
    print(json.dumps(result, indent=2))
    print(f"\n| events | DB size | report s (first / median of {args.runs}) | peak RSS | date | commit |")
    print("|---:|---:|---:|---:|---|---|")
    print(
        f"| {meta['events']:,} | {size_gb:.2f} GB | {secs[0]} / {statistics.median(secs)} | {result['peak_rss_mb']} MB "
        f"| {result['date']} | {result['commit']} |"
    )


if __name__ == "__main__":
    main()
