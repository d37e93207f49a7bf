"""samples/decoy (issue 12): the root cause is the event-loop block that explains the timeouts,
not the previous pod's deploy and boot-time lag spike, which explain none. Pinned against the
bundle's expected.json and against numbers computed here from the raw files."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from conftest import SAMPLES, require

BUNDLE = SAMPLES / "decoy"
# the window that holds both pods: the previous pod's deploy and lag spike, and the incident
BOTH = ("--since", "2022-10-04T15:40:00Z", "--until", "2022-10-04T16:02:00Z")


def ts(s: str) -> dt.datetime:
    s = s.rstrip("Z")
    head, _, frac = s.partition(".")
    return dt.datetime.fromisoformat(head + ("." + frac[:6] if frac else "")).replace(tzinfo=dt.UTC)


def raw() -> dict:
    """Independent of pmortem: the lag lines of each pod, the load balancer's timeouts."""
    out = {}
    for f in require(BUNDLE / "var" / "log" / "pods").glob("*/reports/0.log"):
        pod = f.parts[-3].split("_")[1]
        lags = []
        for line in f.read_text().splitlines():
            m = re.search(r"Event loop lag: (\d+) ms", line)
            if m and int(m.group(1)) >= 500:
                lags.append((ts(line.split(" ", 1)[0]), int(m.group(1))))
        out[pod] = lags
    lb = next(BUNDLE.glob("ingress-nginx-*.log")).read_text().splitlines()
    out["timeouts"] = [ts(ln.split(" ", 1)[0]) for ln in lb if "upstream timed out" in ln]
    out["health_timeouts"] = sum(1 for ln in lb if "upstream timed out" in ln and 'GET /health' in ln)
    return out


@pytest.fixture(scope="module")
def expected():
    return json.loads(require(BUNDLE / "expected.json").read_text())


@pytest.fixture
def ingested(cli):
    cli.ok("ingest", str(BUNDLE), "-q")
    return cli


def _report(cli, *args):
    return json.loads(cli.ok("report", "--format", "json", *args).stdout)


def test_root_cause_is_the_block_that_explains_the_timeouts(ingested, expected):
    rc, r = expected["root_cause"], raw()
    rep = _report(ingested)
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert (root["rule"], root["entity"]["pod"]) == (rc["rule"], rc["entity"])
    # onset: the start of the first block (its lag line's time minus the lag), within 2 s of the truth
    first_line, first_lag = r[rc["entity"]][0]
    onset = ts(root["start"])
    assert abs((onset - ts(rc["onset"])).total_seconds()) <= 2
    assert abs((onset - (first_line - dt.timedelta(milliseconds=first_lag))).total_seconds()) < 0.01
    m = root["metrics"]
    assert m["blocks"] == rc["blocks"] == len(r[rc["entity"]])
    assert m["max_lag_ms"] == rc["max_lag_ms"] == max(x for _, x in r[rc["entity"]])
    assert m["top_route"] == rc["blocking_route"]
    assert m["timeouts"] == rc["timeouts_behind_blocks"] == len(r["timeouts"])
    assert m["timeouts_total"] == rc["timeouts_total"]
    assert m["health_timeouts"] == rc["health_check_timeouts"] == r["health_timeouts"]
    # it says how much of the impact it explains
    assert root["explains"] == {"timeouts": {"n": len(r["timeouts"]), "of": len(r["timeouts"])}}
    md = ingested.ok("report").stdout
    assert f"explains {len(r['timeouts'])} of {len(r['timeouts'])} timeouts" in md.split("## Root cause")[1]
    # the root precedes its impact
    assert onset <= min(r["timeouts"])
    # the same-pod deploy is context, linked by time only, not a rival root
    dep = next(f for f in rep["findings"] if f["rule"] == "deploy_before_deaths")
    assert rc["deploy_line"] in dep["evidence"][0]["text"]
    assert {"cause": dep["id"], "effect": root["id"], "kind": "time"} in [
        {k: c[k] for k in ("cause", "effect", "kind")} for c in rep["chain"]]
    (h,) = [h for h in rep["hypotheses"] if h["rule"] == "slow_dependency"]
    assert h["verdict"] == "rejected"


def test_previous_pod_deploy_and_boot_spike_are_no_root_and_no_alarm(ingested, expected):
    dec, r = expected["decoy"], raw()
    rep = _report(ingested, *BOTH)
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert root["entity"]["pod"] == expected["root_cause"]["entity"] and root["rule"] == "event_loop_block"
    decoys = [f for f in rep["findings"] if f["entity"]["pod"] == dec["entity"]]
    assert {f["rule"] for f in decoys} == {"event_loop_block", "deploy_before_deaths"}
    spike = next(f for f in decoys if f["rule"] == "event_loop_block")
    assert spike["metrics"]["max_lag_ms"] == dec["boot_lag_ms"] == max(x for _, x in r[dec["entity"]])
    # no timeout behind it: it explains nothing, and neither it nor the deploy before it is above info
    assert spike["metrics"]["timeouts"] == dec["timeouts_while_previous_pod_served"] == 0
    assert all(f["severity"] == "info" and not f["explains"] for f in decoys)
    res = ingested.run("scan", *BOTH)
    assert res.exit_code == 1  # the incident pod still fails the scan
    assert dec["entity"] not in "".join(ln for ln in res.stdout.splitlines() if ln.startswith("!"))


def test_scan_of_the_previous_pod_alone_exits_0(ingested, expected):
    dec = expected["decoy"]
    res = ingested.run("scan", "--since", "2022-10-04T15:40:00Z", "--until", "2022-10-04T15:50:00Z", "--format", "json")
    assert res.exit_code == 0, res.stdout
    found = json.loads(res.stdout)["findings"]
    # scan's alert objects name the entity as one string (the pod here)
    assert found and all(f["severity"] == "info" and f["entity"] == dec["entity"] for f in found)
