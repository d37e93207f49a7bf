"""Capture a crash loop caused by config (issue 13; other-failure-modes.md #1) for real and wrap it.

Runs orders-service (`repro/pool/service.js`, Node.js 20 `cluster` + `pg`) twice, as a rollout does:
1. the previous version 3.0.4 with a good DATABASE_URL against a real PostgreSQL 15 (Debian), serving
   a little traffic for OLD_S seconds, then SIGTERM (the old ReplicaSet's pod is scaled down);
2. the new version 3.1.0 whose DATABASE_URL is empty: `pg` falls back to its defaults
   (127.0.0.1:5432, where nothing listens), every worker exits 1 with `connect ECONNREFUSED
   127.0.0.1:5432`, the primary respawns, gives up after 5 crashes in 30 s and exits 1. The builder
   restarts the container after kubelet's CrashLoopBackOff delays (10 s, 20 s, 40 s: emulated,
   shortened by BACKOFF_SCALE if set), ATTEMPTS times.

Envelope: containerd CRI files `var/log/pods/<ns>_<pod>_<uid>/orders/<restart>.log`, one per
container start (what the node keeps), plus `kubectl get pods -o json` and `kubectl get events -o
json` written from the observed exit codes and times. No time shift.

    python samples/repro/crashloop-config/make_crashloop.py     # ~2 min
"""
from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pool"))
import infra  # noqa: E402
from infra import capture, wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", infra.SAMPLES / "crashloop-config"))
SERVICE = HERE.parent / "pool" / "service.js"
NS = "shop"
OLD = dict(pod="orders-7c4b8d9f6-p2l5x", uid="3f0e5a1c-8b2d-4e7f-9a6c-1d2e3f4a5b6c", version="3.0.4",
           hash="7c4b8d9f6", node="node-b-2")
NEW = dict(pod="orders-5f6a7b8c9-v8r2d", uid="9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", version="3.1.0",
           hash="5f6a7b8c9", node="node-a-1")
IP, NEW_IP = "127.0.0.7", "127.0.0.8"
OLD_S = float(os.environ.get("OLD_S", 20))
ATTEMPTS = int(os.environ.get("ATTEMPTS", 4))
BACKOFF = [10, 20, 40, 80, 160]
SCALE = float(os.environ.get("BACKOFF_SCALE", 1.0))


def main() -> None:
    infra.ensure_node_modules()
    runs = []  # (which, attempt, records, rc, t_start_ns, t_end_ns)
    with tempfile.TemporaryDirectory(prefix="pm13-crash-") as tmp:
        tmp = Path(tmp)
        pg = infra.Postgres(str(tmp / "pg.jsonl"), infra.free_port(), max_connections=50)
        try:
            pg.start()
            pg.psql("CREATE DATABASE orders")
            base = {"WORKERS": "4", "PG_POOL_MAX": "5", "POD_IP": IP, "PORT": "8080", "NODE_PATH": infra.NODE_MODULES}
            # 1. previous version, good config
            t0 = time.time_ns()
            old = capture.Capture(["node", str(SERVICE)], str(tmp / "old.jsonl"), env=dict(
                base, SERVICE_VERSION=OLD["version"], DATABASE_URL=f"postgres://postgres:postgres@127.0.0.1:{pg.port}/orders",
                QUERY_SLEEP_S="0.01")).start()
            infra.wait_port(IP, 8080)
            end = time.time() + OLD_S
            n = 0
            while time.time() < end:
                n += 1
                try:
                    urllib.request.urlopen(f"http://{IP}:8080/v1/orders/{1000 + n}", timeout=5).read()
                except OSError:
                    pass
                time.sleep(0.25)
            # rollout: the new pod starts, then the old one is terminated (maxUnavailable 0)
            rcs = []
            for attempt in range(ATTEMPTS):
                if attempt:
                    time.sleep(BACKOFF[attempt - 1] * SCALE)
                ts = time.time_ns()
                raw = tmp / f"new{attempt}.jsonl"
                env = dict(base, SERVICE_VERSION=NEW["version"], DATABASE_URL="", POD_IP=NEW_IP)
                c = capture.Capture(["node", str(SERVICE)], str(raw), env=env).start()
                if attempt == 0:
                    time.sleep(1.0)
                    old_rc = old.stop()
                    runs.append(("old", 0, wrap.load_capture(str(tmp / "old.jsonl")), old_rc, t0, time.time_ns()))
                try:
                    rc = c.proc.wait(60)
                except Exception:
                    rc = c.stop()
                c.wait()
                rcs.append(rc)
                runs.append(("new", attempt, wrap.load_capture(str(raw)), rc, ts, time.time_ns()))
        finally:
            pg.stop()
    build(runs)


def build(runs) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in sorted(OUT.rglob("*"), reverse=True):
        if p.is_file():
            p.unlink()
        elif p.is_dir():
            p.rmdir()
    meta = {"old": OLD, "new": NEW}
    for which, attempt, recs, _rc, _ts, _te in runs:
        m = meta[which]
        d = OUT / "var/log/pods" / f"{NS}_{m['pod']}_{m['uid']}" / "orders"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{attempt}.log").write_bytes(b"".join(wrap.cri_lines(recs)))
    old_run = next(r for r in runs if r[0] == "old")
    new_runs = [r for r in runs if r[0] == "new"]

    # ---- measure from the captures
    exit_re = re.compile(r"^Worker (\d+) exited \(code: (\S+), signal: (\S+)\)")
    err_re = re.compile(r"^Worker (\d+): cannot connect to database: (.*)$")
    exits, errs, lines_before_exit = [], [], []
    per_attempt = []
    for _w, attempt, recs, rc, ts, te in new_runs:
        ex = [(r, exit_re.match(r["line"])) for r in recs if exit_re.match(r["line"])]
        er = [(r, err_re.match(r["line"])) for r in recs if err_re.match(r["line"])]
        exits += ex
        errs += er
        err_pids = {m.group(1) for _r, m in er}
        lines_before_exit += [m.group(1) in err_pids for _r, m in ex]
        per_attempt.append({"restart": attempt, "first_line": infra.iso(recs[0]["ts_ns"]),
                            "last_line": infra.iso(recs[-1]["ts_ns"]),
                            "run_s": round((recs[-1]["ts_ns"] - recs[0]["ts_ns"]) / 1e9, 3),
                            "worker_exits": len(ex), "container_exit_code": rc})
    gaps = [round((b[2][0]["ts_ns"] - a[2][-1]["ts_ns"]) / 1e9, 1) for a, b in zip(new_runs, new_runs[1:])]
    cfg = lambda recs: next(r["line"] for r in recs if r["line"].startswith("config: "))  # noqa: E731
    ver = lambda recs: next(r["line"] for r in recs if " starting (node " in r["line"])  # noqa: E731
    first_err = new_runs[0][2]
    onset = next(r["ts_ns"] for r in first_err if "ECONNREFUSED" in r["line"])
    precursor = Counter(m.group(2) for _r, m in errs).most_common(1)[0]
    old_ok = sum(1 for r in old_run[2] if r["line"].startswith("Worker ") and " started " in r["line"])
    raw_b, comp_b = infra.bundle_sizes(OUT)
    key = {
        "previous_version": OLD["version"], "new_version": NEW["version"],
        "previous_config_line": cfg(old_run[2]), "new_config_line": cfg(first_err),
        "previous_start_line": ver(old_run[2]), "new_start_line": ver(first_err),
        "previous_workers_started": old_ok,
        "container_starts": len(new_runs), "container_exit_codes": dict(Counter(str(r[3]) for r in new_runs)),
        "worker_exits_total": len(exits),
        "worker_exit_codes": dict(Counter(m.group(2) for _r, m in exits)),
        "worker_exits_preceded_by_econnrefused": sum(lines_before_exit),
        "precursor_error": precursor[0], "precursor_error_count": precursor[1],
        "gaps_between_container_starts_s": gaps,
        "attempts": per_attempt,
        "bundle_raw_bytes": raw_b, "bundle_gzip_bytes": comp_b,
    }
    expected = {
        "bundle": "crashloop-config",
        "root_cause": "exit_precursor",
        "family": "crash_loop (startup, config)",
        "entity": {"pod": NEW["pod"], "namespace": NS, "container": "orders"},
        "onset": infra.iso(onset),
        "version_change": {"from": OLD["version"], "to": NEW["version"], "at": infra.iso(new_runs[0][2][0]["ts_ns"])},
        "cause": "DATABASE_URL is empty in 3.1.0; pg falls back to 127.0.0.1:5432 where nothing listens",
        "healthy_control": {"pod": OLD["pod"], "version": OLD["version"]},
        "key_numbers": key,
    }
    infra.dump_json(OUT / "expected.json", expected)
    # pod + events objects from the observed runs (exit codes and times are the real ones)
    last = new_runs[-1]
    prev = new_runs[-2] if len(new_runs) > 1 else None
    pods = infra.pod_objects([
        {"name": NEW["pod"], "ip": NEW_IP, "node": NEW["node"], "container": "orders", "uid": NEW["uid"],
         "labels": {"app": "orders", "pod-template-hash": NEW["hash"], "app.kubernetes.io/version": NEW["version"]},
         "image": f"registry.example.org/shop/orders-service:{NEW['version']}", "restarts": len(new_runs) - 1,
         "ready": False,
         "state": {"waiting": {"reason": "CrashLoopBackOff",
                               "message": f"back-off {BACKOFF[len(new_runs) - 1]}s restarting failed container=orders pod={NEW['pod']}_{NS}({NEW['uid']})"}},
         "last_state": {"terminated": {"exitCode": last[3], "reason": "Error", "startedAt": wrap.fmt_seconds(last[4]),
                                       "finishedAt": wrap.fmt_seconds(last[5])}}},
    ], NS)
    infra.dump_json(OUT / "pods.json", pods)
    ev = [{"apiVersion": "v1", "kind": "Event", "type": "Normal", "reason": "Killing",
           "involvedObject": {"kind": "Pod", "name": OLD["pod"], "namespace": NS},
           "message": "Stopping container orders", "count": 1,
           "firstTimestamp": wrap.fmt_seconds(old_run[5]), "lastTimestamp": wrap.fmt_seconds(old_run[5])},
          {"apiVersion": "v1", "kind": "Event", "type": "Normal", "reason": "Started",
           "involvedObject": {"kind": "Pod", "name": NEW["pod"], "namespace": NS},
           "message": "Started container orders", "count": len(new_runs),
           "firstTimestamp": wrap.fmt_seconds(new_runs[0][4]), "lastTimestamp": wrap.fmt_seconds(last[4])}]
    if prev:
        ev.append({"apiVersion": "v1", "kind": "Event", "type": "Warning", "reason": "BackOff",
                   "involvedObject": {"kind": "Pod", "name": NEW["pod"], "namespace": NS},
                   "message": "Back-off restarting failed container orders in pod "
                              f"{NEW['pod']}_{NS}({NEW['uid']})", "count": len(new_runs) - 1,
                   "firstTimestamp": wrap.fmt_seconds(new_runs[0][5]), "lastTimestamp": wrap.fmt_seconds(last[5])})
    infra.dump_json(OUT / "events.json", {"apiVersion": "v1", "kind": "List", "items": ev})
    readme(expected)
    print(json.dumps(expected, indent=2))


def readme(e) -> None:
    k = e["key_numbers"]
    rows = "\n".join(f"| {a['restart']} | {a['first_line']} | {a['run_s']} | {a['worker_exits']} | {a['container_exit_code']} |"
                     for a in k["attempts"])
    text = f"""# samples/crashloop-config

A startup crash loop caused by configuration (issue 13; `shared/cases/other-failure-modes.md` #1),
captured for real by `python samples/repro/crashloop-config/make_crashloop.py` (~2 min). The program is
`repro/pool/service.js` (orders-service: Node.js 20 `cluster`, `pg` 8 Pool per worker, which checks the
database with `SELECT 1` at worker start and exits 1 if that fails; the primary respawns a dead
worker and gives up, exit 1, after 5 crashes in 30 s). A real PostgreSQL 15 runs on loopback for the
previous version. No time shift.

1. `{OLD['pod']}` runs the previous version {OLD['version']} with a good `DATABASE_URL` and serves requests.
2. The rollout starts `{NEW['pod']}` with {NEW['version']}, whose `DATABASE_URL` is empty (the startup line
   says `DATABASE_URL=""`); `pg` falls back to its defaults, 127.0.0.1:5432, where nothing listens.
   Every worker logs `cannot connect to database: Error: connect ECONNREFUSED 127.0.0.1:5432` (a
   multi-line Node error inspect) and exits 1; the primary exits 1; then the old pod is terminated.
3. The container is restarted {len(k['attempts']) - 1} times after kubelet's CrashLoopBackOff delays
   (**emulated**: the builder waits 10 s, 20 s, 40 s and starts the process again; each start is a new
   CRI file `<restart>.log`, as the node keeps them).

| file | envelope | source |
|---|---|---|
| `var/log/pods/{NS}_{OLD['pod']}_{OLD['uid']}/orders/0.log` | containerd CRI | previous version, good config |
| `var/log/pods/{NS}_{NEW['pod']}_{NEW['uid']}/orders/<n>.log` | containerd CRI, one file per container start | new version, empty DATABASE_URL |
| `pods.json` | `kubectl get pods -o json` | restartCount, CrashLoopBackOff, lastState.terminated exitCode from the observed last run |
| `events.json` | `kubectl get events -o json` | Killing (old pod), Started x{len(k['attempts'])}, BackOff, times from the runs |

| restart | first line | ran (s) | worker exits | container exit code |
|---|---|---|---|---|
{rows}

## What a correct report concludes
- A startup crash loop on `{NEW['pod']}` caused by configuration, not memory, not the host, not a
  runtime bug: every worker exit (code 1) is preceded by the same error, `{k['precursor_error']}`
  ({k['precursor_error_count']} times), logged by the same worker pid right before its exit line.
- It began with the version change {OLD['version']} -> {NEW['version']} at {e['version_change']['at']}: the startup lines show
  `{k['previous_config_line']}`
  before and `{k['new_config_line']}` after. Empty `DATABASE_URL` -> driver default 127.0.0.1:5432.
- Exit codes: workers {k['worker_exit_codes']}, container {k['container_exit_codes']}; restarts spaced
  {k['gaps_between_container_starts_s']} s (kubelet back-off), so the loop is throttled by Kubernetes, not a fork bomb.
- Healthy control: the previous version's pod `{OLD['pod']}` started {k['previous_workers_started']} workers and served
  requests against the same database.

## Key numbers (measured from the captures by the builder; also in `expected.json`)
```
{json.dumps(k, indent=2)}
```
"""
    (OUT / "README.md").write_text(text)


if __name__ == "__main__":
    main()
