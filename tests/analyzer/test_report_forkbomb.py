"""A bundle pmortem was not built around: the fork-bomb crash loop (samples/forkbomb, captured
from a real Node cluster program). The report must not tell the 48-core story here: no host
shape trigger, deaths by exit code after a recurring error, a deploy just before."""

from __future__ import annotations

import json
import re

from conftest import SAMPLES, require

LOG = SAMPLES / "forkbomb" / "checkout-6b7f9d8c5-w2x4z.log"


def test_crash_loop_report(cli):
    text = require(LOG).read_text()
    exits = re.findall(r"Worker (\d+) exited \(code: (\d+), signal: null\)", text)
    refused = len(re.findall(r"connect ECONNREFUSED", text))
    cli.ok("ingest", str(LOG), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by = {f["rule"]: f for f in rep["findings"]}
    assert "host_shape_outlier" not in by
    spiral = by["worker_death_spiral"]
    assert spiral["metrics"]["deaths"] == len(exits) > 0
    assert spiral["metrics"]["exit_codes"] == f"1:{len(exits)}"
    pre = by["exit_precursor"]
    assert pre["metrics"]["precursor"] == "econnrefused"
    assert pre["metrics"]["exits_preceded"] == min(len(exits), refused)
    assert "ECONNREFUSED" in pre["evidence"][0]["text"]
    line = text.splitlines()[pre["evidence"][0]["line"] - 1]
    assert "ECONNREFUSED" in line
    deploy = by["deploy_before_deaths"]
    assert "Deploy v2.4.1 rolled out" in deploy["evidence"][0]["text"]
    # the root is the error every exit follows (it explains the deaths); the deploy came before it (time only)
    assert rep["root_cause"] == pre["id"]
    assert pre["explains"]["deaths"] == {"n": min(len(exits), refused), "of": len(exits)}
    edges = {(c["cause"], c["effect"], c["kind"]) for c in rep["chain"]}
    assert (deploy["id"], pre["id"], "time") in edges and (pre["id"], spiral["id"], "mechanism") in edges
    # the dependency refused every connection: it was never reached, so no feedback loop can close
    (h,) = [h for h in rep["hypotheses"] if h["rule"] == "feedback_loop"]
    assert h["verdict"] == "rejected" and "never" in h["reasons"][0]
    assert "memory" not in rep["summary"] and "crash loop" in rep["summary"]
    assert any(r["id"] == "validate_config_before_fork" for r in rep["recommendations"])
