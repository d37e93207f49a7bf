"""Capture connection-pool multiplication (issue 13; other-failure-modes.md #4) for real and wrap it.

Two deployments of orders-service (service.js: Node.js 20 `cluster`, one `pg` Pool per worker) run
at the same time behind one real nginx, each with its own real PostgreSQL 15 (max_connections=20;
the service connects as the `postgres` superuser, as many small setups do, so all 20 are its to take):

* `orders`     (incident): WORKERS=4 x PG_POOL_MAX=10 = 40 > 20 -> at the traffic peak the pools grow
               past the server's limit: PostgreSQL logs `FATAL:  sorry, too many clients already`, the
               workers log the client-side error and answer 503, nginx logs the 503s.
* `orders-eu2` (healthy control): WORKERS=4 x PG_POOL_MAX=5 = 20 <= 20, same load, no errors
               (requests queue in the pool instead).

Load (loadgen.js, through nginx, for each deployment): 30 s at 20 req/s, 60 s at 90 req/s (the
peak), 20 s at 20 req/s; every request runs a 0.2 s query. Envelope: `kubectl logs --timestamps
--prefix` for every pod (services, databases, ingress). No time shift.

    python samples/repro/pool/make_pool.py      # ~2.5 min
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import infra  # noqa: E402
from infra import capture, wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", infra.SAMPLES / "pool"))
PHASES = os.environ.get("PHASES", "30:20,60:90,20:20")
NS = "shop"
DEPLOYS = [  # name, pod, db pod, pod ip, pg port, workers, pool max
    dict(name="orders", pod="orders-5b7d9c6f4-kq8zt", db="orders-db-0", ip="127.0.0.5", pg=infra.free_port(),
         workers=4, pool=10),
    dict(name="orders-eu2", pod="orders-eu2-6c8f7d5b9-w3n4p", db="orders-eu2-db-0", ip="127.0.0.6",
         pg=infra.free_port(), workers=4, pool=5),
]
NGINX_POD = "ingress-nginx-controller-6d4c8b7f9-r7t2m"
MAX_CONN = 20


def main() -> None:
    infra.ensure_node_modules()
    with tempfile.TemporaryDirectory(prefix="pm13-pool-") as tmp:
        tmp = Path(tmp)
        pgs, svcs, loads = [], [], []
        try:
            for d in DEPLOYS:
                pg = infra.Postgres(str(tmp / f"{d['db']}.jsonl"), d["pg"], max_connections=MAX_CONN)
                pgs.append(pg.start())
                pg.psql("CREATE DATABASE orders")
            for d in DEPLOYS:
                env = {"WORKERS": str(d["workers"]), "PG_POOL_MAX": str(d["pool"]), "POD_IP": d["ip"], "PORT": "8080",
                       "DATABASE_URL": f"postgres://postgres:postgres@127.0.0.1:{d['pg']}/orders", "SERVICE_VERSION": "3.1.0",
                       "NODE_PATH": infra.NODE_MODULES}
                c = capture.Capture(["node", str(HERE / "service.js")], str(tmp / f"{d['pod']}.jsonl"), env=env).start()
                svcs.append(c)
            for d in DEPLOYS:
                infra.wait_port(d["ip"], 8080)
            time.sleep(1.0)
            port = infra.free_port()
            servers = ""
            for d in DEPLOYS:
                up = f"{NS}-{d['name']}-8080"
                servers += (f"    upstream {up} {{ server {d['ip']}:8080; keepalive 32; }}\n"
                            f"    server {{\n        listen 127.0.0.1:{port};\n        server_name {d['name']}.shop.svc;\n"
                            f"        location / {{ proxy_pass http://{up}; proxy_http_version 1.1;"
                            " proxy_set_header Connection \"\"; proxy_read_timeout 10s; }\n    }\n")
            ngx = infra.Nginx(str(tmp / "nginx.jsonl"), servers, infra.UPSTREAMINFO.format(upstream="$proxy_host"),
                              worker_processes=2).start(port)
            for d in DEPLOYS:
                loads.append(capture.Capture(["node", str(HERE / "loadgen.js")], str(tmp / f"load-{d['name']}.jsonl"),
                                             env={"PORT": str(port), "HOST_HEADER": f"{d['name']}.shop.svc",
                                                  "PATH_TEMPLATE": "/v1/orders/{n}", "PHASES": PHASES,
                                                  "USER_AGENT": "storefront-bff/2.8.1"}).start())
            for c in loads:
                c.wait()
            loads = []
            time.sleep(1.0)
            ngx.stop()
        finally:
            for c in svcs:
                c.stop()
            for pg in pgs:
                pg.stop()
        caps = {p.stem: wrap.load_capture(str(p)) for p in tmp.glob("*.jsonl")}
    for k, v in caps.items():
        if k.startswith("load-"):
            print(k, v[-1]["line"] if v else "")
    build(caps)


def build(caps) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.iterdir():
        if p.is_file():
            p.unlink()
    for d in DEPLOYS:
        infra.write_text(OUT / f"{d['pod']}.log.gz", "".join(wrap.kubectl_lines(caps[d["pod"]], d["pod"], "orders")), gz=True)
        infra.write_text(OUT / f"{d['db']}.log", "".join(wrap.kubectl_lines(caps[d["db"]], d["db"], "postgres")))
    infra.write_text(OUT / f"{NGINX_POD}.log.gz", "".join(wrap.kubectl_lines(caps["nginx"], NGINX_POD, "controller")),
                     gz=True)

    acc = infra.access_records(caps["nginx"])
    ip_to = {f"{d['ip']}:8080": d for d in DEPLOYS}
    per = {}
    for d in DEPLOYS:
        svc, db = caps[d["pod"]], caps[d["db"]]
        fatal = [r for r in db if "FATAL:  sorry, too many clients already" in r["line"]]
        client_err = [r for r in svc if "sorry, too many clients already" in r["line"] and "failed after" in r["line"]]
        started = [int(m.group(1)) for r in svc for m in [re.match(r"Worker (\d+) started", r["line"])] if m]
        mine = [(r, m) for r, m in acc if m["upstream_addr"].split(", ")[0] in ip_to and ip_to[m["upstream_addr"].split(", ")[0]] is d]
        st = Counter(m["status"] for _r, m in mine)
        rt = sorted(float(m["request_time"]) for _r, m in mine if m["status"] == "200")
        err_pids = Counter(int(re.match(r"Worker (\d+):", r["line"]).group(1)) for r in client_err)
        per[d["name"]] = {
            "pod": d["pod"], "db_pod": d["db"], "workers": d["workers"], "pool_max": d["pool"],
            "workers_x_pool": d["workers"] * d["pool"], "max_connections": MAX_CONN,
            "connection_limit_for_app_user": MAX_CONN,  # it connects as the superuser `postgres`
            "worker_pids": started,
            "postgres_fatal_too_many_clients": len(fatal),
            "worker_client_errors": len(client_err),
            "worker_client_errors_by_pid": {str(k): v for k, v in sorted(err_pids.items())},
            "proxy_requests": len(mine), "proxy_status": dict(sorted(st.items())),
            "proxy_p50_request_time_200_s": rt[len(rt) // 2] if rt else None,
            "proxy_p99_request_time_200_s": rt[int(len(rt) * 0.99)] if rt else None,
            "first_fatal": infra.iso(fatal[0]["ts_ns"]) if fatal else None,
            "first_client_error": infra.iso(client_err[0]["ts_ns"]) if client_err else None,
            "first_proxy_503": next((infra.iso(r["ts_ns"]) for r, m in mine if m["status"] == "503"), None),
        }
    bad = per["orders"]
    onset_candidates = [x for x in (bad["first_fatal"], bad["first_client_error"], bad["first_proxy_503"]) if x]
    raw, comp = infra.bundle_sizes(OUT)
    expected = {
        "bundle": "pool",
        "root_cause": "connection_pool_multiplication",
        "entity": {"pod": bad["pod"], "namespace": NS, "database_pod": bad["db_pod"]},
        "onset": min(onset_candidates) if onset_candidates else None,
        "healthy_control": {"pod": per["orders-eu2"]["pod"], "database_pod": per["orders-eu2"]["db_pod"]},
        "key_numbers": {"deployments": per, "bundle_raw_bytes": raw, "bundle_gzip_bytes": comp},
    }
    infra.dump_json(OUT / "expected.json", expected)
    readme(expected, caps)
    print(json.dumps(expected, indent=2))


def readme(e, caps) -> None:
    per = e["key_numbers"]["deployments"]
    b, g = per["orders"], per["orders-eu2"]
    first = min(v[0]["ts_ns"] for v in caps.values() if v)
    last = max(v[-1]["ts_ns"] for v in caps.values() if v)
    rows = "\n".join(
        f"| `{d['pod']}` / `{d['db']}` | {p['workers']} x {p['pool_max']} = {p['workers_x_pool']} | {p['postgres_fatal_too_many_clients']} "
        f"| {p['worker_client_errors']} | {p['proxy_status'].get('503', 0)} of {p['proxy_requests']} | {p['proxy_p99_request_time_200_s']} |"
        for d in DEPLOYS for p in [per[d["name"]]])
    text = f"""# samples/pool

Connection-pool multiplication (issue 13; `shared/cases/other-failure-modes.md` #4), captured for real
by `python samples/repro/pool/make_pool.py` (~2.5 min). Programs that ran: `repro/pool/service.js`
(orders-service, Node.js 20 `cluster`, one `pg` 8 Pool per worker), two real PostgreSQL 15 servers
(Debian package, `initdb` into a temp dir, `max_connections=20`, logging to stderr with
`log_line_prefix='%m [%p] %q%u@%d '`), a real nginx 1.22 in front (ingress-nginx `upstreaminfo` access
format with `$upstream_addr $upstream_response_length $upstream_response_time $upstream_status`), and
`repro/pool/loadgen.js` (30 s at 20 req/s, 60 s at 90 req/s, 20 s at 20 req/s per deployment; each
request runs a 0.2 s query). No time shift ({infra.iso(first)} .. {infra.iso(last)}).

| file | envelope | source |
|---|---|---|
| `{b['pod']}.log.gz` | `kubectl logs --timestamps --prefix` | orders-service, incident config |
| `{b['db_pod']}.log` | `kubectl logs --timestamps --prefix` | its PostgreSQL (stderr) |
| `{g['pod']}.log.gz` | `kubectl logs --timestamps --prefix` | orders-service, healthy control config |
| `{g['db_pod']}.log` | `kubectl logs --timestamps --prefix` | its PostgreSQL |
| `{NGINX_POD}.log.gz` | `kubectl logs --timestamps --prefix` | nginx access (stdout) + error log (stderr); `[shop-orders-8080]` vs `[shop-orders-eu2-8080]` |

The services log their configuration at startup: `config: WORKERS=4 PG_POOL_MAX=10 ...`,
`database connections at full load: 4 workers x 10 = 40`, `database max_connections=20
(superuser_reserved_connections=3)`. The service connects as the `postgres` superuser, so it may
hold all 20 connections (a non-superuser role would be refused at 17 with PostgreSQL 15's other
phrasing, `remaining connection slots are reserved for non-replication superuser connections`).

| pods | workers x pool | PG `FATAL: too many clients` | worker errors | 503 at nginx | p99 200 request_time (s) |
|---|---|---|---|---|---|
{rows}

## What a correct report concludes
- Root cause: connection-pool multiplication on `{b['pod']}`: 4 workers x pool 10 = 40 connections
  wanted > 20 allowed (max_connections 20, connecting as superuser). At the traffic peak the pools grow, PostgreSQL
  refuses connections (`FATAL:  sorry, too many clients already`, first at {b['first_fatal']}), the
  workers log `sorry, too many clients already (code 53300)` and nginx returns 503 ({b['proxy_status'].get('503', 0)} times).
- Evidence: the startup config lines (workers, pool max, max_connections), the FATAL count on
  `{b['db_pod']}`, the errors spread over all {len(b['worker_client_errors_by_pid'])} worker PIDs (not one bad worker).
- Fix: workers x pool <= max_connections - reserved (e.g. pool 4 or 5; keep room for admin/migration connections), or a pooler (PgBouncer).
- Healthy control: `{g['pod']}` runs the same code and load with 4 x 5 = 20 (fits max_connections exactly) and sees
  {g['postgres_fatal_too_many_clients']} FATALs and {g['proxy_status'].get('503', 0)} 503s; its requests wait in the pool instead (higher latency, no errors).
  The database is not slow or down: the control's database serves the same queries.

## Key numbers (measured from the captures by the builder; also in `expected.json`)
```
{json.dumps(e['key_numbers'], indent=2)}
```
A rerun gives other pids and counts; the README and `expected.json` are rewritten from it.
"""
    (OUT / "README.md").write_text(text)


if __name__ == "__main__":
    main()
