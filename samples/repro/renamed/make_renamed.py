"""Re-run the event-loop block for real and save its logs the way people save files.

Three reports "pods" run at the same time, each under capture.py with its own load:

* `reports-5d8c7b9f6-k2m4q`: samples/repro/eventloop/server.js (v3.2.0, the quarterly report
  compiles a template synchronously for 1.5 s) with samples/repro/eventloop/client.js: requests
  time out behind every block (the incident);
* `reports-5d8c7b9f6-v7n2x`: a sibling of the same ReplicaSet, samples/repro/decoy/server.js with
  VERSION=v3.2.0 and ordinary traffic only (decoy/light_client.js): healthy;
* `reports-7b6d5c4f8-h6j5w`: a pod of the previous ReplicaSet still serving during the rollout,
  decoy/server.js with VERSION=v3.1.9 and ordinary traffic: healthy.

All captures share one clock and one offset (the incident pod's first line lands at
2022-11-15T08:20:00Z; pino `time` shifted alike). The three clients' lines are merged by time into
the load balancer's log. Files are then named as people name them:

| file | envelope | entity |
|---|---|---|
| `01_ingress-nginx-controller-7c9f8d6b5-p4z8x.log` | kubectl --timestamps | numeric prefix + pod name |
| `02_reports-5d8c7b9f6-v7n2x.log` | kubectl --timestamps | numeric prefix + pod name |
| `reports-old.log` | kubectl --timestamps | hand-renamed, no Kubernetes suffix; pino `hostname` in every line |
| `export.log` | kubectl --timestamps --prefix | name hides the pod; `[pod/<pod>/reports]` prefix + pino `hostname` |

    python samples/repro/renamed/make_renamed.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
OUT = REPRO.parent / "renamed"
sys.path.insert(0, str(REPRO))
sys.path.insert(0, str(REPRO / "decoy"))
import wrap  # noqa: E402
from make_decoy import capture_cmd, client_numbers, server_numbers  # noqa: E402

REAL, SIB, OLD = "reports-5d8c7b9f6-k2m4q", "reports-5d8c7b9f6-v7n2x", "reports-7b6d5c4f8-h6j5w"
LB = "ingress-nginx-controller-7c9f8d6b5-p4z8x"
START = "2022-11-15T08:20:00Z"
FILES = {
    LB: (
        "01_ingress-nginx-controller-7c9f8d6b5-p4z8x.log",
        "kubectl logs --timestamps",
        "numeric prefix; the pod name follows it",
    ),
    SIB: (
        "02_reports-5d8c7b9f6-v7n2x.log",
        "kubectl logs --timestamps",
        "numeric prefix; the pod name follows it",
    ),
    OLD: (
        "reports-old.log",
        "kubectl logs --timestamps",
        "hand-renamed, no Kubernetes suffix; every line's pino `hostname` names the pod",
    ),
    REAL: (
        "export.log",
        "kubectl logs --timestamps --prefix",
        "the name hides the pod; every line's `[pod/<pod>/reports]` prefix and pino `hostname` name it",
    ),
}


def readme(exp: dict) -> str:
    rc = exp["root_cause"]
    rows = "\n".join(
        f"| `{f}` | {v['envelope']} | `{v['entity']}` ({v['service']}) | {v['how']} |"
        for f, v in exp["file_to_entity"].items()
    )
    return f"""# samples/renamed

The event-loop block of `samples/eventloop/`, re-run for real by
`python samples/repro/renamed/make_renamed.py` and saved the way people save files. Three reports
pods ran at the same time: `{REAL}` (`samples/repro/eventloop/server.js` + `client.js`: the
quarterly report blocks the event loop 1.5 s per request), its healthy sibling `{SIB}` and a pod
of the previous ReplicaSet still serving, `{OLD}` (`samples/repro/decoy/server.js`, ordinary
traffic only). The three load generators' lines are merged by time into the load balancer's log.
One offset for all (the incident pod's first line at {START}; pino `time` shifted alike).

| file | envelope | should map to entity | how the entity can be known |
|---|---|---|---|
{rows}

`reports-old.log` may also be reported as entity `reports-old` (service `reports`) if the pino
`hostname` is not used, but it must stay a separate entity from the other two reports pods.
Four distinct entities in all; no file's numeric prefix (`01_`, `02_`) is part of an entity name.

## What a correct report concludes

**Root cause: event-loop block in `{REAL}`** (file `export.log`), by `/reports/quarterly`
requests: {rc["blocks"]} blocks from {rc["onset"]}, up to {rc["max_lag_ms"]} ms of lag,
{rc["timeouts_behind_blocks"]} requests timed out behind them ({rc["health_check_timeouts"]} health
checks). `{SIB}` and `{OLD}` are healthy (no block, no timeouts; any short lag lines (max in `servers`)
are noise of the shared box). `pmortem scan samples/renamed` should exit 1 and name `{REAL}` only.

Decoy: both other pods also log a `Deploying reports-service ...` line at start-up (the sibling
the same v3.2.0 deploy, the old pod v3.1.9); neither has a block.

## Key numbers (measured from the shifted captures by the builder; also in `expected.json`)

```json
{json.dumps({k: exp[k] for k in ("root_cause", "servers", "load_balancer", "load_balancer_by_upstream_not_in_files")}, indent=2)}
```
"""


def main() -> None:
    pods = {
        REAL: (REPRO / "eventloop" / "server.js", REPRO / "eventloop" / "client.js", {"PORT": "18090"}),
        SIB: (
            REPRO / "decoy" / "server.js",
            REPRO / "decoy" / "light_client.js",
            {"PORT": "18092", "VERSION": "v3.2.0", "CHANGE": "template change: quarterly report layout"},
        ),
        OLD: (
            REPRO / "decoy" / "server.js",
            REPRO / "decoy" / "light_client.js",
            {"PORT": "18093", "VERSION": "v3.1.9", "CHANGE": "config change: template cache warm-up on boot"},
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        srv = {}
        for pod, (server, _, env) in pods.items():
            srv[pod] = subprocess.Popen(
                capture_cmd(tmp, f"{pod}-server", {**env, "RUN_MS": "20000", "HOSTNAME": pod}, server)
            )
        time.sleep(0.7)
        cli = [
            subprocess.Popen(capture_cmd(tmp, f"{pod}-client", {**env, "RUN_MS": "20000"}, client))
            for pod, (_, client, env) in pods.items()
        ]
        for p in cli + list(srv.values()):
            if p.wait() != 0:
                raise SystemExit("a capture failed")
        servers = {pod: wrap.load_capture(str(tmp / f"{pod}-server.jsonl")) for pod in pods}
        clients = {pod: wrap.load_capture(str(tmp / f"{pod}-client.jsonl")) for pod in pods}
    off = wrap.offset_ns(START, servers[REAL][0]["ts_ns"])
    servers = {p: wrap.shift_pino_time(wrap.shift(r, off), off) for p, r in servers.items()}
    clients = {p: wrap.shift(r, off) for p, r in clients.items()}
    lb = sorted((r for rs in clients.values() for r in rs), key=lambda r: r["ts_ns"])
    if OUT.exists():
        subprocess.run(["rm", "-rf", str(OUT)], check=True)
    OUT.mkdir(parents=True)
    (OUT / FILES[LB][0]).write_text("".join(wrap.kubectl_lines(lb)))
    (OUT / FILES[SIB][0]).write_text("".join(wrap.kubectl_lines(servers[SIB])))
    (OUT / FILES[OLD][0]).write_text("".join(wrap.kubectl_lines(servers[OLD])))
    (OUT / FILES[REAL][0]).write_text("".join(wrap.kubectl_lines(servers[REAL], REAL, "reports")))

    nums, blocks = {}, {}
    for pod, recs in servers.items():
        nums[pod], blocks[pod] = server_numbers(recs)
    lb_all = client_numbers(lb, blocks[REAL])
    per_client = {pod: client_numbers(recs, blocks[pod]) for pod, recs in clients.items()}
    expected = {
        "bundle": "renamed",
        "generated_by": "samples/repro/renamed/make_renamed.py",
        "incident": True,
        "file_to_entity": {
            FILES[p][0]: {
                "entity": p,
                "service": p.split("-")[0] if p != LB else "ingress-nginx-controller",
                "envelope": FILES[p][1],
                "how": FILES[p][2],
                **({"acceptable_fallback_entity": "reports-old"} if p == OLD else {}),
            }
            for p in FILES
        },
        "distinct_entities": 4,
        "root_cause": {
            "rule": "event_loop_block",
            "entity": REAL,
            "file": FILES[REAL][0],
            "onset": nums[REAL]["onset_first_block_start"],
            "blocking_route": "/reports/quarterly",
            "blocks": nums[REAL]["quarterly_requests"],
            "max_lag_ms": nums[REAL]["max_lag_ms"],
            "timeouts_behind_blocks": per_client[REAL]["timeouts_behind_blocks"],
            "timeouts_total_at_load_balancer": lb_all["timeouts_504"],
            "health_check_timeouts": lb_all["health_check_timeouts"],
        },
        "scan": {"exit_code": 1, "says": f"event-loop block in {REAL}"},
        "healthy_entities": [SIB, OLD],
        "servers": nums,
        "load_balancer": lb_all,
        "load_balancer_by_upstream_not_in_files": per_client,
        "time_offset_ns": off,
    }
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    (OUT / "README.md").write_text(readme(expected))
    print(json.dumps(expected["root_cause"], indent=1))
    print(
        {p: (n["lag_lines"], n["max_lag_ms"], n["requests_completed"]) for p, n in nums.items()},
        {p: c["timeouts_504"] for p, c in per_client.items()},
    )


if __name__ == "__main__":
    main()
