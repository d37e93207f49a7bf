"""`pmortem scan`: the unattended check's exit codes follow the findings' severities."""

from __future__ import annotations

import json

from conftest import SAMPLES, require


def test_scan_exit_codes_follow_severity(cli):
    res = cli.run("scan", str(require(SAMPLES / "healthy")), "--fail-on", "warning", "--format", "json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["failed"] is False
    assert all(f["severity"] == "info" for f in out["findings"])
    # the same database flags on the lowest threshold only if an info finding exists; the scan
    # remembers what it reported, so the second look needs --all to see them again
    res = cli.run("scan", "--fail-on", "info")
    assert res.exit_code == 0, res.output
    res = cli.run("scan", "--fail-on", "info", "--all")
    assert res.exit_code == (1 if out["findings"] else 0)


def test_scan_flags_the_incident(cli):
    res = cli.run("scan", str(require(SAMPLES / "incident")), "--fail-on", "incident", "--format", "json")
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    rules = {f["rule"] for f in out["findings"] if f["severity"] == "incident"}
    assert "worker_death_spiral" in rules
    res = cli.run("scan", "--last", "soon")
    assert res.exit_code == 2 and "--last" in res.output
