"""The JSON report on golden events: values computed here from the rows, not copied from the article."""

import datetime as dt
import statistics
from collections import Counter

from click.testing import CliRunner

from pmortem.cli import main

from .golden import CTRL, NEAR_POD, NEXT_POD, POD


def by_rule(rep, rule):
    return [f for f in rep["findings"] if f["rule"] == rule]


def test_chain_names_trigger_mechanism_symptoms(golden):
    rep = golden["report"]
    assert rep["schema_version"] == 2 and rep["incident"] is True
    trig = by_rule(rep, "host_shape_outlier")
    assert len(trig) == 1 and trig[0]["entity"]["pod"] == POD
    assert rep["root_cause"] == trig[0]["id"]
    spiral = by_rule(rep, "worker_death_spiral")[0]
    edges = {(c["cause"], c["effect"]) for c in rep["chain"]}
    assert (trig[0]["id"], spiral["id"]) in edges
    for rule in ("request_amplification", "paired_client_server_errors"):
        assert (spiral["id"], by_rule(rep, rule)[0]["id"]) in edges
    sev = [f["severity"] for f in rep["findings"]]
    assert sev == sorted(sev, key={"incident": 0, "warning": 1, "info": 2}.get)


def test_host_shape_metrics(golden):
    rows = golden["rows"]
    cpu = [r["cpu_count"] for r in rows if r["kind"] == "cpu_count"]
    f = by_rule(golden["report"], "host_shape_outlier")[0]
    assert f["metrics"]["cpu_count"] == max(cpu)
    assert f["metrics"]["observations_in_history"] == cpu.count(max(cpu))
    assert f["metrics"]["observations_total"] == len(cpu)
    assert f["metrics"]["cpu_limit"] == 1.0 and f["metrics"]["limit_basis"] == "pod_spec.limit"
    assert f["evidence"][0]["source"].endswith(f"{POD}.log") and f["evidence"][0]["line"] == 1


def test_worker_death_spiral_metrics(golden):
    exits = golden["exits"]
    f = by_rule(golden["report"], "worker_death_spiral")[0]
    m = f["metrics"]
    assert m["deaths"] == len(exits)
    per_sec = Counter(e["ts"].replace(microsecond=0) for e in exits)
    assert m["peak_deaths_per_s"] == max(per_sec.values())
    assert abs(m["median_respawn_latency_s"] - 0.05) < 0.002
    assert m["respawn_backs_off"] is False
    starts = {r["pid"]: r["ts"] for r in golden["starts"]}
    life = [(e["ts"] - starts[e["pid"]]).total_seconds() for e in exits]
    assert abs(m["median_lifetime_s"] - statistics.median(life)) < 0.002
    assert f["entity"]["pod"] == POD


def test_paired_errors_and_amplification(golden):
    rep = golden["report"]
    p = by_rule(rep, "paired_client_server_errors")[0]["metrics"]
    server_traces = {r["message"].split("trace=")[1][:32] for r in golden["server"]}
    span_traces = {r["trace_id"] for r in golden["spans"]}
    assert p["server_errors"] == len(golden["server"])
    assert p["client_errors"] == len(golden["spans"])
    assert p["links"]["trace_id"] == len(server_traces & span_traces)
    assert p["pairs"] >= p["links"]["trace_id"]
    assert p["death_aligned"] == len(golden["server"])  # each is 0.3 s after a death
    deaths = [e["ts"] for e in golden["exits"]]
    nearest = [min(((r["ts"] - d).total_seconds() for d in deaths), key=abs) for r in golden["server"]]
    assert abs(p["median_death_offset_s"] - statistics.median(nearest)) < 0.002
    a = by_rule(rep, "request_amplification")[0]["metrics"]
    calls = Counter(r["pod"] for r in golden["rows"] if r["kind"] == "dependency_call")
    assert a["incident_calls"] == calls[POD]
    # rates over each pod's own active span (first to last event of the pod in the window), not
    # the padded window: the factor was the plain call ratio before issue 12 (now corrected)
    w0, w1 = (dt.datetime.fromisoformat(rep["window"][k].replace("Z", "+00:00")) for k in ("start", "end"))

    def per_min(pod):
        ts = [r["ts"] for r in golden["rows"] if r["pod"] == pod and r["ts"] and w0 <= r["ts"] < w1]
        return calls[pod] / (max((max(ts) - min(ts)).total_seconds(), 1.0) / 60)

    assert abs(a["incident_per_min"] - per_min(POD)) < 0.01 and abs(a["normal_per_min"] - per_min(CTRL)) < 0.01
    assert abs(a["factor"] - per_min(POD) / per_min(CTRL)) < 0.01


def test_feedback_loop_rejected_with_numbers(golden):
    h = [h for h in golden["report"]["hypotheses"] if h["rule"] == "feedback_loop"][0]
    assert h["verdict"] == "rejected"
    first_death = min(e["ts"] for e in golden["exits"])
    first_err = min([r["ts"] for r in golden["server"]] + [r["ts"] + dt.timedelta(milliseconds=r["duration_ms"]) for r in golden["spans"]])
    assert abs(h["metrics"]["deaths_lead_errors_s"] - (first_err - first_death).total_seconds()) < 0.002
    assert h["metrics"]["control_deaths"] == 0 and h["metrics"]["control_pods"] == 1


def test_near_miss_found(golden):
    nm = by_rule(golden["report"], "near_miss")
    assert len(nm) == 1
    m = nm[0]["metrics"]
    assert nm[0]["entity"]["pod"] == NEAR_POD
    assert m["deaths"] == sum(1 for r in golden["rows"] if r["kind"] == "worker_exit" and r["pod"] == NEAR_POD)
    assert m["next_pod"] == NEXT_POD and m["next_cpu_count"] == 16


def test_ids_stable_and_window_override(golden):
    runner = CliRunner()
    r = runner.invoke(main, ["report", "--db", str(golden["db"]), "--format", "json"])
    import json

    again = json.loads(r.output)
    assert [f["id"] for f in again["findings"]] == [f["id"] for f in golden["report"]["findings"]]
    r = runner.invoke(main, ["report", "--db", str(golden["db"]), "--format", "json",
                             "--since", "2022-03-20T00:00:00Z", "--until", "2022-03-21T00:00:00Z"])
    quiet = json.loads(r.output)
    assert quiet["incident"] is False and quiet["root_cause"] is None
    assert not [f for f in quiet["findings"] if f["severity"] == "incident"]
    bad = runner.invoke(main, ["report", "--db", str(golden["db"]), "--since", "yesterday"])
    assert bad.exit_code == 2 and "ISO 8601" in bad.output


def test_coverage_gap(golden):
    cov = {(c["pod"], c["source_id"]): c for c in golden["report"]["coverage"]}
    c = cov[(CTRL, 3)]
    assert c["gap_minutes"] == 1 and c["gaps"] == "20:56-20:57"
