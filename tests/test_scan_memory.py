"""Issue 15 acceptance: `pmortem scan` run day after day over logs made by real runs.

samples/history (30 days of campaign startups, a Loki export) is split by day and appended,
oldest first, to one growing file; the healthy day (samples/healthy, 2022-04-07) and the
incident night (samples/incident, 2022-04-08) are dropped in on their days. After each day:
`pmortem scan DIR --last 1d --fail-on warning`.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import time

import duckdb
import pytest
from conftest import SAMPLES, require

HOLD = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); time.sleep(60)"
WORKER_DIED = re.compile(r"(?i)\bworker\b.*\b(?:died|exited)\b")


class Replay:
    """The history, by day, and a scan after each appended piece."""

    def __init__(self, cli, root):
        self.cli, self.root = cli, root
        root.mkdir()
        self.file = root / "campaign-loki.jsonl"
        self.days: dict[str, list[tuple[str, str]]] = {}
        with gzip.open(require(SAMPLES / "history" / "campaign-startup-30d.jsonl.gz"), "rt") as fh:
            for line in fh:
                ts = json.loads(line)["timestamp"]
                self.days.setdefault(ts[:10], []).append((ts, line))
        for lines in self.days.values():
            lines.sort()  # the export is newest first; a live log grows oldest first

    def append(self, lines) -> None:
        with open(self.file, "a", encoding="utf-8") as fh:
            fh.writelines(line for _, line in lines)

    def add_sample(self, name: str) -> None:
        shutil.copytree(require(SAMPLES / name), self.root / name)

    def scan(self, *extra: str):
        res = self.cli.run("scan", str(self.root), "--last", "1d", "--fail-on", "warning", *extra)
        assert "Traceback" not in res.output
        return res

    def scan_json(self, *extra: str) -> tuple[int, dict]:
        res = self.scan("-f", "json", *extra)
        return res.exit_code, json.loads(res.stdout)


def _events(db: str, where: str = "true") -> int:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM events WHERE {where}").fetchone()[0]
    finally:
        con.close()


def _one_line(res) -> str:
    lines = [x for x in res.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("pmortem: error: "), res.stderr
    return lines[0]


@pytest.fixture
def replay(cli, tmp_path):
    return Replay(cli, tmp_path / "logs")


def test_day_by_day_warns_before_the_incident_and_remembers(replay, cli):
    days = replay.days
    # the baseline: four weeks of ordinary starts (4, 8 and 16 cores)
    replay.append([x for d in sorted(days) if d < "2022-04-05" for x in days[d]])
    code, out = replay.scan_json()
    assert code == 0, out
    assert not [f for f in out["findings"] if f["severity"] != "info"]

    # a quiet day
    replay.append(days["2022-04-05"])
    res = replay.scan()
    assert res.exit_code == 0, res.output

    # 2022-04-06 up to the first worker death: the 48-core start alone is the warning
    day6 = days["2022-04-06"]
    cut = next(i for i, (_, line) in enumerate(day6) if WORKER_DIED.search(json.loads(line)["line"]))
    replay.append(day6[:cut])
    code, out = replay.scan_json()
    assert _events(cli.db, "kind = 'worker_exit'") == 0  # no worker has died yet
    assert code == 1, out
    shape = [f for f in out["findings"] if f["rule"] == "host_shape_outlier"]
    assert len(shape) == 1 and shape[0]["severity"] == "warning", out
    warn = shape[0]
    assert warn["entity"] == "campaign-7f9c6d5b8-rh4cl" and "48" in warn["summary"]
    assert warn["first_seen"].startswith("2022-04-06T10:49") and warn["anchor"].endswith(warn["id"])
    assert set(warn) >= {"id", "severity", "rule", "entity", "first_seen", "summary", "anchor"}

    # acknowledged: quiet even under --all, while its severity stays where it was
    res = cli.run("ack", warn["id"], "--reason", "48-core node drained")
    assert res.exit_code == 0, res.output
    code, out = replay.scan_json("--all")
    assert warn["id"] not in {f["id"] for f in out["findings"]} and out["acknowledged"] == 1
    listed = {r["id"]: r for r in json.loads(cli.run("findings", "-f", "json").stdout)}
    assert listed[warn["id"]]["status"] == "acknowledged"
    assert listed[warn["id"]]["ack_reason"] == "48-core node drained"

    # the rest of the day: the death spiral; the acknowledged finding rose to incident and is told again
    replay.append(day6[cut:])
    code, out = replay.scan_json()
    assert code == 1
    by_id = {f["id"]: f for f in out["findings"]}
    assert by_id.get(warn["id"], {}).get("severity") == "incident", out
    assert "worker_death_spiral" in {f["rule"] for f in out["findings"]}

    # 2022-04-07 with the healthy sample: quiet (the near miss is a day and a half back: outside 1d)
    replay.append(days["2022-04-07"])
    replay.add_sample("healthy")
    code, out = replay.scan_json()
    assert code == 0, out
    assert not [f for f in out["findings"] if f["severity"] != "info"], out
    assert "near_miss" not in {f["rule"] for f in out["findings"]}

    # the same scan again, nothing new: exit 0 and nothing on stdout; nothing was re-read
    # (no file changed, so no ingest) and the analysis is the last scan's
    res = replay.scan()
    assert res.exit_code == 0 and res.stdout == "", res.output
    assert "0 new" in res.stderr and "analysis reused" in res.stderr
    # a file touched (rewritten, same bytes) is checked again by the ingest: still nothing new
    os.utime(replay.file)
    res = replay.scan()
    assert res.exit_code == 0 and res.stdout == "", res.output

    # the incident night
    replay.append(days["2022-04-08"])
    replay.add_sample("incident")
    code, out = replay.scan_json()
    assert code == 1
    incident = [f for f in out["findings"] if f["severity"] == "incident"]
    assert {"worker_death_spiral", "host_shape_outlier"} <= {f["rule"] for f in incident}, out
    assert all(f["entity"] == "campaign-7f9c6d5b8-x2k9p" for f in incident)
    assert "near_miss" not in {f["rule"] for f in out["findings"]}  # 2022-04-06: outside the window
    # and once told, it is not told again
    res = replay.scan()
    assert res.exit_code == 0 and res.stdout == "", res.output

    # `pmortem findings` knows all three states
    states = {r["status"] for r in json.loads(cli.run("findings", "-f", "json").stdout)}
    assert {"open", "resolved"} <= states, states  # the 2022-04-06 findings: the logs moved past them


def test_bad_input_is_one_line_and_loses_nothing(replay, cli, tmp_path):
    days = replay.days
    replay.append([x for d in sorted(days) if d < "2022-04-06" for x in days[d]])
    assert replay.scan().exit_code == 0
    before = _events(cli.db)

    # an unreadable path
    res = cli.run("scan", str(replay.root), str(tmp_path / "no-such-dir"), "--last", "1d")
    assert res.exit_code == 2
    assert "no-such-dir" in _one_line(res)
    assert _events(cli.db) == before

    # a database another process holds past --wait, while new bytes wait to be ingested
    replay.append(days["2022-04-06"])
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, cli.db],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        t = time.monotonic()
        res = cli.run("scan", str(replay.root), "--last", "1d", "--wait", "0.5")
        assert res.exit_code == 2 and time.monotonic() - t < 10
        assert "in use" in _one_line(res) and "--wait" in _one_line(res)
    finally:
        holder.kill()
        holder.wait()
    assert _events(cli.db) == before  # nothing lost, nothing half-written
    # the next scan picks the new bytes up and tells what the locked one could not
    code, out = replay.scan_json()
    assert code == 1 and "host_shape_outlier" in {f["rule"] for f in out["findings"]}
    assert _events(cli.db) > before


def test_a_near_miss_days_earlier_does_not_fail_a_one_hour_scan(cli):
    cli.ok("ingest", str(require(SAMPLES / "history")), "-q")
    res = cli.run("scan", "--last", "1h", "--fail-on", "warning", "-f", "json", "--dry-run")
    out = json.loads(res.stdout)
    assert out["window"]["start"].startswith("2022-04-08T19:55")  # an hour of log time before the newest event
    assert "near_miss" not in {f["rule"] for f in out["findings"]}
    assert all(f["first_seen"] >= "2022-04-08T19:55" for f in out["findings"] if f["first_seen"])


def test_prune_keeps_fingerprints_and_the_cpu_baseline(cli):
    cli.ok("ingest", str(require(SAMPLES / "history")), "-q")
    starts_before = cli.sql("SELECT count(*) FROM events WHERE kind = 'cpu_count'")[0][0]
    res = cli.ok("prune", "--older-than", "3d")
    assert "deleted" in res.stdout and "kept 1 sources" in res.stdout
    assert cli.sql("SELECT min(ts) >= TIMESTAMPTZ '2022-04-05 20:00:00+00' FROM events")[0][0]
    (rolled,) = cli.sql("SELECT sum(starts) FROM cpu_count_history")[0]
    assert rolled > 100 and starts_before > rolled
    # re-ingest is incremental: the source is unchanged, nothing is read again
    res = cli.ok("ingest", str(SAMPLES / "history"))
    assert "1 unchanged" in res.stderr
    # the 48-core start of the incident night is judged against the whole baseline, pruned starts too
    window = ("--since", "2022-04-08T20:00:00Z", "--until", "2022-04-08T21:00:00Z")
    rep = json.loads(cli.run("report", "-f", "json", *window).stdout)
    shape = [f for f in rep["findings"] if f["rule"] == "host_shape_outlier"]
    assert shape and shape[0]["metrics"]["observations_total"] >= 130, shape
    assert shape[0]["metrics"]["observations_in_history"] == 2
