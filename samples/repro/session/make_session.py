"""Capture session loss across cluster workers (issue 13; other-failure-modes.md #4) for real.

Two pods of account-web (server.js: Node.js 20 `cluster`, sessions in an in-memory Map per worker)
run behind one real nginx (upstream keepalive):

* `account-web-...-q7w2e` (incident): 4 workers, round robin. A user logs in on one worker (200,
  sid cookie); the next request often lands on another worker, which has no such session: 401
  `session not found`; the user is sent back to the login page.
* `account-web-...-s9d4f` (healthy control): 1 worker, so every request reaches the worker that
  holds the session (what sticky sessions or a shared store achieve).

client.js plays USERS users per pod (login, then 6 page views, re-login after a 401). Envelopes:
the services as `kubectl logs --timestamps` (no prefix; the pod is in the file name), nginx as the
plain `access.log` file it writes on the VM in front (TZ=Europe/Berlin, so `$time_local` is +0100),
error log as `error.log`. No time shift.

    python samples/repro/session/make_session.py      # ~1.5 min
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
sys.path.insert(0, str(HERE.parent / "pool"))
import infra  # noqa: E402
from infra import capture, wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", infra.SAMPLES / "session"))
RUN_S = os.environ.get("RUN_S", "60")
USERS = os.environ.get("USERS", "40")
PODS = [dict(key="mem", pod="account-web-5c9f7b6d8-q7w2e", ip="127.0.0.14", workers="4", name="account"),
        dict(key="one", pod="account-web-eu2-6d8b9c7f5-s9d4f", ip="127.0.0.15", workers="1", name="account-eu2")]

LOGIN = re.compile(r"^info: \[worker (\d+)\] POST /login 200 user=(\S+) sid=([0-9a-f]+)")
OK = re.compile(r"^info: \[worker (\d+)\] GET (\S+) 200 user=(\S+) sid=([0-9a-f]+)")
DENY = re.compile(r"^warn: \[worker (\d+)\] GET (\S+) 401 sid=([0-9a-f-]+): session not found")


def main() -> None:
    caps, clients = {}, []
    with tempfile.TemporaryDirectory(prefix="pm13-session-") as tmp:
        tmp = Path(tmp)
        ngx = None
        try:
            for p in PODS:
                caps[p["key"]] = capture.Capture(["node", str(HERE / "server.js")], str(tmp / f"{p['key']}.jsonl"), env={
                    "POD_IP": p["ip"], "PORT": "8080", "WORKERS": p["workers"]}).start()
            for p in PODS:
                infra.wait_port(p["ip"], 8080)
            time.sleep(1.5)
            port = infra.free_port()
            servers = ""
            for p in PODS:
                up = f"web-{p['name']}-8080"
                servers += (f"    upstream {up} {{ server {p['ip']}:8080; keepalive 8; }}\n"
                            f"    server {{\n        listen 127.0.0.1:{port};\n        server_name {p['name']}.example.com;\n"
                            f"        location / {{ proxy_pass http://{up}; proxy_http_version 1.1;"
                            " proxy_set_header Connection \"\"; }\n    }\n")
            ngx = infra.Nginx(str(tmp / "nginx.jsonl"), servers, infra.UPSTREAMINFO.format(upstream="$proxy_host"),
                              tz="Europe/Berlin", worker_processes=1).start(port)
            for p in PODS:
                clients.append(capture.Capture(["node", str(HERE / "client.js")], str(tmp / f"client-{p['key']}.jsonl"), env={
                    "PORT": str(port), "HOST_HEADER": f"{p['name']}.example.com", "USERS": USERS, "RUN_S": RUN_S}).start())
            for c in clients:
                c.wait()
            clients = []
            time.sleep(1.0)
        finally:
            for c in clients:
                c.stop()
            if ngx:
                ngx.stop()
            for c in caps.values():
                c.stop()
        for f in tmp.glob("client-*.jsonl"):
            print(f.name, [r["line"] for r in wrap.load_capture(str(f))])
        recs = {k: wrap.load_capture(str(tmp / f"{k}.jsonl")) for k in [*caps, "nginx"]}
    build(recs)


def build(recs) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in OUT.iterdir():
        if p.is_file():
            p.unlink()
    for p in PODS:
        infra.write_text(OUT / f"{p['pod']}.log", "".join(wrap.kubectl_lines(recs[p["key"]])))
    ng = recs["nginx"]
    infra.write_text(OUT / "access.log", "".join(r["line"] + "\n" for r in ng if r["stream"] == "stdout"))
    infra.write_text(OUT / "error.log", "".join(r["line"] + "\n" for r in ng if r["stream"] == "stderr"))
    acc = infra.access_records(ng)
    key = {}
    for p in PODS:
        r = recs[p["key"]]
        logins = {}
        first_401 = None
        deny, pid_change = [], 0
        users_affected = set()
        for rr in r:
            m = LOGIN.match(rr["line"])
            if m:
                logins[m.group(3)] = (int(m.group(1)), m.group(2))
                continue
            m = DENY.match(rr["line"])
            if m:
                deny.append(rr)
                first_401 = first_401 or rr["ts_ns"]
                sid = m.group(3)
                if sid in logins:
                    users_affected.add(logins[sid][1])
                    pid_change += int(m.group(1)) != logins[sid][0]
        oks = sum(1 for rr in r if OK.match(rr["line"]))
        mine = [(x, m) for x, m in acc if m["upstream_addr"].startswith(p["ip"] + ":")]
        st = Counter(m["status"] for _x, m in mine)
        workers = sorted({int(x) for x in re.findall(r"Worker (\d+) started", "\n".join(rr["line"] for rr in r))})
        all_users = {u for _pid, u in logins.values()}
        key[p["key"]] = {
            "pod": p["pod"], "workers": len(workers), "worker_pids": workers,
            "logins": len(logins), "users": len(all_users), "page_views_200": oks,
            "unauthorized_401": len(deny), "users_affected": len(users_affected),
            "share_of_page_views_401": round(len(deny) / max(1, len(deny) + oks), 3),
            "401_on_a_different_pid_than_login": pid_change,
            "proxy_requests": len(mine), "proxy_status": dict(sorted(st.items())),
            "first_401": infra.iso(first_401) if first_401 else None,
        }
    raw_b, comp_b = infra.bundle_sizes(OUT)
    key["bundle_raw_bytes"], key["bundle_gzip_bytes"] = raw_b, comp_b
    bad = key["mem"]
    expected = {
        "bundle": "session",
        "root_cause": "session_loss_across_workers",
        "entity": {"pod": bad["pod"], "pids": bad["worker_pids"]},
        "onset": bad["first_401"],
        "cause": "session.store=memory with 4 cluster workers (no sticky sessions, no shared store)",
        "healthy_control": {"pod": key["one"]["pod"], "workers": key["one"]["workers"]},
        "key_numbers": key,
    }
    infra.dump_json(OUT / "expected.json", expected)
    readme(expected)
    print(json.dumps(expected, indent=2))


def readme(e) -> None:
    k = e["key_numbers"]
    rows = "\n".join(f"| `{k[x]['pod']}` | {k[x]['workers']} | {k[x]['logins']} | {k[x]['users']} | {k[x]['page_views_200']} | {k[x]['unauthorized_401']} "
                     f"| {k[x]['users_affected']} | {k[x]['401_on_a_different_pid_than_login']} | {k[x]['proxy_status']} |" for x in ("mem", "one"))
    text = f"""# samples/session

Sessions lost across cluster workers (issue 13; `shared/cases/other-failure-modes.md` #4), captured for
real by `python samples/repro/session/make_session.py` (~1.5 min). `repro/session/server.js`
(account-web, Node.js 20 `cluster`) keeps sessions in an in-memory `Map` per worker (like
express-session's default MemoryStore) and logs `info: [worker <pid>] POST /login 200 user=.. sid=..`,
`info: [worker <pid>] GET /account/cart 200 user=.. sid=..` and
`warn: [worker <pid>] GET /account/cart 401 sid=..: session not found`. A real nginx 1.22 is in front
(upstream keepalive; ingress-style `upstreaminfo` access format). `repro/session/client.js` plays
users: login, then 6 page views with the cookie, login again after a 401. No time shift.

| file | envelope |
|---|---|
| `{k['mem']['pod']}.log` | `kubectl logs --timestamps` (no prefix; pod in the file name) |
| `{k['one']['pod']}.log` | same |
| `access.log` | nginx's own access log file (`$time_local` in Europe/Berlin, +0100; `[web-account-8080]` vs `[web-account-eu2-8080]`) |
| `error.log` | nginx's own error log (notices only; `YYYY/MM/DD HH:MM:SS` in Europe/Berlin wall-clock time with no zone, as nginx writes it: one hour ahead of UTC; its `exit` notices at shutdown are nginx worker processes, not the service) |

| pod | workers | logins | users | page views 200 | 401 | users affected | 401 on another PID than the login | nginx status |
|---|---|---|---|---|---|---|---|---|
{rows}

## What a correct report concludes
- Session loss across workers on `{k['mem']['pod']}`: {k['mem']['unauthorized_401']} requests ({k['mem']['share_of_page_views_401'] * 100:.1f} % of page views) of
  {k['mem']['users_affected']} of {k['mem']['users']} users got 401 `session not found`; in {k['mem']['401_on_a_different_pid_than_login']} of {k['mem']['unauthorized_401']} cases the 401 came from a
  different worker PID than the one that logged the user in (join the login and 401 lines on `sid`).
  Startup says `session.store=memory` with `workers=4`. First 401 at {k['mem']['first_401']}.
- Fix: a shared session store (Redis, database) or sticky sessions per worker.
- Healthy control: `{k['one']['pod']}` (1 worker: every request reaches the worker that holds the session):
  {k['one']['unauthorized_401']} 401s for {k['one']['users']} users. The 401s are not bad passwords or expired sessions (TTL 30 min).

## Key numbers (measured from the captures by the builder; also in `expected.json`)
```
{json.dumps(k, indent=2)}
```
"""
    (OUT / "README.md").write_text(text)


if __name__ == "__main__":
    main()
