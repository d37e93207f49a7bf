"""Capture uneven worker load (issue 13; other-failure-modes.md #4) for real and wrap it.

Two pods of search-api (search.js: Node.js 20 `cluster`, 4 workers, round robin, ~15 ms of CPU per
request, pino-http style lines with the worker pid) get the same traffic from client.js: callers on
long-lived keep-alive connections with unequal volume, a catalogue batch exporter on ONE connection
(~15 req/s) and a web BFF on 3 connections (~5 req/s in total). A keep-alive connection stays on the
worker it was dealt to, so the worker holding the exporter's connection serves most of the traffic.

* `search-...-n5v8c` (incident): Node defaults (connections live forever): one PID does ~9x the
  requests of each sibling and its requests wait longer.
* `search-...-r2k7d` (healthy control): `MAX_REQUESTS_PER_SOCKET=50` (Node's
  `server.maxRequestsPerSocket`): the exporter's connection is closed every 50 requests and its next
  one is dealt round robin to the next worker, so the load evens out.

(First tried: `NODE_CLUSTER_SCHED_POLICY=none` vs `rr` with 4-8 equal keep-alive connections. On this
2-CPU box, busy with other jobs, the kernel dealt the connections 1.0-1.6x unevenly in 3 of 4 runs
and 8/1/0/0 once; not reproducible enough for a bundle.)

The pods run one after the other (this box has 2 CPUs), the control first. Envelope: Elasticsearch
NDJSON of Filebeat `_source` documents (`kubernetes.pod.name`, ..., `@timestamp` in ms), one file
per pod. No time shift.

    python samples/repro/uneven/make_uneven.py      # ~2.5 min
"""
from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pool"))
import infra  # noqa: E402
from infra import capture, wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", infra.SAMPLES / "uneven"))
RUN_S = os.environ.get("RUN_S", "50")
WORK_MS = os.environ.get("WORK_MS", "15")
NS = "search"
PODS = [dict(key="control", pod="search-7b9d5c8f6-r2k7d", ip="127.0.0.13", max_rps="50", node="node-b-3",
             uid="5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"),
        dict(key="incident", pod="search-7b9d5c8f6-n5v8c", ip="127.0.0.12", max_rps="0", node="node-a-2",
             uid="0c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f")]


def main() -> None:
    caps = {}
    with tempfile.TemporaryDirectory(prefix="pm13-uneven-") as tmp:
        tmp = Path(tmp)
        for p in PODS:  # one pod at a time: this box has 2 CPUs, two busy pods at once would starve each other
            srv = capture.Capture(["node", str(HERE / "search.js")], str(tmp / f"{p['key']}.jsonl"), env={
                "HOSTNAME": p["pod"], "POD_IP": p["ip"], "PORT": "8080", "WORKERS": "4", "WORK_MS": WORK_MS,
                "MAX_REQUESTS_PER_SOCKET": p["max_rps"]}).start()
            caps[p["key"]] = srv
            cli = None
            try:
                infra.wait_port(p["ip"], 8080)
                time.sleep(2.0)  # all workers listening
                cli = capture.Capture(["node", str(HERE / "client.js")], str(tmp / f"client-{p['key']}.jsonl"), env={
                    "PORT": "8080", "TARGET_HOST": p["ip"], "HEAVY_RATE": "15", "LIGHT_RATE": "5", "LIGHT_CONNS": "3",
                    "RUN_S": RUN_S}).start()
                cli.wait()
                cli = None
                time.sleep(1.0)
            finally:
                if cli:
                    cli.stop()
                srv.stop()
        recs = {k: wrap.load_capture(str(tmp / f"{k}.jsonl")) for k in caps}
    build(recs)


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else None


def build(recs) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.iterdir():
        if p.is_file():
            p.unlink()
    key = {}
    for p in PODS:
        r = recs[p["key"]]
        docs = wrap.filebeat_docs(r, p["pod"], NS, "search", p["node"], p["uid"], "f" * 64,
                                  labels={"app": "search-api", "pod-template-hash": "7b9d5c8f6"})
        docs = [d.replace("registry.example.org/campaign/campaign-service:1.42.0",
                          "registry.example.org/search/search-api:4.2.0") for d in docs]
        infra.write_text(OUT / f"filebeat-{p['pod']}.ndjson.gz", "".join(docs), gz=True)
        objs = []
        for rr in r:
            try:
                objs.append((rr["ts_ns"], json.loads(rr["line"])))
            except ValueError:
                pass
        reqs = [(ts, o) for ts, o in objs if o.get("msg") == "request completed"]
        conns = Counter(o["pid"] for _ts, o in objs if str(o.get("msg", "")).startswith("connection accepted"))
        started = [int(o["msg"].split()[1]) for _ts, o in objs if str(o.get("msg", "")).startswith("Worker ") and o["msg"].endswith("started")]
        ua_pid = Counter()
        by_pid = defaultdict(list)
        for _ts, o in reqs:
            by_pid[o["pid"]].append(o)
            ua_pid[(o["pid"], o["req"].get("headers", {}).get("user-agent", "-"))] += 1
        dur = (reqs[-1][0] - reqs[0][0]) / 1e9 if len(reqs) > 1 else 1
        per = {}
        for pid in started:
            rows = by_pid.get(pid, [])
            tt = [o["totalTime"] for o in rows if o.get("totalTime") is not None]
            per[str(pid)] = {"requests": len(rows), "req_per_s": round(len(rows) / dur, 1),
                             "share": round(len(rows) / max(1, len(reqs)), 3), "connections": conns.get(pid, 0),
                             "p50_total_ms": pct(tt, 0.5), "p99_total_ms": pct(tt, 0.99),
                             "mean_total_ms": round(statistics.mean(tt), 1) if tt else None,
                             "requests_by_caller": {ua: n for (pp, ua), n in sorted(ua_pid.items()) if pp == pid}}
        counts = sorted((v["requests"] for v in per.values()), reverse=True)
        busiest = max(per, key=lambda k: per[k]["requests"])
        others = [v["requests"] for k, v in per.items() if k != busiest]
        key[p["key"]] = {
            "pod": p["pod"], "max_requests_per_socket": int(p["max_rps"]), "workers": per, "requests": len(reqs),
            "window_s": round(dur, 1), "busiest_pid": int(busiest),
            "busiest_vs_median_other": round(per[busiest]["requests"] / max(1, statistics.median(others)), 2) if others else None,
            "max_over_min_requests": round(counts[0] / max(1, counts[-1]), 2),
            "first_request": infra.iso(reqs[0][0]), "config_line": next(o["msg"] for _ts, o in objs if o.get("msg", "").startswith("config:")),
        }
    raw_b, comp_b = infra.bundle_sizes(OUT)
    key["bundle_raw_bytes"], key["bundle_gzip_bytes"] = raw_b, comp_b
    bad = key["incident"]
    expected = {
        "bundle": "uneven",
        "root_cause": "uneven_worker_load",
        "entity": {"pod": bad["pod"], "namespace": NS, "pid": bad["busiest_pid"]},
        "onset": bad["first_request"],
        "cause": "a few long-lived keep-alive connections of unequal volume pinned to their workers (no maxRequestsPerSocket)",
        "healthy_control": {"pod": key["control"]["pod"], "max_requests_per_socket": 50},
        "key_numbers": key,
    }
    infra.dump_json(OUT / "expected.json", expected)
    readme(expected)
    print(json.dumps(expected, indent=2))


def readme(e) -> None:
    k = e["key_numbers"]

    def table(x):
        return "\n".join(f"| `{k[x]['pod']}` | {pid} | {v['connections']} | {v['requests']} | {v['req_per_s']} | {v['share']} | {v['p50_total_ms']} | {v['p99_total_ms']} |"
                         for pid, v in sorted(k[x]["workers"].items(), key=lambda kv: -kv[1]["requests"]))
    text = f"""# samples/uneven

Uneven load across cluster workers (issue 13; `shared/cases/other-failure-modes.md` #4), captured for
real by `python samples/repro/uneven/make_uneven.py` (~2.5 min). `repro/uneven/search.js` (search-api,
Node.js 20 `cluster`, 4 workers, round robin, ~15 ms CPU per request) logs pino-http style JSON with the
worker `pid`, the caller's user agent, `responseTime` (handler) and `totalTime` (from the caller's
`x-request-start` to the response: includes the time the request waited for its busy worker), plus a
debug line per accepted connection. `repro/uneven/client.js` plays the callers, all on long-lived
keep-alive connections opened at start: `catalog-exporter/3.0 (batch)` on ONE connection at ~15 req/s
and `web-bff/7.4` on 3 connections at ~5 req/s in total. The two pods ran one after the other (2-CPU
box), control first. No time shift.

The primaries log their config at start:
- incident pod: `{k['incident']['config_line']}`
- control pod:  `{k['control']['config_line']}`

| file | envelope |
|---|---|
| `filebeat-{k['incident']['pod']}.ndjson.gz` | Elasticsearch/Filebeat `_source` NDJSON (`@timestamp` ms, `message`, `kubernetes.pod.name`, ...) |
| `filebeat-{k['control']['pod']}.ndjson.gz` | same |

| pod | worker pid | connections accepted | requests | req/s | share | p50 totalTime ms | p99 totalTime ms |
|---|---|---|---|---|---|---|---|
{table('incident')}
{table('control')}

## What a correct report concludes
- Uneven worker load on `{k['incident']['pod']}`: PID {k['incident']['busiest_pid']} serves {k['incident']['busiest_vs_median_other']}x the
  median of its siblings (max/min {k['incident']['max_over_min_requests']}); its p99 totalTime is the pod's highest (table above; latency on this shared
  2-CPU box is noisy, the control's p99 too, so the request counts are the firm evidence).
  Cause: the batch exporter's single long-lived keep-alive connection was dealt to that worker and all
  its requests stay there (the `requests_by_caller` numbers below; the `connection accepted` debug
  lines show where each connection landed). Round robin deals connections, not requests.
- Fix: recycle connections (`server.maxRequestsPerSocket`, shorter keep-alive at the caller) or spread
  the heavy caller over more connections.
- Healthy control: `{k['control']['pod']}` with `maxRequestsPerSocket=50`, same callers: max/min
  {k['control']['max_over_min_requests']}.
- Decoy: the per-pod request rate is the same on both pods; only the per-PID view shows the problem.

## Key numbers (measured from the captures by the builder; also in `expected.json`)
```
{json.dumps(k, indent=2)}
```
"""
    (OUT / "README.md").write_text(text)


if __name__ == "__main__":
    main()
