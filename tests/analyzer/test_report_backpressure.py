"""Another bundle pmortem was not built around: backpressure and fd exhaustion
(samples/backpressure, captured from real Node.js programs). Expected values come from the file."""

from __future__ import annotations

import gzip
import json
import re

from conftest import SAMPLES, require

LOG = SAMPLES / "backpressure" / "ingest-api-6c9d8f7b5-t7v2n.log.gz"


def test_resource_exhaustion_report(cli):
    text = gzip.decompress(require(LOG).read_bytes()).decode()
    emfile = sum(1 for line in text.splitlines() if "EMFILE" in line)
    mem = [float(x) for x in re.findall(r"heapUsed=([\d.]+)MB", text)]
    cli.ok("ingest", str(LOG), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by = {f["rule"]: f for f in rep["findings"]}
    x = by["resource_exhaustion"]
    assert x["severity"] == "incident" and rep["root_cause"] == x["id"]
    assert x["metrics"]["emfile"] == emfile > 0
    assert (x["metrics"]["mem_first_mb"], x["metrics"]["mem_peak_mb"]) == (mem[0], max(mem))
    assert x["metrics"]["mem_growth_mb_per_min"] > 0
    assert "EMFILE" in x["evidence"][0]["text"]
    assert not {"worker_death_spiral", "host_shape_outlier", "event_loop_block"} & set(by)
    assert any(r["id"] == "bound_work_in_flight" for r in rep["recommendations"])
    assert "EMFILE" in rep["summary"]


def test_lone_heap_oom_is_not_called_backpressure(cli):
    """A real V8 heap-limit abort (samples/formats/cri): resource exhaustion, told as a heap OOM."""
    (log,) = list(require(SAMPLES / "formats" / "cri").rglob("0.log"))
    aborts = log.read_text().count("JavaScript heap out of memory")
    cli.ok("ingest", str(log), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    (x,) = [f for f in rep["findings"] if f["rule"] == "resource_exhaustion"]
    assert x["metrics"]["heap_oom"] == aborts > 0 and x["metrics"]["emfile"] == 0
    assert "heap out-of-memory" in rep["summary"] and "accepted faster" not in rep["summary"]
