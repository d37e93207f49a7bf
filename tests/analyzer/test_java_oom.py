"""samples/java-oom: a real JVM that runs out of heap and is restarted in place, beside a healthy
twin running the same code. The root cause is the heap exhaustion of the leaking container, with
its aborts counted here from the raw files; the twin raises nothing; bare docker json-files are
named by their short container id."""

from __future__ import annotations

import json

from conftest import SAMPLES, require

B = SAMPLES / "java-oom"


def _raw():
    exp = json.loads(require(B / "expected.json").read_text())
    logs = {p.name[:12]: p.read_text().splitlines() for p in B.glob("var/lib/docker/containers/*/*-json.log")}
    aborts = {cid: sum("Terminating due to java.lang.OutOfMemoryError" in json.loads(ln)["log"] for ln in lines)
              for cid, lines in logs.items()}
    client = [json.loads(ln.split(" ", 1)[1]) for ln in (B / f"{exp['client']['pod']}.log").read_text().splitlines()]
    conn_errors = [r for r in client if r["level"] == 50 and ("Connection refused" in r["msg"] or "Connection reset" in r["msg"])]
    return exp, aborts, conn_errors


def test_root_cause_is_the_heap_exhaustion_of_the_leaking_container(cli):
    exp, aborts, conn_errors = _raw()
    leak, healthy = exp["root_cause"]["pod"], exp["healthy_control"]["pod"]
    assert aborts[leak] >= 1 and aborts[healthy] == 0
    cli.ok("ingest", str(B), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["incident"]
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert (root["rule"], root["entity"]["pod"]) == (exp["root_cause"]["rule"], leak)
    assert root["metrics"]["heap_oom"] == aborts[leak]
    # the impact: every classified error of the bundle, the client's connection errors and the aborts
    assert rep["impact"]["errors"] == len(conn_errors) + aborts[leak]
    # the twin: same code, no leak, nothing raised about it
    assert not [f for f in rep["findings"] if f["entity"].get("pod") == healthy and f["severity"] != "info"]
    # no source is named by a 64-hex id
    pods = {p for (p,) in cli.sql("SELECT DISTINCT pod FROM sources")}
    assert {leak, healthy} <= pods and not [p for p in pods if p and len(p) > 40]
