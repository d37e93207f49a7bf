"""Issue 13.6: an incident no rule knows is still an incident (samples/unknown, a real nginx in front of
three real Node.js pods; one starts failing a minute after its config reload). Expected values come
from the bundle's expected.json and, independently, from the raw files read here in plain Python."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter

from conftest import SAMPLES, require

BUNDLE = SAMPLES / "unknown"
NGINX = BUNDLE / "ingress-nginx-controller-6d4c8b7f9-h5j2n.log.gz"
LOKI = BUNDLE / "loki-pricing-export.jsonl.gz"
ACCESS = re.compile(r'^\[pod/[^\]]+\] (\S+) \S+ \S+ \S+ \[[^\]]+\] "[^"]*" (\d{3}) .* \[[^\]]*\] \[[^\]]*\] ([\d.]+):\d+ ')


def ts(s: str) -> dt.datetime:
    base, _, frac = s.rstrip("Z").partition(".")
    return dt.datetime.fromisoformat(f"{base}.{frac[:6].ljust(6, '0')}+00:00")


def raw_truth() -> dict:
    """From the files: 500s per upstream IP at nginx, the pods' IPs, their error lines and the reload line."""
    ips = {it["status"]["podIP"]: it["metadata"]["name"] for it in json.loads((BUNDLE / "pods.json").read_text())["items"]}
    s500, reqs, first500 = Counter(), Counter(), None
    for line in gzip.decompress(require(NGINX).read_bytes()).decode().splitlines():
        m = ACCESS.match(line)
        if not m:
            continue
        pod = ips.get(m.group(3))
        reqs[pod] += 1
        if m.group(2) == "500":
            s500[pod] += 1
            first500 = first500 or ts(m.group(1))
    errors, reload_at = Counter(), None
    first_err = None
    for line in gzip.decompress(require(LOKI).read_bytes()).decode().splitlines():
        d = json.loads(line)
        msg = json.loads(d["line"])
        when = ts(d["timestamp"])
        if msg["level"] >= 50:
            errors[d["labels"]["pod"]] += 1
            first_err = min(first_err or when, when)
        if msg["msg"].startswith("config reloaded"):
            reload_at = when
    return {"s500": s500, "reqs": reqs, "errors": errors, "first_err": first_err, "reload": reload_at, "first500": first500}


def test_unknown_incident_is_an_error_surge(cli):
    exp = json.loads((BUNDLE / "expected.json").read_text())
    k = exp["key_numbers"]
    raw = raw_truth()
    bad = exp["entity"]["pod"]
    assert dict(raw["s500"]) == {bad: k["proxy_500_total"]}  # independent count agrees with the bundle's truth
    cli.ok("ingest", str(BUNDLE), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    assert rep["incident"] is True
    by_id = {f["id"]: f for f in rep["findings"]}
    root = by_id[rep["root_cause"]]
    assert root["rule"] == exp["root_cause"] == "error_surge"
    assert root["entity"]["pod"] == bad and root["severity"] == "incident"
    assert abs((ts(root["start"]) - ts(exp["onset"])).total_seconds()) <= 2
    assert abs((ts(root["start"]) - raw["first_err"]).total_seconds()) <= 2
    assert abs((ts(root["start"]) - raw["first500"]).total_seconds()) <= 2
    m = root["metrics"]
    assert m["http_5xx"] == raw["s500"][bad] == k["proxy_500_total"]
    assert m["error_lines"] == raw["errors"][bad] == k["quote_failed_lines_by_pod"][bad]
    assert m["http_5xx_before"] == k["proxy_500_before_reload"] == 0
    assert abs(m["share_failed_after"] - k["bad_pod_500_share_after_onset"]) <= 0.01
    assert m["siblings"] == len(exp["healthy_siblings"]) and m["sibling_bad_after"] == 0
    assert m["top_message_before"] == 0  # a new error
    assert "Cannot read properties of undefined (reading 'mid')" in m["new_error"]
    # its explanation: the config reload on that pod, 58 s before
    c = m["change_before"]
    assert c["kind"] == "config" and "config reloaded" in c["line"]
    assert abs(c["seconds_before"] - k["reload_to_first_error_s"]) <= 1
    assert abs(c["seconds_before"] - (raw["first_err"] - raw["reload"]).total_seconds()) <= 0.01
    assert any(t["new"] and t["template"].startswith("quote failed") for t in m["templates_at_onset"])
    # the window holds the impact: it starts before the onset (not at nginx's shutdown notices)
    assert ts(rep["window"]["start"]) < ts(exp["onset"]) and ts(rep["window"]["end"]) > ts(exp["onset"])
    assert "config reloaded" in rep["summary"] and bad in rep["summary"]
    assert any(r["id"] == "review_change_before_surge" for r in rep["recommendations"])
    # controls: the healthy siblings raise nothing above info
    for pod in exp["healthy_siblings"]:
        assert not [f for f in rep["findings"] if f["entity"]["pod"] == pod and f["severity"] != "info"]


def test_error_surge_markdown(cli):
    cli.ok("ingest", str(BUNDLE), "-q")
    md = cli.ok("report").stdout
    assert "errors surged from" in md and "`pricing-7f9c6d5b8-x4k2p`" in md
