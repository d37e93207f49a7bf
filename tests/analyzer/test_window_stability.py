"""The incident window and the findings do not move when hours of healthy traffic surround the
incident (issue 18): the founding incident bundle alone, then the same bundle plus a pod of its own
logging requests (a steady trickle of 5xx and error lines, as a healthy production service does)
from hours before to hours after. The old island-of-bad-minutes window glued that trickle to the
incident and grew to the whole 12 hours."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, require

from pmortem.cli import main

from . import healthy_traffic

INC = SAMPLES / "incident"
T = dt.datetime(2022, 4, 8, 20, 55, tzinfo=dt.UTC)


def _ok(*argv: str) -> None:
    res = CliRunner().invoke(main, list(argv), catch_exceptions=False)
    assert res.exit_code == 0, (argv, res.output)


def _report(db: str, out: Path) -> dict:
    _ok("report", "--db", db, "--format", "json", "--out", str(out))
    return json.loads(out.read_text())


def _window_row(db: str) -> dict:
    from pmortem.analyzer.sqlrun import load_sql

    con = duckdb.connect(db, read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    cur = con.execute(load_sql("incident_window"), {"service": None, "gap_min": 10})
    row = dict(zip([d[0] for d in cur.description], cur.fetchone(), strict=True))
    con.close()
    return row


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("stability")
    alone, padded = str(tmp / "alone.duckdb"), str(tmp / "padded.duckdb")
    _ok("ingest", str(require(INC)), "--db", alone, "-q")
    traffic = tmp / "storefront-6b7c8d9f5-q7w2e.log"
    lines = healthy_traffic.write(traffic, T - dt.timedelta(hours=5), T + dt.timedelta(hours=5), per_s=2.5)
    assert lines > 80_000
    _ok("ingest", str(require(INC)), str(traffic), "--db", padded, "-q")
    return {"alone": alone, "padded": padded, "a": _report(alone, tmp / "a.json"), "b": _report(padded, tmp / "b.json")}


def test_background_is_there_and_measured(pair):
    """The surrounding traffic really holds bad events in most minutes (else the test tests nothing)."""
    con = duckdb.connect(pair["padded"], read_only=True)
    busy_minutes, bad = con.execute(
        "SELECT count(DISTINCT date_trunc('minute', ts)), count(*) FROM events "
        "WHERE pod LIKE 'storefront-%' AND (status >= 500 OR level = 'error')").fetchone()
    con.close()
    assert busy_minutes > 400 and bad > 1000
    w = _window_row(pair["padded"])
    assert w["background_per_min"] > 1.0  # measured away from the incident
    assert _window_row(pair["alone"])["background_per_min"] == 0


def test_window_edges_stay(pair):
    a, b = _window_row(pair["alone"]), _window_row(pair["padded"])
    assert abs((b["first_bad"] - a["first_bad"]).total_seconds()) <= 3
    assert abs((b["last_bad"] - a["last_bad"]).total_seconds()) <= 3
    assert b["deaths"] == a["deaths"] and b["peak_minute"] == a["peak_minute"]
    ra, rb = pair["a"]["window"], pair["b"]["window"]
    assert ra["start"] == rb["start"]
    end_a, end_b = (dt.datetime.fromisoformat(r["end"]) for r in (ra, rb))
    assert abs((end_b - end_a).total_seconds()) <= 3


def test_same_findings(pair):
    a, b = pair["a"], pair["b"]
    assert a["incident"] and b["incident"]
    assert a["root_cause"] is not None and b["root_cause"] == a["root_cause"]
    assert a["impact"]["deaths"] == b["impact"]["deaths"] > 800
    fa = {f["id"]: f for f in a["findings"]}
    fb = {f["id"]: f for f in b["findings"]}
    assert set(fa) == set(fb)
    for fid, f in fa.items():
        assert (f["rule"], f["severity"], f["metrics"]) == (fb[fid]["rule"], fb[fid]["severity"], fb[fid]["metrics"]), f["rule"]


def test_the_island_with_most_impact_wins_over_an_earlier_sharper_burst(cli):
    """The 48-core pod's log with a month of startup history: the history holds an earlier spiral
    (2022-04-06, fewer deaths, a busier peak minute). The incident is the island with the most
    bad events, so the window is the 04-08 night and the 04-06 spiral is its near miss, not the
    other way round."""
    pod_log = require(SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log")
    deaths = sum("died (" in ln for ln in pod_log.read_text().splitlines())
    cli.ok("ingest", str(pod_log), str(require(SAMPLES / "history")), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["window"]["start"].startswith("2022-04-08")
    spiral = next(f for f in rep["findings"] if f["rule"] == "worker_death_spiral")
    assert (spiral["entity"]["pod"], spiral["metrics"]["deaths"]) == ("campaign-7f9c6d5b8-x2k9p", deaths)
    near = [f for f in rep["findings"] if f["rule"] == "near_miss"]
    assert near and all(f["start"] < "2022-04-08" for f in near)
