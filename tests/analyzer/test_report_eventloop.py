"""Another bundle pmortem was not built around: the event-loop block (samples/eventloop,
captured from real Node.js programs). Expected values come from the raw files."""

from __future__ import annotations

import json
import re

from conftest import SAMPLES, require

BUNDLE = SAMPLES / "eventloop"


def test_event_loop_block_report(cli):
    (server,) = list(require(BUNDLE / "var" / "log" / "pods").glob("*/reports/0.log"))
    lb = next(BUNDLE.glob("ingress-nginx-*.log"))
    lags = [int(x) for x in re.findall(r"Event loop lag: (\d+) ms", server.read_text())]
    blocks = [x for x in lags if x >= 500]
    timeouts = re.findall(r'upstream timed out .*request: "GET (\S+) ', lb.read_text())
    health = sum(1 for r in timeouts if r.startswith("/health"))
    cli.ok("ingest", str(BUNDLE), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by = {f["rule"]: f for f in rep["findings"]}
    blk = by["event_loop_block"]
    assert blk["severity"] == "incident"
    assert (blk["metrics"]["blocks"], blk["metrics"]["max_lag_ms"]) == (len(blocks), max(blocks))
    assert blk["metrics"]["top_route"] == "/reports/quarterly"
    assert blk["metrics"]["timeouts_total"] == len(timeouts) and blk["metrics"]["health_timeouts"] <= health
    assert blk["metrics"]["timeouts"] >= 0.8 * len(timeouts)
    assert "Event loop lag" in blk["evidence"][0]["text"]
    deploy = by["deploy_before_deaths"]
    # the root is the block, which explains the timeouts; the deploy before it is linked by time only
    assert rep["root_cause"] == blk["id"]
    assert blk["explains"]["timeouts"] == {"n": blk["metrics"]["timeouts"], "of": len(timeouts)}
    assert {"cause": deploy["id"], "effect": blk["id"], "kind": "time"} in [
        {k: c[k] for k in ("cause", "effect", "kind")} for c in rep["chain"]]
    (h,) = [h for h in rep["hypotheses"] if h["rule"] == "slow_dependency"]
    assert h["verdict"] == "rejected"
    assert "worker_death_spiral" not in by and "host_shape_outlier" not in by
    assert any(r["id"] == "unblock_event_loop" for r in rep["recommendations"])
    md = cli.ok("report").stdout
    assert "event loop" in md.split("## Impact")[1].split("##")[0]
