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
    if res.exit_code == 2 and "holds no events" in res.output:  # e.g. HealthApp: no line becomes an event
        assert cli.sql("SELECT count(*) FROM events") == [(0,)]
        return []
    assert res.exit_code == 0, res.output
    rep = json.loads(res.stdout)
    return [(f["rule"], f["severity"], f["title"]) for f in rep["findings"] if f["rule"] in PLAYBOOK_RULES]


@pytest.mark.parametrize("system", SYSTEMS)
def test_loghub_system_raises_no_playbook_rule(cli, system):
    assert fired(cli, str(loghub(system))) == []


@pytest.mark.parametrize("bundle", ["healthy", "graceful"])
def test_healthy_bundle_raises_no_playbook_rule(cli, bundle):
    assert fired(cli, str(require(SAMPLES / bundle))) == []


def test_loghub_corpus_is_complete():
    assert len(SYSTEMS) == 16
