"""Numbers over the right span (issue 12): counts of events (not DISTINCT-merged), the CPU limit of
the container that logged the CPU count, memory growth over the failure's run-up, no 'silent at
start' from the window's padding. Each number is computed here from the raw files."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import shutil

from conftest import SAMPLES, require


def test_same_second_timeouts_are_not_merged(cli, tmp_path):
    """A proxy that stamps whole seconds: identical 504 lines in one second are still distinct events."""
    src = require(SAMPLES / "decoy")
    d = tmp_path / "decoy"
    shutil.copytree(src, d)
    lb = next(d.glob("ingress-nginx-*.log"))
    lines = lb.read_text().splitlines()
    lb.write_text("\n".join(re.sub(r"^(\S+?T\d\d:\d\d:\d\d)\.\d+Z", r"\1Z", ln) for ln in lines) + "\n")
    stamped = [(ln.split(" ", 1)[0], re.search(r'request: "GET (\S+)', ln).group(1))
               for ln in lb.read_text().splitlines() if "upstream timed out" in ln]
    same_second = len(stamped) - len(set(stamped))
    assert same_second > 0  # timeouts of one route in one second: what a DISTINCT over (time, route) merged
    cli.ok("ingest", str(d), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["impact"]["timeouts"] == len(stamped)
    blk = next(f for f in rep["findings"] if f["rule"] == "event_loop_block" and f["severity"] == "incident")
    assert blk["metrics"]["timeouts_total"] == len(stamped)


def test_cpu_limit_is_the_app_containers_not_the_sidecars(cli, tmp_path):
    src = require(SAMPLES / "incident")
    d = tmp_path / "incident"
    shutil.copytree(src, d)
    pods = json.loads((d / "pods.json").read_text())
    items = pods["items"] if "items" in pods else pods
    for p in items:  # a mesh sidecar with 0.2 CPU listed first in every pod
        p["spec"]["containers"].insert(0, {"name": "istio-proxy", "image": "istio/proxyv2:1.13",
                                           "resources": {"limits": {"cpu": "200m"}, "requests": {"cpu": "100m"}}})
    (d / "pods.json").write_text(json.dumps(pods))
    app = {p["metadata"]["name"]: float(p["spec"]["containers"][1]["resources"]["limits"]["cpu"]) for p in items}
    cli.ok("ingest", str(d), str(require(SAMPLES / "history")), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    (t,) = [f for f in rep["findings"] if f["rule"] == "host_shape_outlier"]
    assert t["metrics"]["cpu_limit"] == app[t["entity"]["pod"]] == 1.0
    assert t["metrics"]["limit_basis"] == "pod_spec.limit"
    assert t["metrics"]["cores_over_limit"] == t["metrics"]["cpu_count"] / 1.0


def test_memory_growth_over_the_run_up(cli):
    log = require(SAMPLES / "backpressure" / "ingest-api-6c9d8f7b5-t7v2n.log.gz")
    text = gzip.decompress(log.read_bytes()).decode()
    pts = []
    for line in text.splitlines():
        m = re.search(r"heapUsed=([\d.]+)MB", line)
        if m:
            stamp = re.search(r"\] (\S+?)(\.\d+)?Z ", line)
            t = dt.datetime.fromisoformat(stamp.group(1)).replace(tzinfo=dt.UTC)
            t += dt.timedelta(microseconds=int((stamp.group(2) or ".0")[1:7].ljust(6, "0")))
            pts.append((t.timestamp(), float(m.group(1))))
    emfile = sum(1 for line in text.splitlines() if '"code":"EMFILE"' in line or "  code: 'EMFILE'" not in line and "EMFILE" in line)
    # the run-up: from the first sample to the peak (no OOM in this run); least-squares slope
    peak = max(range(len(pts)), key=lambda i: (pts[i][1], -i))
    xs, ys = zip(*pts[: peak + 1], strict=True)
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    cli.ok("ingest", str(log), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    (x,) = [f for f in rep["findings"] if f["rule"] == "resource_exhaustion"]
    assert abs(x["metrics"]["mem_growth_mb_per_min"] - slope * 60) < 0.05
    assert x["metrics"]["emfile"] == emfile
    assert x["explains"]["errors"]["n"] == emfile
    md = cli.ok("report").stdout
    prose = re.sub(r"```mermaid.*?```", "", md, flags=re.S)  # the diagram's own arrows (-->) are Mermaid syntax
    assert "-&gt;" not in md and "->" not in prose.split("## Timeline")[0]


def test_no_silent_at_start_from_the_window_padding(cli):
    log = require(SAMPLES / "forkbomb" / "checkout-6b7f9d8c5-w2x4z.log")
    cli.ok("ingest", str(log), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    first = log.read_text().split(" ", 2)[1][:16]  # the file's first minute (kubectl --prefix line)
    assert rep["window"]["start"][:16] < first  # the window is padded before the data starts
    (c,) = rep["coverage"]
    assert c["silent_before_min"] == 0 and c["silent_after_min"] == 0
    assert "silent" not in cli.ok("report").stdout.split("## Coverage")[1]


def test_routes_are_templated_with_examples(cli, tmp_path):
    """Each timed-out call to a campaign by id (the decoy's LB log, /campaigns -> /campaigns/<n>):
    the report names the route template, with a few examples, not a list of every id."""
    d = tmp_path / "decoy"
    shutil.copytree(require(SAMPLES / "decoy"), d)
    lb = next(d.glob("ingress-nginx-*.log"))
    lines = lb.read_text().splitlines()
    lb.write_text("\n".join(re.sub(r"GET /campaigns\S*", f"GET /campaigns/{1000 + i}", ln) for i, ln in enumerate(lines)) + "\n")
    ids = {m for ln in lb.read_text().splitlines() if "upstream timed out" in ln
           for m in re.findall(r"GET (/campaigns/\d+)", ln)}
    assert len(ids) > 3
    cli.ok("ingest", str(d), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    blk = next(f for f in rep["findings"] if f["rule"] == "event_loop_block" and f["severity"] == "incident")
    assert blk["metrics"]["timeout_routes"] == "/campaigns/:id, /health"
    examples = blk["metrics"]["timeout_route_examples"].split(", ")
    assert len(examples) == 3 and set(examples) <= ids
    md = cli.ok("report").stdout
    assert not [i for i in ids - set(examples) if i in md]
