"""samples/graceful and samples/graceful-vs-crash (issue 12): a graceful stop (SIGTERM, exit code 0)
is no death; a crash loop next to it is the root cause. Pinned against each bundle's expected.json
and against numbers computed here from the raw files."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from conftest import SAMPLES, require

EXIT = re.compile(r"Worker (\d+) exited \(code: (\w+), signal: (\w+)\)")


def ts(s: str) -> dt.datetime:
    s = s.rstrip("Z")
    head, _, frac = s.partition(".")
    return dt.datetime.fromisoformat(head + ("." + frac[:6] if frac else "")).replace(tzinfo=dt.UTC)


def raw_exits(bundle: Path) -> dict[str, dict]:
    """Per pod file, independent of pmortem: exits after the primary's `received SIGTERM` (graceful),
    crash exits (code != 0), and the TypeErrors."""
    out = {}
    for f in [*bundle.glob("*.log"), *bundle.glob("var/log/pods/*/*/0.log")]:
        pod = f.stem if f.suffix == ".log" and f.name != "0.log" else f.parts[-3].split("_")[1]
        sigterm, graceful, crash, codes, first_crash = None, 0, 0, set(), None
        text = f.read_text()
        for line in text.splitlines():
            if "Primary" in line and "received SIGTERM" in line:
                sigterm = line
            m = EXIT.search(line)
            if not m:
                continue
            if sigterm and (m.group(2) == "0" or m.group(3) == "SIGTERM"):
                graceful += 1
            elif m.group(2) not in ("0", "null"):
                crash += 1
                codes.add(m.group(2))
                first_crash = first_crash or ts(re.search(r"\d{4}-\d\d-\d\dT[\d:.]+Z", line).group(0))
        out[pod] = {"graceful": graceful, "crash": crash, "codes": sorted(codes), "first_crash": first_crash,
                    "type_errors": len(re.findall(r"^\S+ (?:\S+ \S+ )?TypeError: ", text, re.M))}
    return out


def _report(cli, bundle: Path) -> dict:
    cli.ok("ingest", str(bundle), "-q")
    return json.loads(cli.ok("report", "--format", "json").stdout)


def test_graceful_stop_is_no_incident(cli):
    bundle = SAMPLES / "graceful"
    exp = json.loads(require(bundle / "expected.json").read_text())
    raw = raw_exits(bundle)
    (stopped,) = exp["not_deaths"]
    assert raw[stopped]["graceful"] == exp["not_deaths"][stopped]["graceful_exits"] == 3
    assert sum(r["crash"] for r in raw.values()) == exp["worker_deaths_total"] == 0
    rep = _report(cli, bundle)
    assert rep["incident"] is False and rep["root_cause"] is None
    assert rep["impact"]["deaths"] == 0
    assert not [f for f in rep["findings"] if f["severity"] != "info"]
    assert not [f for f in rep["findings"] if f["rule"] in ("worker_death_spiral", "exit_precursor")]
    md = cli.ok("report").stdout
    assert "No incident found" in md and "## Root cause" not in md
    assert cli.run("scan").exit_code == exp["scan"]["exit_code"] == 0


def test_graceful_vs_crash_root_is_the_crash_loop(cli):
    bundle = SAMPLES / "graceful-vs-crash"
    exp = json.loads(require(bundle / "expected.json").read_text())
    rc, raw = exp["root_cause"], raw_exits(bundle)
    pod = rc["entity"]
    assert raw[pod]["crash"] == rc["crash_exits"] and raw[pod]["codes"] == rc["exit_codes"]
    rep = _report(cli, bundle)
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert (root["rule"], root["entity"]["pod"]) == (rc["rule"], pod)
    assert abs((ts(root["start"]) - ts(rc["onset"])).total_seconds()) <= 2
    assert abs((ts(root["start"]) - raw[pod]["first_crash"]).total_seconds()) < 0.01
    assert root["metrics"]["precursor"] == rc["precursor"]
    assert root["metrics"]["exits_preceded"] == root["metrics"]["exits"] == raw[pod]["crash"] == raw[pod]["type_errors"]
    # deaths: only the crash loop's; the graceful stop's 3 exits are not deaths
    assert rep["impact"]["deaths"] == exp["worker_deaths_total"] == sum(r["crash"] for r in raw.values())
    assert root["explains"]["deaths"] == {"n": rc["crash_exits"], "of": exp["worker_deaths_total"]}
    spiral = next(f for f in rep["findings"] if f["rule"] == "worker_death_spiral")
    assert spiral["entity"]["pod"] == pod and spiral["metrics"]["deaths"] == rc["crash_exits"]
    assert spiral["metrics"]["exit_codes"] == f"1:{rc['crash_exits']}"
    stopped = next(iter(exp["not_deaths"]))
    assert not [f for f in rep["findings"] if f["entity"]["pod"] == stopped]
    # a TypeError is no dependency error: the feedback-loop theory is not supported
    (h,) = [h for h in rep["hypotheses"] if h["rule"] == "feedback_loop"]
    assert h["verdict"] == "rejected" and h["metrics"]["control_deaths"] == 0
    # no event-loop advice where no lag was seen and no dependency error lines up with a death
    recs = [r["id"] for r in rep["recommendations"]]
    assert "event_loop_lag" not in recs and "unblock_event_loop" not in recs
    res = cli.run("scan")
    assert res.exit_code == exp["scan"]["exit_code"] == 1
    assert pod in res.stdout


# A real run of a fixed cluster primary: respawn with a doubling delay, a circuit breaker after 6
# crashes, and two announcements of every start (the worker's `started`, the primary's `online`).
FIXED_PRIMARY = r"""
const cluster = require('node:cluster');
const net = require('node:net');
if (cluster.isPrimary) {
  console.log(`Primary ${process.pid} is running`);
  let delay = 100, crashes = [];
  cluster.on('online', (w) => console.log(`Worker ${w.process.pid} online`));
  cluster.on('exit', (w, code, signal) => {
    console.log(`Worker ${w.process.pid} exited (code: ${code}, signal: ${signal})`);
    const now = Date.now();
    crashes = crashes.filter((t) => now - t < 30000).concat([now]);
    if (crashes.length >= 6) {
      console.log(`[CIRCUIT OPEN] ${crashes.length} crashes in 30s. Forking suspended.`);
      return;
    }
    console.log(`Respawning a worker in ${delay} ms`);
    setTimeout(() => cluster.fork(), delay);
    delay *= 2;
  });
  cluster.fork();
} else {
  console.log(`Worker ${process.pid} started`);
  net.connect(1, '127.0.0.1').on('error', (e) => { console.error(`Error: ${e.message}`); process.exit(1); });
}
"""


@pytest.fixture(scope="module")
def fixed_log(tmp_path_factory) -> Path:
    import shutil
    import subprocess
    import time

    node = shutil.which("node")
    if not node:
        pytest.skip("node (Node.js) is not installed: the fixed primary cannot run")
    d = tmp_path_factory.mktemp("fixed")
    (d / "primary.js").write_text(FIXED_PRIMARY)
    proc = subprocess.Popen([node, str(d / "primary.js")], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in proc.stdout:  # stamped on arrival, as a container runtime does
        now = dt.datetime.fromtimestamp(time.time(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        lines.append(f"{now} {line.rstrip()}")
        if "CIRCUIT OPEN" in line:
            break
    proc.kill()
    proc.wait()
    log = d / "checkout-6b7f9d8c5-q8r2t.log"  # kubectl logs --timestamps
    log.write_text("\n".join(lines) + "\n")
    return log


def test_backoff_and_circuit_breaker_are_the_fix_working(cli, fixed_log):
    text = fixed_log.read_text()
    exits = EXIT.findall(text)
    pids = set(re.findall(r"Worker (\d+) (?:started|online)", text))
    assert len(exits) == 6 and len(pids) == 6
    cli.ok("ingest", str(fixed_log), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    spiral = next(f for f in rep["findings"] if f["rule"] == "worker_death_spiral")
    m = spiral["metrics"]
    assert m["deaths"] == len(exits)
    assert m["worker_starts"] == len(pids)  # `started` and `online` of one pid: one start
    assert m["respawn_backs_off"] and m["circuit_opens"] == 1 and m["contained"], m
    assert "contained" in spiral["title"] and "death spiral" not in spiral["title"]
    assert "[CIRCUIT OPEN]" in spiral["evidence"][0]["text"]
    line_no = spiral["evidence"][0]["line"]
    assert "[CIRCUIT OPEN]" in text.splitlines()[line_no - 1]
    assert "death spiral" not in rep["summary"] and "contained" in rep["summary"]
    assert "respawn_backoff" not in [r["id"] for r in rep["recommendations"]]


def test_postgres_background_worker_exit_is_no_worker_death(cli, tmp_path):
    # PostgreSQL's own wording (src/backend/postmaster: "background worker \"%s\" (PID %d) exited with
    # exit code %d"), logged at every fast shutdown and restart of the server: not a pod's worker dying
    lines = []
    t0 = dt.datetime(2022, 4, 8, 20, 55, tzinfo=dt.UTC)
    for i in range(8):
        t = t0 + dt.timedelta(seconds=20 * i)
        def stamp(s: float, t: dt.datetime = t) -> str:
            return (t + dt.timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

        lines += [f"{stamp(0)} {(t).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC [1] LOG:  received fast shutdown request",
                  f"{stamp(0.1)} {(t).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC [1] LOG:  background worker "
                  f"\"logical replication launcher\" (PID {100 + i}) exited with exit code 1",
                  f"{stamp(0.3)} {(t).strftime('%Y-%m-%d %H:%M:%S.%f')[:-3]} UTC [1] LOG:  database system is shut down"]
    log = tmp_path / "postgres-7d9f8c6b5-k2m4q.log"
    log.write_text("\n".join(lines) + "\n")
    cli.ok("ingest", str(log), "-q")
    kinds = dict(cli.sql("SELECT kind, count(*) FROM events GROUP BY kind"))
    assert kinds.get("worker_exit", 0) == 0 and kinds.get("process_exit") == 8
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["impact"]["deaths"] == 0
    assert not [f for f in rep["findings"] if f["rule"] == "worker_death_spiral"]
