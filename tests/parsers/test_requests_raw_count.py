"""Request counts of raw files (no envelope) equal an independent count over the raw bytes.

Since issue 18.3 a raw nginx access log and a raw pino file go through the native scanner, and
since 18.2 their request lines are parsed in C straight into the `requests` rollup. Here the
real CLI ingests such files (the sample bundle's raw pino-http capture, generated raw access and
pino files) and the `requests` table is compared with a count made in plain Python (json,
re, datetime) over the same bytes: per second, method, route template and status, requests and
latency sums; and the events kept are exactly the notable requests."""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from conftest import SAMPLES
from pmortem.parsers import native
from pmortem.parsers.requests import SLOW_REQUEST_MS

pytestmark = pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))

ID = re.compile(r"^(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$")
ACCESS = re.compile(r'^\S+ \S+ \S+ \[([^\]]+)\] "([A-Z]+) ([^ "?]+)[^"]*" (\d{3}) (?:\d+|-)(?: "[^"]*" "[^"]*")?(?: (\d+\.\d+))?')


def py_template(url: str) -> str:
    out = []
    for seg in url.split("?", 1)[0].split("/"):
        hexid = len(seg) >= 6 and re.fullmatch(r"[0-9a-fA-F]+", seg) and re.search(r"\d", seg)
        out.append(":id" if ID.match(seg) or hexid else seg)
    return "/".join(out)


def notable(status, ms) -> bool:
    return status is None or status >= 500 or status in (401, 403, 408, 499, 504) or (ms is not None and ms >= SLOW_REQUEST_MS)


def gen_nginx(path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    t = datetime(2022, 4, 8, 20, 55, tzinfo=UTC)
    lines = []
    for _ in range(n):
        t += timedelta(milliseconds=rnd.randrange(0, 300))
        st = rnd.choice([200] * 20 + [201, 304, 401, 404, 499, 500, 502, 504])
        secs = rnd.choice([0.002, 0.027, 0.15, 0.399, 0.41, 1.2])
        url = rnd.choice([f"/api/users/{rnd.randrange(999)}/cart", "/health", f"/api/i/5f{rnd.randrange(16**8):08x}e9?x=1"])
        lines.append(f'10.1.{rnd.randrange(9)}.{rnd.randrange(1, 9)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "{rnd.choice(["GET", "POST"])} {url} '
                     f'HTTP/1.1" {st} {rnd.randrange(999)} "-" "Mozilla/5.0 (X11; Linux x86_64)" {secs:.3f} {secs:.3f}')
    path.write_text("\n".join(lines) + "\n")


def gen_pino(path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    t = datetime(2022, 4, 8, 20, 55, tzinfo=UTC)
    lines = []
    for i in range(n):
        t += timedelta(milliseconds=rnd.randrange(0, 300))
        if i % 4 == 0:
            lines.append(json.dumps({"level": 30, "time": int(t.timestamp() * 1000), "pid": 7, "msg": "cache warmed"}))
            continue
        st = rnd.choice([200] * 20 + [201, 304, 401, 404, 500, 503])
        lines.append(json.dumps({"level": 50 if st >= 500 else 30, "time": int(t.timestamp() * 1000), "pid": rnd.choice([7, 8]),
                                 "hostname": "checkout-7d9f8b6c4-qx2lp",
                                 "req": {"id": i, "method": rnd.choice(["GET", "POST"]), "url": f"/api/cart/{rnd.randrange(99)}?x=1"},
                                 "res": {"statusCode": st}, "responseTime": rnd.choice([3, 45, 399, 400, 1200]),
                                 "msg": "request errored" if st >= 500 else "request completed"}, separators=(",", ":")))
    path.write_text("\n".join(lines) + "\n")


def count_nginx(text: str):
    want, lat, keep = Counter(), Counter(), 0
    for line in text.splitlines():
        m = ACCESS.match(line)
        if not m:
            continue
        sec = datetime.strptime(m.group(1), "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC)
        key = (sec, m.group(2), py_template(m.group(3)), int(m.group(4)))
        ms = round(float(m.group(5)) * 1000, 6) if m.group(5) else None
        want[key] += 1
        lat[key] += ms or 0
        keep += notable(int(m.group(4)), ms)
    return want, lat, keep


def count_pino(text: str):
    want, lat, keep = Counter(), Counter(), 0
    for line in text.splitlines():
        obj = json.loads(line)
        st = (obj.get("res") or {}).get("statusCode")
        if not isinstance(st, int):
            continue
        sec = datetime.fromtimestamp(obj["time"] // 1000, UTC)
        key = (sec, obj["req"]["method"], py_template(obj["req"]["url"]), st)
        want[key] += 1
        lat[key] += obj.get("responseTime", 0)
        keep += notable(st, obj.get("responseTime")) or "session_id" in obj
    return want, lat, keep


def _check(cli, path, want, lat, keep):
    cli.ok("ingest", str(path))
    got = cli.sql("SELECT second, method, route, status, sum(requests), sum(coalesce(latency_sum_ms, 0)) FROM requests GROUP BY ALL")
    assert {k[:4]: k[4] for k in got} == dict(want) and want
    assert {k[:4]: k[5] for k in got} == pytest.approx({k: float(v) for k, v in lat.items()})
    (ev,), = cli.sql("SELECT count(*) FROM events WHERE kind = 'http_request'")
    assert ev == keep and 0 < keep < sum(want.values())


def test_raw_nginx_file_requests_equal_a_count_over_the_raw_file(cli):
    path = cli.tmp / "access.log"
    gen_nginx(path, 6000, 5)
    _check(cli, path, *count_nginx(path.read_text()))


def test_raw_pino_file_requests_equal_a_count_over_the_raw_file(cli):
    path = cli.tmp / "app.log"
    gen_pino(path, 6000, 6)
    _check(cli, path, *count_pino(path.read_text()))


def test_sample_raw_pino_http_requests_equal_a_count_over_the_raw_file(cli):
    path = SAMPLES / "formats" / "node" / "pino-http.log"
    _check(cli, path, *count_pino(path.read_text()))


def test_sample_raw_access_logs_requests_equal_a_count_over_the_raw_files(cli):
    for name in ("access.log", "access_timed.log"):
        path = SAMPLES / "formats" / "nginx" / name
        want, lat, keep = count_nginx(path.read_text())
        cli.ok("ingest", str(path))
        got = cli.sql(f"SELECT r.second, r.method, r.route, r.status, sum(r.requests) FROM requests r JOIN sources s USING (source_id) "
                      f"WHERE s.path LIKE '%/{name}' GROUP BY ALL")
        assert {k[:4]: k[4] for k in got} == dict(want) and want
