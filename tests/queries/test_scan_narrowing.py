"""The detector queries read less of the archive than they once did (issue 18: listen lines only when an
upstream needs resolving, an entity's history only for candidate onsets, one filtered scan per kind of
bad event). These pin the answers on the paths the request-heavy bench does not take: a proxy's 5xx
attributed to the pod by the address it said it listens on, an entity first seen through the requests
rollup, and the same answers with and without the rows the narrowing skips."""

import datetime as dt
from importlib.resources import files

import pytest

from pmortem.db import connect

T0 = dt.datetime(2022, 4, 8, 20, 0, 0, tzinfo=dt.UTC)
ONSET = T0 + dt.timedelta(minutes=30)
SURGE = {"after_s": 60.0, "min_events": 20, "min_factor": 10.0, "min_before_s": 120.0}
W = {"since": ONSET - dt.timedelta(minutes=2), "until": ONSET + dt.timedelta(minutes=5)}


def sql(name):
    return files("pmortem.queries").joinpath(f"{name}.sql").read_text()


def rows(con, name, params):
    text = sql(name)
    if "$upstreams" in text and "upstreams" not in params:  # as the rules pass it: queries/upstreams.sql's answer
        params = {**params, "upstreams": upstreams(con)}
    cur = con.execute(text, params)
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def upstreams(con) -> bool:
    return con.execute(sql("upstreams")).fetchone()[0]


def ev(con, src, ts, line, pod, kind, message, level="info", status=None, attrs=None, service=None):
    con.execute(
        "INSERT INTO events (source_id, ts, line_no, service, pod, kind, level, message, status, attrs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [src, ts, line, service, pod, kind, level, message, status, attrs],
    )


@pytest.fixture()
def con(tmp_path):
    c = connect(str(tmp_path / "n.duckdb"))
    c.execute("SET TimeZone = 'UTC'")
    c.execute("INSERT INTO sources (source_id, path) VALUES (1, 'api.log'), (2, 'nginx.log'), (3, 'other.log')")
    # the api pod says where it listens; nginx forwards to that address; its 502s belong to the api pod
    ev(c, 1, T0 + dt.timedelta(seconds=5), 1, "api-7d9f-a1", "log", "server listening on http://10.1.2.3:8080", service="api")
    for i in range(60):  # a healthy minute of nginx lines long before
        ev(c, 2, T0 + dt.timedelta(seconds=i), i + 1, "nginx-5c6b-x1", "log", f"worker {i % 4} ok", service="nginx")
    for i in range(30):  # 30 502s in 30 s at the onset
        ev(c, 2, ONSET + dt.timedelta(seconds=i), 100 + i, "nginx-5c6b-x1", "http_request", f"GET /q/{i} 502", "error", 502,
           '{"upstream_addr":"10.1.2.3:8080","method":"GET"}', "nginx")
    # another pod with a steady trickle: a candidate by count, never by rate (its history is long)
    for i in range(0, 3600, 2):
        ev(c, 3, T0 + dt.timedelta(seconds=i), i + 1, "batch-9x8y-z1", "log", "retrying job", "error", service="batch")
    yield c
    c.close()


def test_listen_line_attributes_proxied_5xx_to_the_pod(con):
    out = rows(con, "error_surge", {**W, **SURGE})
    assert [r["entity"] for r in out] == ["api-7d9f-a1"]
    (r,) = out
    assert r["http_5xx"] == 30 and r["error_lines"] == 0 and r["http_5xx_before"] == 0
    assert r["onset"] == ONSET
    assert r["seen_since"] == T0 + dt.timedelta(seconds=5)  # its listen line: its first line
    assert r["before_s"] == pytest.approx(1795.0)
    # the same 502s without an upstream address stay the proxy's: then no listen line is looked for
    con.execute("UPDATE events SET attrs = '{\"method\":\"GET\"}' WHERE kind = 'http_request'")
    (r2,) = rows(con, "error_surge", {**W, **SURGE})
    assert r2["entity"] == "nginx-5c6b-x1" and r2["http_5xx"] == 30
    assert r2["seen_since"] == T0  # the proxy's first line


def test_first_request_in_the_rollup_counts_as_first_seen(con):
    # the api pod served requests (rolled up, none of them events) 10 min before its listen line
    con.execute(
        "INSERT INTO requests (source_id, service, pod, pid, second, method, route, status, upstream, requests, latency_n, "
        "first_ts, last_ts, first_line, last_line) VALUES (1, 'api', 'api-7d9f-a1', 1, ?, 'GET', '/q/:id', 200, NULL, 5, 0, ?, ?, 1, 5)",
        [T0 - dt.timedelta(minutes=10), T0 - dt.timedelta(minutes=10), T0 - dt.timedelta(minutes=10) + dt.timedelta(seconds=0.5)],
    )
    (r,) = rows(con, "error_surge", {**W, **SURGE})
    assert r["entity"] == "api-7d9f-a1" and r["seen_since"] == T0 - dt.timedelta(minutes=10)
    assert r["requests_after"] == 0  # that second is long before the onset


def test_connection_pool_resolves_upstream_by_listen_line(con):
    # a pod that logged its pool size; the proxy's 502s name the address it listens on
    ev(con, 1, T0 + dt.timedelta(seconds=6), 2, "api-7d9f-a1", "config", "config: WORKERS=4 PG_POOL_MAX=10", service="api")
    con.execute("UPDATE events SET attrs = '{\"workers\": 4, \"pool_max\": 10}' WHERE kind = 'config'")
    (r,) = rows(con, "connection_pool", {**W, "tolerance_s": 2.0})
    assert r["pod"] == "api-7d9f-a1" and r["http_5xx"] == 30 and r["pool_max"] == 10 and r["workers"] == 4
    # no upstream address: nothing to resolve, no 5xx for the pod
    con.execute("UPDATE events SET attrs = '{\"method\":\"GET\"}' WHERE kind = 'http_request'")
    (r2,) = rows(con, "connection_pool", {**W, "tolerance_s": 2.0})
    assert r2["http_5xx"] == 0


def test_incident_window_counts_each_bad_event_once(con):
    # a classified error at error level, and an event-loop block at error level: one bad event each
    ev(con, 3, ONSET + dt.timedelta(seconds=1), 9001, "batch-9x8y-z1", "error", "ECONNRESET", "error")
    con.execute("UPDATE events SET error_class = 'connection_reset' WHERE line_no = 9001")
    ev(con, 3, ONSET + dt.timedelta(seconds=2), 9002, "batch-9x8y-z1", "event_loop_lag", "event loop blocked 900 ms", "error")
    con.execute("UPDATE events SET duration_ms = 900 WHERE line_no = 9002")
    (w,) = rows(con, "incident_window", {"service": None, "gap_min": 10})
    bad = con.execute(
        """SELECT count(*) FROM events WHERE ts BETWEEN ? AND ? AND (
               (kind = 'error' AND error_class IS NOT NULL)
            OR (kind NOT IN ('span', 'http_request', 'worker_exit', 'pod_spec') AND level IN ('error', 'fatal'))
            OR (kind = 'http_request' AND status >= 500) OR (kind = 'event_loop_lag' AND duration_ms >= 500))""",
        [w["first_bad"], w["last_bad"]],
    ).fetchone()[0]
    assert w["bad_events"] == bad
    assert w["first_bad"] <= ONSET and w["last_bad"] >= ONSET + dt.timedelta(seconds=29)


def test_upstreams_gate_skips_only_what_cannot_matter(con):
    # a response names an upstream: the listen line is looked for, and the 502s are the api pod's
    assert upstreams(con) is True
    assert [r["entity"] for r in rows(con, "error_surge", {**W, **SURGE})] == ["api-7d9f-a1"]
    # the gate is what turns the look off: forced off, the proxy keeps its 502s (so it is not a no-op)
    assert [r["entity"] for r in rows(con, "error_surge", {**W, **SURGE, "upstreams": False})] == ["nginx-5c6b-x1"]
    # no response names one (an address without a host part is none either): upstreams.sql says so, and
    # then both settings of the gate give the same answers, in error_surge and connection_pool
    con.execute("UPDATE events SET attrs = '{\"method\":\"GET\",\"upstream_addr\":\":8080\"}' WHERE kind = 'http_request'")
    ev(con, 1, T0 + dt.timedelta(seconds=6), 2, "api-7d9f-a1", "config", "config: WORKERS=4 PG_POOL_MAX=10", service="api")
    con.execute("UPDATE events SET attrs = '{\"workers\": 4, \"pool_max\": 10}' WHERE kind = 'config'")
    assert upstreams(con) is False
    for q, p in (("error_surge", {**W, **SURGE}), ("connection_pool", {**W, "tolerance_s": 2.0})):
        assert rows(con, q, {**p, "upstreams": True}) == rows(con, q, {**p, "upstreams": False})
    # an upstream in the requests rollup alone counts too
    con.execute(
        "INSERT INTO requests (source_id, service, pod, pid, second, method, route, status, upstream, requests, latency_n, "
        "first_ts, last_ts, first_line, last_line) VALUES (2, 'nginx', 'nginx-5c6b-x1', 1, ?, 'GET', '/q/:id', 200, "
        "'10.1.2.3:8080', 1, 0, ?, ?, 1, 1)",
        [ONSET, ONSET, ONSET],
    )
    assert upstreams(con) is True
