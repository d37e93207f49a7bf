"""Requests as rollups, not rows (issue 18.1).

The `requests` table counts every request line; only failed, refused, timed-out, aborted and
slow requests stay `http_request` events. Checked against an independent count over the raw
sample files in plain Python, and against the findings of the same bundles ingested with every
request kept as an event (`[requests] events = "all"`: the rows the detectors read before)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime

import polars as pl
import pytest
from conftest import SAMPLES
from pmortem.parsers.requests import BUCKET_COLUMNS, SLOW_REQUEST_MS, route_template

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
    return [(f["rule"], f["entity"], f["metrics"]) for f in json.loads(out.read_text())["findings"]]


BUNDLES = {
    "incident": ("incident", "history"),
    "eventloop": ("eventloop",),
    "forkbomb": ("forkbomb",),
    "backpressure": ("backpressure",),
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
