"""Issue 13.4: the resource-exhaustion chain. samples/heap-oom (an unbounded cache -> V8 heap-limit
abort, exit 134; bounded-cache control) and samples/backpressure (EMFILE loop, growing queue).
Expected values from expected.json / README and, independently, from the raw files in plain Python."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re

from conftest import SAMPLES, require

HEAP = SAMPLES / "heap-oom"
BACKPRESSURE = SAMPLES / "backpressure" / "ingest-api-6c9d8f7b5-t7v2n.log.gz"


def t(s: str) -> dt.datetime:
    base, _, frac = s.rstrip("Z").partition(".")
    return dt.datetime.fromisoformat(f"{base}.{frac[:6].ljust(6, '0')}+00:00")


def slope(points: list[tuple[float, float]]) -> float:
    n = len(points)
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    return sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)


def docker_pod(pod: str) -> list[tuple[dt.datetime, str]]:
    for p in HEAP.glob("var/lib/docker/containers/*/*-json.log"):
        recs = [json.loads(line) for line in p.read_text().splitlines()]
        if any(pod in r["log"] for r in recs[:3]):
            return [(t(r["time"]), r["log"].rstrip("\n")) for r in recs]
    raise AssertionError(pod)


def test_heap_oom_is_an_unbounded_cache_not_backpressure(cli):
    exp = json.loads((HEAP / "expected.json").read_text())
    heap = exp["key_numbers"]["heap"]
    pod, ctrl = heap["pod"], exp["key_numbers"]["healthy"]["pod"]
    lines = docker_pod(pod)
    mem = [(ts.timestamp(), float(re.search(r"heapUsed=([\d.]+)MB", m).group(1)), int(re.search(r"cache_entries=(\d+)", m).group(1)))
           for ts, m in lines if m.startswith("Memory usage:")]
    raw_slope = slope([(x, y) for x, y, _ in mem])
    assert abs(raw_slope - heap["heap_used_growth_mb_per_s"]) <= 0.01 and mem[-1][2] == heap["cache_entries_last"]
    assert any("heap limit" in m for _, m in lines)
    cli.ok("ingest", str(require(HEAP)), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by_id = {f["id"]: f for f in rep["findings"]}
    root = by_id[rep["root_cause"]]
    assert root["rule"] == exp["root_cause"] == "resource_exhaustion" and root["entity"]["pod"] == pod
    # the other pod's cgroup kill (Docker's config.v2.json State) gets its own finding: pick this pod's
    (c,) = [f for f in rep["findings"] if f["rule"] == "unbounded_cache" and f["entity"]["pod"] == pod]
    m = c["metrics"]
    assert c["entity"]["pod"] == pod and m["cache"] == "cache_entries"
    assert m["grew"]["cache_entries"]["last"] == mem[-1][2] == heap["cache_entries_last"]
    assert abs(m["memory_growth_mb_per_s"]["heap_used_mb"] - raw_slope) <= 0.005
    assert m["death"] == "heap_limit" and m["exit_code"] == heap["exit_code"] == 134
    assert abs((t(c["start"]) - t(exp["incidents"][0]["onset"])).total_seconds()) <= 2
    assert {"cause": c["id"], "effect": root["id"], "basis": "the cache grew with the memory until it ran out",
            "kind": "mechanism"} in rep["chain"]
    recs = [r["id"] for r in rep["recommendations"]]
    assert "bound_the_cache" in recs and "bound_work_in_flight" not in recs  # not the backpressure fix
    assert not [f for f in rep["findings"] if f["rule"] == "backpressure_chain"]
    # the bounded-cache control raises nothing above info
    assert not [f for f in rep["findings"] if f["entity"]["pod"] == ctrl and f["severity"] != "info"]


def test_backpressure_chain_splits_emfile_by_call(cli):
    text = gzip.decompress(require(BACKPRESSURE).read_bytes()).decode()
    by_call: dict[str, int] = {}
    for call in re.findall(r"\b(accept|connect|open) EMFILE", text):
        by_call[call] = by_call.get(call, 0) + 1
    queue = [int(q) for q in re.findall(r"\bqueue=(\d+)", text)]
    cli.ok("ingest", str(BACKPRESSURE), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    (b,) = [f for f in rep["findings"] if f["rule"] == "backpressure_chain"]
    m = b["metrics"]
    assert m["emfile_by_call"] == by_call and sum(by_call.values()) == m["emfile"] > 0
    assert m["grew"]["queue"]["first"] == queue[0] and m["grew"]["queue"]["last"] == queue[-1] > queue[0]
    assert m["mechanism"] == "backpressure" and m["death"] is None
    recs = [r["id"] for r in rep["recommendations"]]
    assert "bound_work_in_flight" in recs and "bound_the_cache" not in recs
    assert not [f for f in rep["findings"] if f["rule"] == "unbounded_cache"]
