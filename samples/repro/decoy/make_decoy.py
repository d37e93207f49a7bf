"""Capture an event-loop-block incident with a decoy in the previous pod, for real.

Two real runs, one after the other, both under capture.py (each line stamped on arrival):

1. the PREVIOUS pod of the reports service, `reports-7b6d5c4f8-h6j5w`: decoy/server.js with
   VERSION=v3.1.9 and BOOT_WORK_MS=1300: it logs its deploy line, then warms a cache
   synchronously on boot (one event-loop lag spike) BEFORE any traffic; then light_client.js
   sends ordinary traffic (health checks, campaign reads; no quarterly report): nothing times out.
2. the pod that has the incident, `reports-5d8c7b9f6-k2m4q`: samples/repro/eventloop/server.js
   (v3.2.0, the quarterly report compiles a template synchronously for 1.5 s) with
   samples/repro/eventloop/client.js (the load balancer: health, campaigns with a 1 s upstream
   timeout, a quarterly report every 4 s after 5 s): requests time out behind every block.

Time shift (mechanical): run 2 is shifted so its first server line is at 2022-10-04T16:00:00Z;
run 1 by its own offset so its first server line is at 2022-10-04T15:41:00Z (the previous pod
ran earlier; each run keeps its internal timing exactly). The pino `time` fields are shifted by
the same offsets. The two load-balancer captures are merged, by time, into one ingress file.

    python samples/repro/decoy/make_decoy.py
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
OUT = REPRO.parent / "decoy"
sys.path.insert(0, str(REPRO))
import wrap  # noqa: E402

NS = "reports"
PREV, REAL = "reports-7b6d5c4f8-h6j5w", "reports-5d8c7b9f6-k2m4q"
LB = "ingress-nginx-controller-7c9f8d6b5-p4z8x"
START_PREV, START_REAL = "2022-10-04T15:41:00Z", "2022-10-04T16:00:00Z"
SEC, MS = 1_000_000_000, 1_000_000


def uid_for(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "pmortem-sample/" + name))


def capture_cmd(tmp: Path, name: str, env: dict, script: Path) -> list[str]:
    args = [sys.executable, str(REPRO / "capture.py"), "--out", str(tmp / f"{name}.jsonl")]
    for k, v in env.items():
        args += ["--env", f"{k}={v}"]
    return args + ["--", "node", str(script)]


def run_pair(
    tmp: Path, name: str, server: Path, client: Path, env: dict, client_delay: float
) -> tuple[list, list]:
    """Run a server capture and, client_delay s later, its client capture; return both captures."""
    srv = subprocess.Popen(capture_cmd(tmp, f"{name}-server", env, server))
    time.sleep(client_delay)
    subprocess.run(capture_cmd(tmp, f"{name}-client", env, client), check=True)
    srv.wait()
    return wrap.load_capture(str(tmp / f"{name}-server.jsonl")), wrap.load_capture(
        str(tmp / f"{name}-client.jsonl")
    )


# ------------------------------------------------------------------ measuring (shared with renamed/)
RE_TIMEOUT = re.compile(r'^upstream timed out .* request: "GET (\S+) HTTP/1\.1" 504 (\d+)ms$')
RE_OK = re.compile(r"^GET (\S+) (\d{3}) (\d+)ms$")


def pino(recs: list[dict]) -> list[tuple[int, dict]]:
    out = []
    for r in recs:
        try:
            out.append((r["ts_ns"], json.loads(r["line"])))
        except ValueError:
            pass
    return out


def server_numbers(recs: list[dict]) -> dict:
    docs = pino(recs)
    lags = [
        (ts, int(m.group(1)))
        for ts, d in docs
        if (m := re.fullmatch(r"Event loop lag: (\d+) ms", d.get("msg", "")))
    ]
    quarterly = [
        (ts, d)
        for ts, d in docs
        if d.get("msg") == "request completed" and d["req"]["url"].startswith("/reports/quarterly")
    ]
    blocks = [(ts - d["responseTime"] * MS, ts) for ts, d in quarterly]
    requests = [d for _, d in docs if d.get("msg") == "request completed"]
    deploy = next(((ts, d["msg"]) for ts, d in docs if d.get("msg", "").startswith("Deploying ")), None)
    hostnames = sorted({d.get("hostname") for _, d in docs if d.get("hostname")})
    n = {
        "hostname_in_lines": hostnames,
        "first_line": wrap.fmt_go_nano(recs[0]["ts_ns"]),
        "last_line": wrap.fmt_go_nano(recs[-1]["ts_ns"]),
        "deploy_line": deploy[1] if deploy else None,
        "deploy_at": wrap.fmt_go_nano(deploy[0]) if deploy else None,
        "requests_completed": len(requests),
        "first_request_completed_at": wrap.fmt_go_nano(
            next(ts for ts, d in docs if d.get("msg") == "request completed")
        )
        if requests
        else None,
        "lag_lines": len(lags),
        "lag_lines_ge_1000ms": sum(1 for _, v in lags if v >= 1000),
        "max_lag_ms": max((v for _, v in lags), default=0),
        "lag_line_times_ge_1000ms": [wrap.fmt_go_nano(ts) for ts, v in lags if v >= 1000],
        "quarterly_requests": len(quarterly),
        "quarterly_response_ms": [d["responseTime"] for _, d in quarterly],
        "blocks_by_quarterly": [[wrap.fmt_go_nano(a), wrap.fmt_go_nano(b)] for a, b in blocks],
    }
    if blocks:
        n["onset_first_block_start"] = wrap.fmt_go_nano(blocks[0][0])
    return n, blocks


def client_numbers(recs: list[dict], blocks: list[tuple[int, int]]) -> dict:
    tos = [(r["ts_ns"], m.group(1), int(m.group(2))) for r in recs if (m := RE_TIMEOUT.match(r["line"]))]
    oks = [m for r in recs if (m := RE_OK.match(r["line"]))]

    def behind(ts, ms):  # the request was waiting while a block ran
        sent = ts - ms * MS
        return any(sent <= b_end and ts >= b_start for b_start, b_end in blocks)

    routes = {}
    for _, path, _ in tos:
        key = path.split("?")[0]
        routes[key] = routes.get(key, 0) + 1
    return {
        "lines": len(recs),
        "responses": len(oks),
        "timeouts_504": len(tos),
        "timeouts_by_route": dict(sorted(routes.items())),
        "health_check_timeouts": routes.get("/health", 0),
        "timeouts_behind_blocks": sum(1 for ts, _, ms in tos if behind(ts, ms)),
        "first_timeout_at": wrap.fmt_go_nano(tos[0][0]) if tos else None,
    }


def readme(exp: dict, files: dict) -> str:
    rc, dc = exp["root_cause"], exp["decoy"]
    return f"""# samples/decoy

An event-loop block with a decoy, captured for real by `python samples/repro/decoy/make_decoy.py`
(Node.js 20, no dependencies). Two real runs of the reports service, one after the other:

1. the PREVIOUS pod `{PREV}` (`samples/repro/decoy/server.js`, v3.1.9): it logs its deploy line,
   then warms a template cache synchronously on boot: ONE event-loop lag spike, before any
   request arrives. Then ordinary traffic (health checks, campaign reads;
   `decoy/light_client.js`): nothing times out.
2. the pod with the incident, `{REAL}` (`samples/repro/eventloop/server.js`, v3.2.0, re-run):
   every `/reports/quarterly` request compiles a template synchronously for 1.5 s, and the load
   balancer's requests (`samples/repro/eventloop/client.js`: health, campaigns with a 1 s upstream
   timeout, a quarterly report every 4 s) time out behind each block.

Time shift: run 2 is shifted so its first server line is at {START_REAL}; run 1 by its own offset
so its first server line is at {START_PREV} (each run keeps its own timing exactly; offsets in
`expected.json`). pino `time` fields are shifted alike. Both load-balancer captures are merged by
time into one ingress log.

| file | envelope | pod | role |
|---|---|---|---|
| `{files[PREV]}` | containerd CRI | `{PREV}` | previous pod: deploy + boot lag spike (decoy) |
| `{files[REAL]}` | containerd CRI | `{REAL}` | the root cause |
| `{files[LB]}` | kubectl logs --timestamps | `{LB}` | load balancer, both periods |

Namespace `reports`, service `reports` (container `reports`); the ingress pod is service `ingress-nginx-controller` (its Deployment, as the ingress-nginx chart names it; the pod name minus its ReplicaSet hash and suffix).

## What a correct report concludes

**Root cause: the event loop of `{REAL}` is blocked by `/reports/quarterly` requests**:
{rc["blocks"]} blocks from {rc["onset"]} (start of the first block), up to {rc["max_lag_ms"]} ms of lag,
{rc["timeouts_behind_blocks"]} requests timed out behind them at the load balancer
({rc["health_check_timeouts"]} of them health checks; {rc["timeouts_total"]} timeouts in all). Its
deploy line (`{rc["deploy_line"]}`) at {rc["deploy_at"]} precedes the blocks.

**Decoy:** `{PREV}` logged a deploy (`{dc["deploy_line"]}`) at {dc["deploy_at"]} and one lag
spike of {dc["boot_lag_ms"]} ms at {dc["boot_lag_spike_at"]}, before its first request: no request
was waiting, and no request timed out while it served ({dc["timeouts_while_previous_pod_served"]}
timeouts). It is neither the root cause nor the onset; the incident window starts with the first
block in `{REAL}`, not at the earlier deploy. `pmortem scan samples/decoy` should exit 1 (an
incident-level finding) and name `{REAL}` only.

## Key numbers (measured from the shifted captures by the builder; also in `expected.json`)

```json
{json.dumps({k: exp[k] for k in ("root_cause", "decoy", "servers", "load_balancer")}, indent=2)}
```
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prev_srv, prev_cli = run_pair(
            tmp,
            "prev",
            HERE / "server.js",
            HERE / "light_client.js",
            {
                "RUN_MS": "14000",
                "PORT": "18091",
                "HOSTNAME": PREV,
                "VERSION": "v3.1.9",
                "CHANGE": "config change: template cache warm-up on boot",
                "BOOT_WORK_MS": "1300",
            },
            2.5,
        )
        real_srv, real_cli = run_pair(
            tmp,
            "real",
            REPRO / "eventloop" / "server.js",
            REPRO / "eventloop" / "client.js",
            {"RUN_MS": "20000", "PORT": "18090", "HOSTNAME": REAL},
            0.7,
        )
    off_prev = wrap.offset_ns(START_PREV, prev_srv[0]["ts_ns"])
    off_real = wrap.offset_ns(START_REAL, real_srv[0]["ts_ns"])
    prev_srv = wrap.shift_pino_time(wrap.shift(prev_srv, off_prev), off_prev)
    prev_cli = wrap.shift(prev_cli, off_prev)
    real_srv = wrap.shift_pino_time(wrap.shift(real_srv, off_real), off_real)
    real_cli = wrap.shift(real_cli, off_real)
    if OUT.exists():
        subprocess.run(["rm", "-rf", str(OUT)], check=True)
    files = {}
    for pod, recs in ((PREV, prev_srv), (REAL, real_srv)):
        rel = f"var/log/pods/{NS}_{pod}_{uid_for(pod)}/reports/0.log"
        p = OUT / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"".join(wrap.cri_lines(recs)))
        files[pod] = rel
    lb = sorted(prev_cli + real_cli, key=lambda r: r["ts_ns"])
    (OUT / f"{LB}.log").write_text("".join(wrap.kubectl_lines(lb)))
    files[LB] = f"{LB}.log"

    prev_n, prev_blocks = server_numbers(prev_srv)
    real_n, real_blocks = server_numbers(real_srv)
    prev_c = client_numbers(prev_cli, prev_blocks)
    real_c = client_numbers(real_cli, real_blocks)
    boot_spike = next((ts for ts, d in pino(prev_srv) if d.get("msg", "").startswith("Event loop lag")), None)
    prev_n["boot_lag_spike_at"] = wrap.fmt_go_nano(boot_spike) if boot_spike else None
    prev_n["boot_lag_spike_before_first_request"] = bool(
        boot_spike
        and prev_n["first_request_completed_at"]
        and boot_spike < wrap.parse_rfc3339(prev_n["first_request_completed_at"])
    )
    expected = {
        "bundle": "decoy",
        "generated_by": "samples/repro/decoy/make_decoy.py",
        "incident": True,
        "entities": {
            PREV: {
                "service": "reports",
                "file": files[PREV],
                "envelope": "containerd CRI",
                "role": "previous pod (decoy)",
            },
            REAL: {
                "service": "reports",
                "file": files[REAL],
                "envelope": "containerd CRI",
                "role": "root cause",
            },
            LB: {
                "service": "ingress-nginx-controller",
                "file": files[LB],
                "envelope": "kubectl logs --timestamps",
                "role": "load balancer view of both pods",
            },
        },
        "root_cause": {
            "rule": "event_loop_block",
            "entity": REAL,
            "onset": real_n["onset_first_block_start"],
            "blocking_route": "/reports/quarterly",
            "blocks": real_n["quarterly_requests"],
            "max_lag_ms": real_n["max_lag_ms"],
            "timeouts_behind_blocks": real_c["timeouts_behind_blocks"],
            "timeouts_total": real_c["timeouts_504"],
            "health_check_timeouts": real_c["health_check_timeouts"],
            "deploy_line": real_n["deploy_line"],
            "deploy_at": real_n["deploy_at"],
        },
        "decoy": {
            "entity": PREV,
            "deploy_line": prev_n["deploy_line"],
            "deploy_at": prev_n["deploy_at"],
            "boot_lag_spike_at": prev_n["boot_lag_spike_at"],
            "boot_lag_ms": prev_n["max_lag_ms"],
            "boot_lag_spike_before_first_request": prev_n["boot_lag_spike_before_first_request"],
            "timeouts_while_previous_pod_served": prev_c["timeouts_504"],
            "why_not_root": "one lag spike during boot, before any request; no request timed out while this pod served",
        },
        "scan": {"exit_code": 1, "says": f"event-loop block in {REAL}; nothing in {PREV}"},
        "servers": {PREV: prev_n, REAL: real_n},
        "load_balancer": {"while_previous_pod_served": prev_c, "while_incident_pod_served": real_c},
        "time_offsets_ns": {PREV: off_prev, REAL: off_real},
    }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    (OUT / "README.md").write_text(readme(expected, files))
    print(json.dumps({"root_cause": expected["root_cause"], "decoy": expected["decoy"]}, indent=1))


if __name__ == "__main__":
    main()
