"""samples/celery-sigkill: a real Celery worker whose prefork pool processes are SIGKILLed mid-job.
Each `Process 'ForkPoolWorker-N' pid:P exited with 'signal 9 (SIGKILL)'` is one worker death
(counted here from the raw file); the WorkerLostError reports of the lost jobs are not deaths;
Celery's `LEVEL/ProcessName]` heads give the lines their level."""

from __future__ import annotations

import json
import re

from conftest import SAMPLES, require

B = SAMPLES / "celery-sigkill"


def _raw():
    exp = json.loads(require(B / "expected.json").read_text())
    lines = (B / f"{exp['root_cause']['pod']}.log").read_text().splitlines()
    deaths = [ln for ln in lines if exp["death_line"] in ln]
    heads = {lvl: sum(f": {lvl}/" in ln for ln in lines) for lvl in ("INFO", "WARNING", "ERROR")}
    lost = [ln for ln in lines if re.search(r"WorkerLostError\('Worker exited prematurely", ln)]
    return exp, deaths, heads, lost


def test_each_killed_pool_process_is_one_death(cli):
    exp, deaths, _, lost = _raw()
    assert len(deaths) >= 3 and lost
    cli.ok("ingest", str(B), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["incident"] and rep["impact"]["deaths"] == len(deaths)
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert (root["rule"], root["entity"]["pod"]) == (exp["root_cause"]["rule"], exp["root_cause"]["pod"])
    m = root["metrics"]
    assert m["deaths"] == m["killed_exits"] == len(deaths) and m["crash_exits"] == 0
    pids = {int(re.search(r"pid:(\d+)", ln).group(1)) for ln in deaths}
    got = {p for (p,) in cli.sql("SELECT pid FROM events WHERE kind = 'worker_exit'")}
    assert got == pids
    # the warm shutdown is a stop announced by the worker, not an error
    assert cli.sql("SELECT count(*) FROM events WHERE kind = 'shutdown'") == [(1,)]


def test_celery_level_heads(cli):
    _, _, heads, _ = _raw()
    cli.ok("ingest", str(B), "-q")
    got = dict(cli.sql("SELECT level, sum(lines) FROM line_index WHERE level IS NOT NULL GROUP BY level"))
    # (a head's indented continuation lines count with it: at least one line per head)
    assert got.get("error", 0) == heads["ERROR"] and got.get("info", 0) == heads["INFO"]
    assert got.get("warn", 0) >= heads["WARNING"] > 0
