"""Issue 13.1: connection-pool multiplication (samples/pool: real PostgreSQL 15, real nginx, Node.js
cluster with a `pg` pool per worker). Expected values from expected.json and, independently, from
the raw files read here in plain Python."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
from collections import Counter

from conftest import SAMPLES, require

BUNDLE = SAMPLES / "pool"


def stamp_time(stamp: str) -> dt.datetime:
    base, _, frac = stamp.rstrip("Z").partition(".")
    return dt.datetime.fromisoformat(f"{base}.{frac[:6].ljust(6, '0')}+00:00")


def kubectl_lines(name: str) -> list[tuple[dt.datetime, str]]:
    p = require(BUNDLE / name)
    text = gzip.decompress(p.read_bytes()).decode() if p.suffix == ".gz" else p.read_text()
    out = []
    for line in text.splitlines():
        _, stamp, msg = line.split(" ", 2)
        out.append((stamp_time(stamp), msg))
    return out


def raw_truth(app: str, db: str) -> dict:
    app_lines = kubectl_lines(f"{app}.log.gz")
    cfg = next(m for _, m in app_lines if m.startswith("config: "))
    limit = next(m for _, m in app_lines if "max_connections=" in m)
    listen = re.search(r"listen=([\d.]+):", cfg).group(1)
    client = [(t, int(re.match(r"Worker (\d+):", m).group(1))) for t, m in app_lines if "too many clients" in m]
    server = [t for t, m in kubectl_lines(f"{db}.log") if "too many clients" in m]
    proxy = Counter()
    for _, m in kubectl_lines("ingress-nginx-controller-6d4c8b7f9-r7t2m.log.gz"):
        a = re.search(r'" (\d{3}) .* \[[^\]]*\] \[[^\]]*\] ([\d.]+):\d+ ', m)
        if a and a.group(2) == listen:
            proxy[a.group(1)] += 1
    return {"workers": int(re.search(r"WORKERS=(\d+)", cfg).group(1)), "pool": int(re.search(r"PG_POOL_MAX=(\d+)", cfg).group(1)),
            "max_connections": int(re.search(r"max_connections=(\d+)", limit).group(1)),
            "client": len(client), "by_pid": Counter(p for _, p in client), "server": len(server),
            "first_server": min(server, default=None), "proxy": proxy}


def test_pool_multiplication_is_the_root_cause(cli):
    exp = json.loads((BUNDLE / "expected.json").read_text())
    bad = exp["key_numbers"]["deployments"]["orders"]
    ctrl = exp["key_numbers"]["deployments"]["orders-eu2"]
    raw = raw_truth(bad["pod"], bad["db_pod"])
    assert (raw["workers"], raw["pool"], raw["max_connections"]) == (bad["workers"], bad["pool_max"], bad["max_connections"])
    cli.ok("ingest", str(BUNDLE), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    by_id = {f["id"]: f for f in rep["findings"]}
    root = by_id[rep["root_cause"]]
    assert root["rule"] == exp["root_cause"] == "connection_pool_multiplication"
    assert root["entity"]["pod"] == exp["entity"]["pod"] and root["severity"] == "incident"
    onset = dt.datetime.fromisoformat(exp["onset"].replace("Z", "+00:00"))
    assert abs((dt.datetime.fromisoformat(root["start"].replace("Z", "+00:00")) - onset).total_seconds()) <= 2
    assert abs((raw["first_server"] - onset).total_seconds()) <= 0.01
    m = root["metrics"]
    assert (m["workers"], m["pool_max"], m["connections_wanted"], m["max_connections"]) == (
        raw["workers"], raw["pool"], bad["workers_x_pool"], raw["max_connections"])
    assert m["client_errors"] == raw["client"] == bad["worker_client_errors"]
    assert m["server_errors"] == raw["server"] == bad["postgres_fatal_too_many_clients"]
    assert m["db_pod"] == exp["entity"]["database_pod"]
    assert m["pairs"] == raw["client"]  # every worker error has a database refusal within 2 s
    assert m["http_5xx"] == raw["proxy"]["503"] == bad["proxy_status"]["503"]
    pids = {int(p): int(n) for p, n in (x.split(":") for x in m["client_errors_by_pid"].split(", "))}
    assert pids == dict(raw["by_pid"]) == {int(k): v for k, v in bad["worker_client_errors_by_pid"].items()}
    assert m["client_pids"] == len(bad["worker_pids"])
    assert any("max_connections=" in e["text"] for e in root["evidence"])
    assert any(r["id"] == "size_pools_to_the_database" for r in rep["recommendations"])
    assert "max_connections 20" in rep["summary"]
    # the control (4 x 5 = 20 fits) raises nothing above info
    assert not [f for f in rep["findings"] if f["entity"]["pod"] in (ctrl["pod"], ctrl["db_pod"]) and f["severity"] != "info"]
    assert not [f for f in rep["findings"] if f["rule"] == "connection_pool_multiplication" and f["entity"]["pod"] == ctrl["pod"]]
