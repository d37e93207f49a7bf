"""Issue 13: on the Loghub systems and on the healthy bundles none of the playbook II rules fires."""

from __future__ import annotations

import json

import pytest
from conftest import LOGHUB, SAMPLES, loghub, require

PLAYBOOK_RULES = {
    "error_surge", "connection_pool_multiplication", "crash_loop_cause", "backpressure_chain", "unbounded_cache",
    "uneven_worker_load", "session_loss_across_workers",
}
SYSTEMS = sorted(p.name for p in LOGHUB.iterdir() if (p / f"{p.name}_2k.log").exists()) if LOGHUB.exists() else ["Apache"]


def fired(cli, *paths: str) -> list[tuple]:
    cli.ok("ingest", *paths, "-q")
    res = cli.run("report", "--format", "json")
    # a log where no line is an event (HealthApp, HDFS: no rule matches) is still data: the report
    # covers its lines (the per-minute line index), it does not refuse the database
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    (lo, hi), = cli.sql("SELECT min(minute), max(minute) FROM line_index")
    if rep["window"]["basis"].startswith("no worker exits"):
        assert rep["window"]["start"] <= lo.isoformat().replace("+00:00", "Z") and rep["window"]["end"] > hi.isoformat()[:19]
    return [(f["rule"], f["severity"], f["title"]) for f in rep["findings"] if f["rule"] in PLAYBOOK_RULES]


@pytest.mark.parametrize("system", SYSTEMS)
def test_loghub_system_raises_no_playbook_rule(cli, system):
    assert fired(cli, str(loghub(system))) == []


@pytest.mark.parametrize("bundle", ["healthy", "graceful"])
def test_healthy_bundle_raises_no_playbook_rule(cli, bundle):
    assert fired(cli, str(require(SAMPLES / bundle))) == []


def test_loghub_corpus_is_complete():
    assert len(SYSTEMS) == 16


def test_lines_without_events_are_data_for_the_window_checks(cli):
    """HDFS: no line becomes an event. A window inside its span is reported; one outside is
    refused with the span the database holds (exit 2), as for events."""
    cli.ok("ingest", str(loghub("HDFS")), "-q")
    assert cli.sql("SELECT count(*) FROM events") == [(0,)]
    (lo, hi), = cli.sql("SELECT min(minute), max(minute) FROM line_index")
    inside = cli.run("report", "--format", "json", "--since", lo.isoformat(), "--until", hi.isoformat())
    assert inside.exit_code == 0, inside.output
    assert json.loads(inside.stdout)["window"]["basis"] == "given"
    outside = cli.run("report", "--since", "2030-01-01T00:00:00Z", "--until", "2030-01-02T00:00:00Z")
    assert outside.exit_code == 2 and "no events between" in outside.output
    assert lo.strftime("%Y-%m-%d") in outside.output
