"""Issue 13.5: a crash loop traced to its startup config (samples/crashloop-config: orders-service
3.0.4 -> 3.1.0 with an empty DATABASE_URL, real CRI files). Expected values from expected.json and,
independently, from the raw CRI files read here in plain Python."""

from __future__ import annotations

import datetime as dt
import json
import re

from conftest import SAMPLES, require

BUNDLE = SAMPLES / "crashloop-config"


def cri(path) -> list[tuple[dt.datetime, str]]:
    out = []
    for line in require(path).read_text().splitlines():
        stamp, _stream, _tag, msg = line.split(" ", 3)
        base, _, frac = stamp.rstrip("Z").partition(".")
        out.append((dt.datetime.fromisoformat(f"{base}.{frac[:6].ljust(6, '0')}+00:00"), msg))
    return out


def raw_truth(new_pod: str, old_pod: str) -> dict:
    logs = {p.parent.parent.name.split("_")[1]: p for p in BUNDLE.glob("var/log/pods/*/*/*.log")}
    new = sorted(x for p in BUNDLE.glob(f"var/log/pods/shop_{new_pod}_*/*/*.log") for x in cri(p))
    old = cri(next(p for name, p in logs.items() if name == old_pod))
    start = re.compile(r"^(\S+) (\d+\.\d+\.\d+) starting")
    return {
        "new_version": next(start.match(m).group(2) for _, m in new if start.match(m)),
        "old_version": next(start.match(m).group(2) for _, m in old if start.match(m)),
        "first_start": next(t for t, m in new if start.match(m)),
        "new_config": next(m for _, m in new if m.startswith("config: ")),
        "old_config": next(m for _, m in old if m.startswith("config: ")),
        "refused": sorted({a for _, m in new for a in re.findall(r"ECONNREFUSED (\S+:\d+)", m)}),
        "exits": sum(1 for _, m in new if re.match(r"Worker \d+ exited \(code: 1", m)),
    }


def test_crash_loop_names_version_change_and_empty_setting(cli):
    exp = json.loads((BUNDLE / "expected.json").read_text())
    k = exp["key_numbers"]
    pod, ctrl = exp["entity"]["pod"], exp["healthy_control"]["pod"]
    raw = raw_truth(pod, ctrl)
    assert (raw["old_version"], raw["new_version"]) == (exp["version_change"]["from"], exp["version_change"]["to"])
    assert raw["new_config"] == k["new_config_line"] and 'DATABASE_URL=""' in raw["new_config"]
    assert raw["refused"] == ["127.0.0.1:5432"] and raw["exits"] == k["worker_exits_total"]
    cli.ok("ingest", str(BUNDLE), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by_id = {f["id"]: f for f in rep["findings"]}
    root = by_id[rep["root_cause"]]
    assert root["rule"] == exp["root_cause"] == "exit_precursor" and root["entity"]["pod"] == pod
    (c,) = [f for f in rep["findings"] if f["rule"] == "crash_loop_cause"]
    assert c["entity"]["pod"] == pod and c["severity"] == "incident"
    m = c["metrics"]
    assert m["explains"] == root["id"]  # linked to the exit precursor it explains
    assert (m["previous_version"], m["new_version"]) == (raw["old_version"], raw["new_version"])
    assert m["previous_pod"] == ctrl
    t = dt.datetime.fromisoformat(m["version_change_at"].replace("Z", "+00:00"))
    assert abs((t - raw["first_start"]).total_seconds()) <= 0.01
    assert abs((t - dt.datetime.fromisoformat(exp["version_change"]["at"].replace("Z", "+00:00"))).total_seconds()) <= 2
    assert abs((t - dt.datetime.fromisoformat(exp["onset"].replace("Z", "+00:00"))).total_seconds()) <= 2
    assert m["new_config_line"] == raw["new_config"]
    assert m["previous_config_line"].startswith("config: WORKERS=4 PG_POOL_MAX=5 DATABASE_URL=\"postgres://")
    assert m["empty"] == ["DATABASE_URL"] and m["suspect_key"] == "DATABASE_URL"
    assert list(m["changed"]) == ["DATABASE_URL"]  # listen= differs per pod, not per release
    assert m["error_address"] == raw["refused"][0]
    assert any(lk["cause"] == c["id"] for lk in rep["chain"])
    assert "3.0.4" in rep["summary"] and "DATABASE_URL empty" in rep["summary"]
    assert any(r["id"] == "fix_startup_config" for r in rep["recommendations"])
    # the previous version's pod is the healthy control: nothing above info there
    assert not [f for f in rep["findings"] if f["entity"]["pod"] == ctrl and f["severity"] != "info"]
