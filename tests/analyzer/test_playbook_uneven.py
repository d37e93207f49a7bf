"""Issue 13.2: uneven worker load (samples/uneven: Node.js cluster, one keep-alive connection pinned to
one worker; a maxRequestsPerSocket=50 control). Expected values from expected.json and, independently,
from the raw Filebeat NDJSON read here in plain Python."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import statistics
from collections import Counter

from conftest import SAMPLES, require

BUNDLE = SAMPLES / "uneven"


def per_pid(pod: str) -> tuple[Counter, dt.datetime]:
    c, first = Counter(), None
    for line in gzip.decompress(require(BUNDLE / f"filebeat-{pod}.ndjson.gz").read_bytes()).decode().splitlines():
        doc = json.loads(line)
        msg = json.loads(doc["message"])
        if msg.get("msg") == "request completed":
            c[msg["pid"]] += 1
            t = dt.datetime.fromtimestamp(msg["time"] / 1000, dt.UTC)
            first = min(first or t, t)
    return c, first


def test_uneven_worker_load_names_the_busy_pid(cli):
    exp = json.loads((BUNDLE / "expected.json").read_text())
    inc, ctrl = exp["key_numbers"]["incident"], exp["key_numbers"]["control"]
    pod = exp["entity"]["pod"]
    raw, first = per_pid(pod)
    busy, n = raw.most_common(1)[0]
    ratio = n / statistics.median(v for p, v in raw.items() if p != busy)
    assert busy == exp["entity"]["pid"] and n == inc["workers"][str(busy)]["requests"]
    assert round(ratio, 2) == inc["busiest_vs_median_other"]
    cli.ok("ingest", str(BUNDLE), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by_id = {f["id"]: f for f in rep["findings"]}
    root = by_id[rep["root_cause"]]
    assert root["rule"] == exp["root_cause"] == "uneven_worker_load" and root["severity"] == "incident"
    assert (root["entity"]["pod"], root["entity"]["pid"]) == (pod, busy)
    onset = dt.datetime.fromisoformat(exp["onset"].replace("Z", "+00:00"))
    start = dt.datetime.fromisoformat(root["start"].replace("Z", "+00:00"))
    assert abs((start - onset).total_seconds()) <= 2 and abs((start - first).total_seconds()) <= 0.01
    m = root["metrics"]
    assert m["busiest_requests"] == n and m["pod_requests"] == sum(raw.values()) == inc["requests"]
    assert m["busiest_vs_median_other"] == round(ratio, 2) and m["max_over_min"] == inc["max_over_min_requests"]
    assert {int(p): v["requests"] for p, v in m["per_pid"].items()} == dict(raw)
    assert abs(m["busiest_req_per_s"] - inc["workers"][str(busy)]["req_per_s"]) <= 0.1
    assert any(r["id"] == "spread_connections_over_workers" for r in rep["recommendations"])
    # the control (maxRequestsPerSocket=50) raises nothing above info
    cpod = ctrl["pod"]
    craw, _ = per_pid(cpod)
    assert round(max(craw.values()) / min(craw.values()), 2) == ctrl["max_over_min_requests"]
    assert not [f for f in rep["findings"] if f["entity"]["pod"] == cpod and f["severity"] != "info"]
