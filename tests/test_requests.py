"""Requests as rollups, not rows (issue 18.1).

The `requests` table counts every request line; only failed, refused, timed-out, aborted and
slow requests stay `http_request` events. Checked against an independent count over the raw
sample files in plain Python, and against the findings of the same bundles ingested with every
request kept as an event (`[requests] events = "all"`: the rows the detectors read before)."""

from __future__ import annotations

import gzip
import json
import re
import statistics
from collections import Counter
from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest
from conftest import SAMPLES
from pmortem.parsers.requests import BUCKET_COLUMNS, SLOW_REQUEST_MS, route_template

from pmortem import db as dbm

ID = re.compile(r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")


def py_template(url: str) -> str:
    """The route template in plain Python, segment by segment."""
    path = url.split("?", 1)[0]
    out = []
    for seg in path.split("/"):
        hexid = len(seg) >= 6 and re.fullmatch(r"[0-9a-fA-F]+", seg) and re.search(r"\d", seg)
        out.append(":id" if ID.match(seg) or hexid else seg)
    return "/".join(out)


def test_route_template_matches_plain_python():
    urls = [
        "/api/users/123/cart?x=1", "/a/1/2/3/4", "/v2/e2e/facade", "/api/invoices/5f0040679008e9a1c3",
        "/x/550e8400-e29b-41d4-a716-446655440000/y", "/abc123/", "/health", "/1a2b3c", "/12345a", "/deadbeef",
        "/campaigns?page=1", "/", "/a//b", "/reports/quarterly",
    ]
    got = pl.DataFrame({"u": urls}).select(route_template(pl.col("u"))).to_series().to_list()
    assert got == [py_template(u) for u in urls]


EVENTLOOP_INGRESS = SAMPLES / "eventloop" / "ingress-nginx-controller-7c9f8d6b5-p4z8x.log"
ACCESS_RE = re.compile(r'^\S+ \S+ \S+ \[([^\]]+)\] "([A-Z]+) (\S+)[^"]*" (\d{3}) ')


def _notable(status, ms) -> bool:
    return status is None or status >= 500 or status in (401, 403, 408, 499, 504) or (ms is not None and ms >= SLOW_REQUEST_MS)


def test_eventloop_requests_equal_a_count_over_the_raw_files(cli):
    cli.ok("ingest", str(SAMPLES / "eventloop"))
    # the ingress log: `<RFC3339Nano> GET /path 200 27ms`
    want: Counter = Counter()
    lat: Counter = Counter()
    notable = 0
    timeouts = 0
    for line in EVENTLOOP_INGRESS.read_text().splitlines():
        if "upstream timed out" in line:
            timeouts += 1  # an error line naming its request: an error event, not a request line
            continue
        ts, method, url, status, ms = line.split(" ")
        sec = datetime.fromisoformat(ts[:19]).replace(tzinfo=UTC)
        key = (sec, method, py_template(url), int(status))
        want[key] += 1
        lat[key] += int(ms.removesuffix("ms"))
        notable += _notable(int(status), int(ms.removesuffix("ms")))
    got = cli.sql(
        """SELECT r.second, r.method, r.route, r.status, sum(r.requests), sum(r.latency_sum_ms)
           FROM requests r JOIN sources s USING (source_id) WHERE s.path LIKE '%ingress-nginx%' GROUP BY ALL"""
    )
    assert {(s, m, r, st): n for s, m, r, st, n, _ in got} == dict(want)
    assert {(s, m, r, st): ms for s, m, r, st, _, ms in got} == dict(lat)
    ev = cli.sql("SELECT count(*) FROM events e JOIN sources s USING (source_id) WHERE s.path LIKE '%ingress-nginx%' AND kind = 'http_request'")
    assert ev[0][0] == notable and 0 < notable < sum(want.values())
    assert cli.sql(
        "SELECT count(*) FROM events e JOIN sources s USING (source_id) WHERE s.path LIKE '%ingress-nginx%' AND error_class = 'upstream_timeout'"
    )[0][0] == timeouts > 0
    # the pod's own pino-http lines (CRI): `... stdout F {"msg":"request completed",...}`
    pino: Counter = Counter()
    for f in (SAMPLES / "eventloop" / "var").rglob("*.log"):
        for line in f.read_text().splitlines():
            obj = json.loads(line.split(" ", 3)[3]) if " F {" in line else None
            if obj and isinstance((obj.get("res") or {}).get("statusCode"), int):
                pino[(obj["req"]["method"], py_template(obj["req"]["url"]), obj["res"]["statusCode"])] += 1
    got = cli.sql(
        """SELECT r.method, r.route, r.status, sum(r.requests) FROM requests r JOIN sources s USING (source_id)
           WHERE s.path NOT LIKE '%ingress-nginx%' GROUP BY ALL"""
    )
    assert {(m, r, st): n for m, r, st, n in got} == dict(pino) and pino


def test_nginx_access_requests_equal_a_count_over_the_raw_files(cli):
    d = SAMPLES / "formats" / "nginx"
    cli.ok("ingest", str(d / "access.log"), str(d / "access_timed.log"), str(d / "error.log"))
    want: Counter = Counter()
    for f in ("access.log", "access_timed.log"):
        for line in (d / f).read_text().splitlines():
            m = ACCESS_RE.match(line)
            if m:
                sec = datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
                want[(f, sec, m.group(2), py_template(m.group(3)), int(m.group(4)))] += 1
    got = cli.sql(
        """SELECT regexp_extract(s.path, '[^/]+$'), r.second, r.method, r.route, r.status, sum(r.requests)
           FROM requests r JOIN sources s USING (source_id) GROUP BY ALL"""
    )
    assert {k[:5]: k[5] for k in got} == dict(want) and want
    # every request with a latency is in exactly one bucket
    (n, lat_n, in_buckets), = cli.sql(f"SELECT sum(requests), sum(latency_n), sum({' + '.join(BUCKET_COLUMNS)}) FROM requests")
    assert lat_n == in_buckets and 0 < lat_n <= n


def _findings(cli, path: str) -> list:
    out = cli.tmp / "r.json"
    cli.ok("report", "-f", "json", "-o", str(out))
    rep = json.loads(out.read_text())
    return [rep["window"], rep["root_cause"]] + [(f["rule"], f["severity"], f["entity"], f["metrics"]) for f in rep["findings"]]


BUNDLES = {
    "incident": ("incident", "history"),
    "eventloop": ("eventloop",),
    "forkbomb": ("forkbomb",),
    "backpressure": ("backpressure",),
    # the rules that read requests per worker PID (uneven: from the rollup), sessions across
    # PIDs (session: requests naming a session stay events), 5xx against all responses (unknown:
    # error_surge), and a window that is the data's whole span (graceful: no incident)
    "uneven": ("uneven",),
    "session": ("session",),
    "unknown": ("unknown",),
    "graceful": ("graceful",),
    "es-search": ("es-search",),
}


@pytest.mark.parametrize("bundle", sorted(BUNDLES))
def test_findings_unchanged_by_the_rollup(cli, tmp_path, bundle):
    """Each bundle's findings (rule, entity, metrics) with requests rolled up equal those with
    every request kept as an event, as ingest stored them before the rollup."""
    paths = [str(SAMPLES / p) for p in BUNDLES[bundle]]
    cfg = tmp_path / "all.toml"
    cfg.write_text('[requests]\nevents = "all"\n')
    cli.ok("ingest", *paths, "--config", str(cfg))
    n_all = cli.sql("SELECT count(*) FROM events WHERE kind = 'http_request'")[0][0]
    before = _findings(cli, "all")
    cli.db = str(tmp_path / "rollup.duckdb")
    cli.ok("ingest", *paths)
    n_kept = cli.sql("SELECT count(*) FROM events WHERE kind = 'http_request'")[0][0]
    (n_rolled,), = cli.sql("SELECT coalesce(sum(requests), 0) FROM requests")
    assert n_rolled == n_all and n_kept <= n_all
    assert _findings(cli, "rollup") == before


def test_uneven_per_pid_latency_from_the_rollup_is_exact(cli):
    """p50/p99 per worker PID come from the rollup's latencies: equal to quantiles over the raw
    file's `responseTime`s (the events of most of these requests are not stored)."""
    durs: dict = {}
    for f in (SAMPLES / "uneven").glob("*.ndjson.gz"):
        for line in gzip.decompress(f.read_bytes()).decode().splitlines():
            msg = json.loads(json.loads(line)["message"])
            if msg.get("msg") == "request completed":
                durs.setdefault(msg["pid"], []).append(float(msg["responseTime"]))
    cli.ok("ingest", str(SAMPLES / "uneven"), "-q")
    got = dict(cli.sql("SELECT pid, quantile_cont(l, 0.99) FROM (SELECT pid, unnest(latencies_ms) AS l FROM requests) GROUP BY pid"))
    assert set(got) == set(durs)
    for pid, ds in durs.items():
        assert got[pid] == pytest.approx(statistics.quantiles(ds, n=100, method="inclusive")[98])
    # and most of them are not events
    (n_ev,), = cli.sql("SELECT count(*) FROM events WHERE kind = 'http_request'")
    assert n_ev < sum(map(len, durs.values())) / 10


def test_an_older_database_gets_its_requests_rolled_up(cli, tmp_path):
    """Migration 7 on a database whose requests are all events (as pmortem made them before the
    rollup): the `requests` table it fills holds the same counts, latencies and times per key as
    an ingest of today fills."""
    cfg = tmp_path / "all.toml"
    cfg.write_text('[requests]\nevents = "all"\n')
    paths = [str(SAMPLES / "eventloop"), str(SAMPLES / "uneven"), str(SAMPLES / "formats" / "nginx")]
    cli.ok("ingest", *paths, "--config", str(cfg), "-q")
    key = "source_id, service, pod, pid, second, method, route, status, upstream"
    agg = (f"SELECT {key}, sum(requests), sum(latency_n), round(sum(latency_sum_ms), 6), max(latency_max_ms), "
           f"{', '.join(f'sum({c})' for c in BUCKET_COLUMNS)}, list_sort(flatten(list(latencies_ms))), min(first_ts), "
           f"max(last_ts), min(first_line), max(last_line) FROM requests GROUP BY ALL ORDER BY ALL")
    con = duckdb.connect(cli.db)
    try:
        want = con.execute(agg).fetchall()
        # back to schema 6: no requests table (every request an event, as here)
        con.execute("DROP TABLE requests")
        con.execute("DELETE FROM schema_migrations WHERE version = 7")
    finally:
        con.close()
    cli.ok("migrate")
    con = duckdb.connect(cli.db)
    try:
        assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == dbm.SCHEMA_VERSION == 7
        assert con.execute(agg).fetchall() == want and len(want) > 100
    finally:
        con.close()


def test_prune_drops_request_rows_before_the_cutoff(cli):
    """`pmortem prune` bounds the rollup as it bounds the events: rows whose requests all came
    before the cutoff go, the others stay."""
    cli.ok("ingest", str(SAMPLES / "unknown"), "-q")
    (latest,), = cli.sql("SELECT max(ts) FROM events")
    (before, n_before), = cli.sql("SELECT count(*), sum(requests) FROM requests")
    cli.ok("prune", "--older-than", "2m")
    cutoff = latest.timestamp() - 120
    rows = cli.sql("SELECT epoch(first_ts), epoch(last_ts), requests FROM requests")
    assert 0 < len(rows) < before and all(last >= cutoff for _, last, _ in rows)
    assert sum(r[2] for r in rows) < n_before
