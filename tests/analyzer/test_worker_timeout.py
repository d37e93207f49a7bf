"""samples/gunicorn-timeout: a real gunicorn whose master kills workers that run past --timeout.
The root cause is the slow request each killed worker was serving, with the numbers counted here
from the raw files; the healthy first seconds raise nothing; the graceful stop is no death."""

from __future__ import annotations

import datetime as dt
import json
import re

from conftest import SAMPLES, require
from pmortem.analyzer.findings import signal_exits

B = SAMPLES / "gunicorn-timeout"
STAMP = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \+0000\]")


def _raw():
    log = require(B / "gunicorn.log").read_text().splitlines()
    kills = [(dt.datetime.fromisoformat(STAMP.match(ln).group(1)).replace(tzinfo=dt.UTC), re.search(r"pid:(\d+)", ln).group(1))
             for ln in log if "WORKER TIMEOUT" in ln]
    # the request each killed worker names as it dies: `[pid] [ERROR] Error handling request GET /path`
    inflight = {m.group(1): m.group(2) for ln in log if (m := re.search(r"\] \[(\d+)\] \[ERROR\] Error handling request (\S+ /\S*)", ln))}
    access = (B / "access.log").read_text().splitlines()
    failed = [ln for ln in access if re.search(r'" 5\d\d ', ln)]
    return kills, inflight, failed, sum("Booting worker" in ln for ln in log)


def test_root_cause_is_the_slow_request_the_killed_workers_served(cli):
    exp = json.loads(require(B / "expected.json").read_text())["root_cause"]
    kills, inflight, failed, boots = _raw()
    cli.ok("ingest", str(B), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["incident"]
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert (root["rule"], root["entity"]["pod"]) == (exp["rule"], exp["entity"])
    assert root["start"] == kills[0][0].isoformat().replace("+00:00", "Z") == exp["onset"]
    m = root["metrics"]
    assert m["kills"] == len(kills) == exp["kills"]
    # every kill's request in flight is named, and it is the one the killed pid logged
    assert m["requests_named"] == m["naming_pid"] == sum(pid in inflight for _, pid in kills) == len(kills)
    routes = {re.sub(r"\d+", "<n>", inflight[pid]) for _, pid in kills}
    assert routes == {m["top_route"]} == {exp["route"]}
    assert m["http_5xx_near"] == m["http_5xx_same_route"] == len(failed) == exp["http_5xx"]
    assert all("/report/" in ln for ln in failed)
    assert root["explains"]["deaths"] == {"n": len(kills), "of": len(kills)}
    # the death spiral it is linked to: timeout kills, no crash, respawned
    spiral = next(f for f in rep["findings"] if f["rule"] == "worker_death_spiral")
    assert spiral["metrics"]["deaths"] == len(kills) and spiral["metrics"]["killed_exits"] == len(kills)
    assert spiral["metrics"]["crash_exits"] == 0 and signal_exits(spiral["metrics"]["exit_codes"]) == len(kills)
    assert spiral["metrics"]["worker_starts"] == boots
    assert "timeout" in spiral["title"] and "crash" not in spiral["title"]
    assert {"cause": root["id"], "effect": spiral["id"]} in [{k: c[k] for k in ("cause", "effect")} for c in rep["chain"]]
    # the error the killed worker logs right after the kill is no precursor of it
    assert not [f for f in rep["findings"] if f["rule"] == "exit_precursor"]
    assert rep["recommendations"][0]["id"] == "bound_slow_requests"


def test_healthy_start_and_graceful_stop_raise_nothing(cli):
    exp = json.loads(require(B / "expected.json").read_text())
    cli.ok("ingest", str(B), "-q")
    res = cli.ok("report", "--format", "json", "--since", "2026-12-04T09:42:30Z", "--until", exp["healthy_until"])
    rep = json.loads(res.stdout)
    assert not rep["incident"] and not [f for f in rep["findings"] if f["severity"] != "info"]
    # the stop: SIGTERM to the master, three workers exit; none of them is a death
    res = cli.ok("report", "--format", "json", "--since", "2026-12-04T09:43:21Z", "--until", "2026-12-04T09:43:30Z")
    deaths = json.loads(res.stdout)["impact"]["deaths"]
    assert deaths == 1  # the last WORKER TIMEOUT (09:43:22), not the three `Worker exiting` lines after it
