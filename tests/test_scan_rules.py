"""Issue 15.2: the risk rules a scan reports before an incident, on bundles captured from real
programs, and their thresholds in pmortem.toml ([rules.<rule>])."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLES, require


def _scan(cli, *args: str) -> tuple[int, list[dict]]:
    res = cli.run("scan", *args, "-f", "json", "-q", "--dry-run")
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.stdout)["findings"]


def _of(findings: list[dict], rule: str) -> list[dict]:
    return [f for f in findings if f["rule"] == rule]


@pytest.mark.parametrize(
    ("bundle", "rule", "pod"),
    [
        ("heap-oom", "fatal_heap_oom", "catalog-6f8d7c9b5-h7k2m"),
        ("backpressure", "fatal_emfile", "ingest-api-6c9d8f7b5-t7v2n"),
        ("crashloop-config", "fatal_crash_loop", "orders-5f6a7b8c9-v8r2d"),
    ],
)
def test_the_first_fatal_line_is_an_incident(cli, bundle, rule, pod):
    cli.ok("ingest", str(require(SAMPLES / bundle)), "-q")
    code, found = _scan(cli, "--fail-on", "incident")
    hits = _of(found, rule)
    assert code == 1 and [f["entity"] for f in hits] == [pod], found
    assert hits[0]["severity"] == "incident" and hits[0]["evidence"]
    # its id is the first line's: the same however far the window reaches
    _, again = _scan(cli, "--last", "1h")
    assert [f["id"] for f in _of(again, rule)] == [hits[0]["id"]]


def test_respawn_without_backoff_and_its_threshold(cli, tmp_path):
    cli.ok("ingest", str(require(SAMPLES / "forkbomb")), "-q")
    _, found = _scan(cli)
    (f,) = _of(found, "respawn_without_backoff")
    assert f["severity"] == "warning" and f["entity"] == "checkout-6b7f9d8c5-w2x4z"
    cfg = tmp_path / "strict.toml"
    cfg.write_text("[rules.respawn_backoff]\nmin_respawns = 100000\n")
    _, found = _scan(cli, "--config", str(cfg))
    assert not _of(found, "respawn_without_backoff")


def test_workers_sized_from_host_cores(cli):
    # a healthy day: more workers than the 1-CPU limit on every pod, nothing died: info only
    cli.ok("ingest", str(require(SAMPLES / "healthy")), "-q")
    code, found = _scan(cli, "--fail-on", "warning")
    sized = _of(found, "workers_above_cpu_limit")
    assert code == 0 and len(sized) == 3 and {f["severity"] for f in sized} == {"info"}, found
    # the incident night: on the rare 48-core host the same sizing is a warning
    cli.ok("ingest", str(require(SAMPLES / "history")), str(require(SAMPLES / "incident")), "-q")
    _, found = _scan(cli, "--last", "1h")
    by_pod = {f["entity"]: f["severity"] for f in _of(found, "workers_above_cpu_limit")}
    assert by_pod["campaign-7f9c6d5b8-x2k9p"] == "warning"
    assert {by_pod["campaign-7f9c6d5b8-m4h2t"], by_pod["campaign-7f9c6d5b8-r7n5w"]} == {"info"}


def test_event_loop_lag_threshold_from_the_config(cli, tmp_path):
    cli.ok("ingest", str(require(SAMPLES / "incident")), "-q")
    _, found = _scan(cli)
    assert [f["entity"] for f in _of(found, "event_loop_lag_high")] == ["campaign-7f9c6d5b8-x2k9p"]
    cfg = tmp_path / "pmortem.toml"
    cfg.write_text("[rules.loop_lag]\nlag_ms = 10000\n")
    _, found = _scan(cli, "--config", str(cfg))
    assert not _of(found, "event_loop_lag_high")
    # a threshold that does not exist is refused, in one line
    cfg.write_text("[rules.loop_lag]\nlag = 10\n")
    res = cli.run("scan", "--config", str(cfg))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and "lag_ms" in res.stderr
