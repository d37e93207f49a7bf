"""Capture a graceful rollout and a crashing rollout of the same cluster service, for real.

Runs samples/repro/graceful/service.js (Node.js 20 `cluster` orders service, no dependencies) as
three "pods" per run, with load.js sending traffic, under capture.py (each line stamped on arrival):

* run `graceful`: old pods A and B (v2.7.0) serve traffic; the new ReplicaSet's pod N (v2.8.0)
  starts; A's endpoint is removed and its primary gets SIGTERM (what the kubelet does in a
  rollout): its http workers drain their in-flight requests and exit 0, its outbox worker dies
  of SIGTERM (no handler), the primary exits 0. B keeps serving (the healthy sibling). At the end
  the capture window closes (B and N are SIGKILLed as a process group so they log nothing more:
  a `kubectl logs` taken at that moment).
* run `crash`: the same, but the new pod runs with CRASH_ON_BAD_REQUEST=1 and a client sends it
  an order with qty=-1 every 2.5 s: the worker throws an uncaught TypeError and exits 1, the
  primary replaces it.

Each run is shifted by one offset (bundle start - first captured line) and written to
samples/graceful/ and samples/graceful-vs-crash/ (CRI file, kubectl --timestamps --prefix,
kubectl --timestamps, plus events.json derived from the captured SIGTERM/start times). The
READMEs' numbers and expected.json are measured from the shifted captures.

    python samples/repro/graceful/make_graceful.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
SAMPLES = REPRO.parent
sys.path.insert(0, str(REPRO))
import wrap  # noqa: E402
from capture import Capture  # noqa: E402

NS, CTR = "orders", "orders"
OLD_A, OLD_B = "orders-6d5f8b7c9-x7k2p", "orders-6d5f8b7c9-m4q8r"
NEW = {"graceful": "orders-7c8d9f6b5-z9w4n", "crash": "orders-7c8d9f6b5-r2t6v"}
NODES = {
    OLD_A: "ip-10-0-5-11",
    OLD_B: "ip-10-0-5-12",
    NEW["graceful"]: "ip-10-0-5-13",
    NEW["crash"]: "ip-10-0-5-13",
}
START = {"graceful": "2022-09-20T14:00:00Z", "crash": "2022-09-21T09:30:00Z"}
OUTDIR = {"graceful": SAMPLES / "graceful", "crash": SAMPLES / "graceful-vs-crash"}
PORTS = {"A": 18101, "B": 18102, "N": 18103}
SEC = 1_000_000_000


def uid_for(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "pmortem-sample/" + name))


def start(cmd, out, env, wait_for=None):
    """Capture.start(), registering the wait_for waiter at once (Capture.wait_for registers late
    and misses a line that arrived before the call)."""
    cap = Capture(cmd, out, env=env)
    ev = threading.Event()
    if wait_for:
        cap._waiters.append((wait_for, ev))
    cap.start()
    cap.ready = ev
    return cap


def killpg(cap: Capture) -> None:
    """End the capture window: SIGKILL the pod's process group (only processes this script started)."""
    try:
        os.killpg(cap.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    cap.wait()


def run(kind: str, tmp: Path) -> dict:
    crash = kind == "crash"
    stop_file = tmp / "stopped"
    stop_file.write_text(f"{PORTS['N']}\n")
    svc = str(HERE / "service.js")
    caps = {}
    for key, version in (("A", "2.7.0"), ("B", "2.7.0")):
        caps[key] = start(
            ["node", svc],
            str(tmp / f"{key}.jsonl"),
            {"PORT": str(PORTS[key]), "WORKERS": "2", "VERSION": version},
            "listening on",
        )
    for key in ("A", "B"):
        caps[key].ready.wait(15)
    time.sleep(0.5)
    load = Capture(
        ["node", str(HERE / "load.js")],
        str(tmp / "load.jsonl"),
        env={
            "PORTS": ",".join(str(p) for p in PORTS.values()),
            "INTERVAL_MS": "40",
            "STOP_FILE": str(stop_file),
        },
    ).start()
    time.sleep(6)
    env_n = {"PORT": str(PORTS["N"]), "WORKERS": "2", "VERSION": "2.8.0"}
    if crash:
        env_n["CRASH_ON_BAD_REQUEST"] = "1"
    caps["N"] = start(["node", svc], str(tmp / "N.jsonl"), env_n, "listening on")
    caps["N"].ready.wait(15)
    time.sleep(0.3)
    stop_file.write_text("")  # N is Ready: its endpoint joins the Service
    bad = None
    if crash:
        bad = Capture(
            ["node", str(HERE / "load.js")],
            str(tmp / "bad.jsonl"),
            env={
                "PORTS": str(PORTS["N"]),
                "INTERVAL_MS": "100000",
                "BAD_PORT": str(PORTS["N"]),
                "BAD_EVERY_MS": "2500",
                "BAD_START_MS": "1500",
            },
        ).start()
    time.sleep(3)
    stop_file.write_text(f"{PORTS['A']}\n")  # rollout: A's endpoint removed ...
    caps["A"].proc.send_signal(signal.SIGTERM)  # ... and the kubelet sends SIGTERM to PID 1
    rc_a = caps["A"].wait()
    time.sleep(12)
    for c in [load, bad, caps["B"], caps["N"]]:
        if c is not None:
            killpg(c)
    recs = {k: wrap.load_capture(c.out_path) for k, c in caps.items()}
    return {
        "recs": recs,
        "rc_a": rc_a,
        "load": wrap.load_capture(load.out_path),
        "bad": wrap.load_capture(bad.out_path) if bad else [],
    }


RE_EXIT = re.compile(r"^Worker (\d+) exited \(code: (\S+), signal: (\S+)\)$")
RE_START = re.compile(r"^(?:Outbox w|W)orker (\d+) started")
RE_REQ = re.compile(r"^(GET|POST) (\S+) (\d{3}) (\d+)ms pid=\d+$")


def measure(recs: list[dict]) -> dict:
    lines = [r["line"] for r in recs]
    sigterm = next((r for r in recs if "received SIGTERM, stopping" in r["line"]), None)
    exits = [(r, RE_EXIT.match(r["line"])) for r in recs]
    exits = [(r, m) for r, m in exits if m]
    graceful = [(r, m) for r, m in exits if sigterm and r["ts_ns"] >= sigterm["ts_ns"]]
    crashes = [(r, m) for r, m in exits if not (sigterm and r["ts_ns"] >= sigterm["ts_ns"])]
    statuses = [int(m.group(3)) for x in lines if (m := RE_REQ.match(x))]
    c = {
        "first_line": wrap.fmt_go_nano(recs[0]["ts_ns"]),
        "last_line": wrap.fmt_go_nano(recs[-1]["ts_ns"]),
        "active_seconds": round((recs[-1]["ts_ns"] - recs[0]["ts_ns"]) / SEC, 3),
        "worker_starts": sum(1 for x in lines if RE_START.match(x)),
        "worker_exits": len(exits),
        "exits_during_shutdown": len(graceful),
        "exits_during_shutdown_code0": sum(1 for _, m in graceful if m.group(2) == "0"),
        "exits_during_shutdown_sigterm": sum(1 for _, m in graceful if m.group(3) == "SIGTERM"),
        "crash_exits": len(crashes),
        "crash_exit_codes": sorted({m.group(2) for _, m in crashes}),
        "uncaught_type_errors": sum(1 for x in lines if x.startswith("TypeError: ")),
        "requests_logged": len(statuses),
        "requests_5xx": sum(1 for s in statuses if s >= 500),
        "requests_4xx": sum(1 for s in statuses if 400 <= s < 500),
        "in_flight_drained": sum(
            int(m.group(1)) for x in lines if (m := re.search(r"draining (\d+) in-flight", x))
        ),
    }
    if sigterm:
        c["sigterm_at"] = wrap.fmt_go_nano(sigterm["ts_ns"])
        c["primary_exited_cleanly"] = any(x == "All workers exited, primary shutting down" for x in lines)
    if crashes:
        c["first_crash_at"] = wrap.fmt_go_nano(crashes[0][0]["ts_ns"])
        c["last_crash_at"] = wrap.fmt_go_nano(crashes[-1][0]["ts_ns"])
        c["crashes_per_minute_over_active_span"] = round(len(crashes) / (c["active_seconds"] / 60), 2)
        first_err = next(r for r in recs if r["line"].startswith("TypeError: "))
        c["error_line"] = first_err["line"]
    return c


def event(obj_kind, name, reason, message, ts, component, host=None, typ="Normal"):
    return {
        "apiVersion": "v1",
        "count": 1,
        "eventTime": None,
        "firstTimestamp": wrap.fmt_seconds(ts),
        "involvedObject": {
            "apiVersion": "v1" if obj_kind == "Pod" else "apps/v1",
            "kind": obj_kind,
            "name": name,
            "namespace": NS,
            "uid": uid_for(name),
        },
        "kind": "Event",
        "lastTimestamp": wrap.fmt_seconds(ts),
        "message": message,
        "metadata": {
            "creationTimestamp": wrap.fmt_seconds(ts),
            "name": f"{name}.{ts:x}",
            "namespace": NS,
            "resourceVersion": str((ts // 1_000_000) % 9_000_000 + 1_000_000),
            "uid": uid_for(f"ev/{name}/{reason}/{ts}"),
        },
        "reason": reason,
        "reportingComponent": "",
        "reportingInstance": "",
        "source": {"component": component, "host": host} if host else {"component": component},
        "type": typ,
    }


def events(new_pod: str, new_first: int, sigterm_ts: int) -> dict:
    new_rs, old_rs = new_pod.rsplit("-", 1)[0], OLD_A.rsplit("-", 1)[0]
    items = [
        event(
            "Deployment",
            "orders",
            "ScalingReplicaSet",
            f"Scaled up replica set {new_rs} to 1",
            new_first - 3 * SEC,
            "deployment-controller",
        ),
        event(
            "Pod",
            new_pod,
            "Scheduled",
            f"Successfully assigned {NS}/{new_pod} to {NODES[new_pod]}",
            new_first - 3 * SEC,
            "default-scheduler",
        ),
        event(
            "Pod",
            new_pod,
            "Pulled",
            'Container image "registry.example.org/shop/orders:2.8.0" already present on machine',
            new_first - 1 * SEC,
            "kubelet",
            NODES[new_pod],
        ),
        event(
            "Pod",
            new_pod,
            "Created",
            "Created container orders",
            new_first - 1 * SEC,
            "kubelet",
            NODES[new_pod],
        ),
        event(
            "Pod",
            new_pod,
            "Started",
            "Started container orders",
            new_first - 1 * SEC,
            "kubelet",
            NODES[new_pod],
        ),
        event(
            "Deployment",
            "orders",
            "ScalingReplicaSet",
            f"Scaled down replica set {old_rs} to 1",
            sigterm_ts - 1 * SEC,
            "deployment-controller",
        ),
        event("Pod", OLD_A, "Killing", "Stopping container orders", sigterm_ts, "kubelet", NODES[OLD_A]),
    ]
    items.sort(key=lambda e: e["firstTimestamp"])
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def write_bundle(kind: str, res: dict) -> None:
    out = OUTDIR[kind]
    new_pod = NEW[kind]
    recs = res["recs"]
    first = min(r[0]["ts_ns"] for r in recs.values())
    off = wrap.offset_ns(START[kind], first)
    sh = {k: wrap.shift(v, off) for k, v in recs.items()}
    pods = {"A": OLD_A, "B": OLD_B, "N": new_pod}
    cri_rel = f"var/log/pods/{NS}_{OLD_A}_{uid_for(OLD_A)}/{CTR}/0.log"
    files = {
        "A": (cri_rel, "containerd CRI file", b"".join(wrap.cri_lines(sh["A"]))),
        "B": (
            f"{OLD_B}.log",
            "kubectl logs --timestamps --prefix",
            "".join(wrap.kubectl_lines(sh["B"], OLD_B, CTR)).encode(),
        ),
        "N": (f"{new_pod}.log", "kubectl logs --timestamps", "".join(wrap.kubectl_lines(sh["N"])).encode()),
    }
    if out.exists():
        subprocess.run(["rm", "-rf", str(out)], check=True)
    for rel, _, data in files.values():
        p = out / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    m = {pods[k]: measure(v) for k, v in sh.items()}
    sigterm_ts = next(r["ts_ns"] for r in sh["A"] if "received SIGTERM, stopping" in r["line"])
    (out / "events.json").write_text(
        json.dumps(events(new_pod, sh["N"][0]["ts_ns"], sigterm_ts), indent=2) + "\n"
    )
    load = wrap.shift(res["load"] + res["bad"], off)
    client = {
        "requests_answered": sum(1 for r in load if re.search(r" \d{3} \d+ms$", r["line"])),
        "client_errors": sorted({r["line"].split()[-1] for r in load if " ERR " in r["line"]}),
        "client_error_count": sum(1 for r in load if " ERR " in r["line"]),
    }
    crash_pod = m[new_pod] if kind == "crash" else None
    expected = {
        "bundle": out.name,
        "generated_by": "samples/repro/graceful/make_graceful.py",
        "incident": kind == "crash",
        "entities": {
            pods[k]: {
                "service": "orders",
                "node": NODES[pods[k]],
                "file": files[k][0],
                "envelope": files[k][1],
            }
            for k in pods
        },
        "not_deaths": {
            OLD_A: {
                "graceful_exits": m[OLD_A]["exits_during_shutdown"],
                "code0": m[OLD_A]["exits_during_shutdown_code0"],
                "signal_sigterm": m[OLD_A]["exits_during_shutdown_sigterm"],
                "sigterm_at": m[OLD_A]["sigterm_at"],
            }
        },
        "healthy_entities": [OLD_B] + ([new_pod] if kind == "graceful" else []),
        "root_cause": None
        if kind == "graceful"
        else {
            "rule": "exit_precursor",
            "entity": new_pod,
            "onset": crash_pod["first_crash_at"],
            "precursor": crash_pod["error_line"],
            "crash_exits": crash_pod["crash_exits"],
            "exit_codes": crash_pod["crash_exit_codes"],
        },
        "worker_deaths_total": sum(v["crash_exits"] for v in m.values()),
        "scan": {
            "exit_code": 0 if kind == "graceful" else 1,
            "says": "no incident" if kind == "graceful" else f"crash loop in {new_pod}",
        },
        "per_entity": m,
        "client_view_not_in_bundle": client,
        "time_offset_ns": off,
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=2) + "\n")
    (out / "README.md").write_text(readme(kind, out, files, pods, expected))
    print(f"wrote {out}: " + ", ".join(f"{pods[k]}={len(v)} lines" for k, v in sh.items()))


def readme(kind: str, out: Path, files: dict, pods: dict, exp: dict) -> str:
    m = exp["per_entity"]
    a, b, n = pods["A"], pods["B"], pods["N"]
    rows = "\n".join(
        f"| `{files[k][0]}` | {files[k][1]} | `{pods[k]}` | {NODES[pods[k]]} | {role} |"
        for k, role in (
            ("A", "old ReplicaSet, stopped by the rollout (SIGTERM)"),
            ("B", "old ReplicaSet, healthy sibling, keeps serving"),
            ("N", "new ReplicaSet" + (", crashes on bad orders" if kind == "crash" else ", healthy")),
        )
    )
    if kind == "graceful":
        story = (
            f"A rollout of the orders service (`samples/repro/graceful/service.js`, a Node.js 20 `cluster` "
            f"service: 2 http workers + 1 outbox worker per pod). The new ReplicaSet's pod `{n}` (v2.8.0) "
            f"starts and serves; then `{a}`'s endpoint is removed and its primary gets SIGTERM: its http "
            f"workers drain their in-flight requests and exit with code 0, its outbox worker (no SIGTERM "
            f"handler) exits with signal SIGTERM, and the primary exits 0. `{b}` is a healthy sibling."
        )
        verdict = (
            f"**No incident.** Three worker exits in `{a}`, all after its primary logged "
            f"`received SIGTERM` ({m[a]['exits_during_shutdown_code0']} with code 0, "
            f"{m[a]['exits_during_shutdown_sigterm']} with signal SIGTERM): a graceful stop, not deaths, "
            f"no respawn, no error line, no 5xx. No death spiral, no crash loop, no exit precursor. "
            f"`pmortem scan samples/graceful` should exit 0 and say nothing is wrong; "
            f"`pmortem report` should say no incident was found."
        )
    else:
        story = (
            f"The same rollout of the same service, but the new ReplicaSet's pod `{n}` runs with the bug "
            f"switched on (`CRASH_ON_BAD_REQUEST=1`): a client sends an order with `qty=-1` every 2.5 s, "
            f"the worker reads `order.items[0].sku` of an empty order, the TypeError is not caught, Node "
            f"prints the stack to stderr and the worker exits 1; the primary replaces it at once. "
            f"Meanwhile `{a}` is stopped gracefully exactly as in `samples/graceful/`, and `{b}` stays healthy."
        )
        rc = exp["root_cause"]
        verdict = (
            f"**Incident: crash loop in `{n}`** from {rc['onset']}: {rc['crash_exits']} worker exits with "
            f"code 1, each right after `{rc['precursor']}` (the exit precursor). The "
            f"{m[a]['exits_during_shutdown']} exits in `{a}` (code 0 / SIGTERM after `received SIGTERM`) "
            f"are a graceful stop and must NOT be counted as deaths: total deaths = "
            f"{exp['worker_deaths_total']}, all in `{n}`. `{b}` is healthy. `pmortem scan` should exit "
            f"non-zero and point at `{n}`."
        )
    return f"""# samples/{out.name}

{story}

Captured for real by `python samples/repro/graceful/make_graceful.py` (every line printed by the
program, stamped on arrival by `capture.py`); the run is shifted by one offset so its first line is
at {START[kind]} (offset {exp["time_offset_ns"]} ns). `events.json` (kubectl get events -o json) is
derived from the captured times: ScalingReplicaSet, the new pod's Scheduled/Pulled/Created/Started,
and `Killing` for `{a}` at the moment its primary got SIGTERM. The window closes with a SIGKILL of
the still-running pods' process groups, so they log nothing more (a `kubectl logs` taken then).

| file | envelope | pod | node | role |
|---|---|---|---|---|
{rows}
| `events.json` | kubectl get events -o json (List) | | | rollout events |

All pods: namespace `orders`, container `orders`, service `orders`.

## What a correct report concludes

{verdict}

Decoy: the exit lines of a graceful stop (`Worker N exited (code: 0, signal: null)`,
`Worker N exited (code: null, signal: SIGTERM)`) use the same phrasing as crash exits; only the
exit code/signal and the preceding `received SIGTERM` tell them apart.

## Key numbers (measured from the captures by the builder; also in `expected.json`)

```json
{
        json.dumps(
            {
                "root_cause": exp["root_cause"],
                "not_deaths": exp["not_deaths"],
                "worker_deaths_total": exp["worker_deaths_total"],
                "scan": exp["scan"],
                "per_entity": exp["per_entity"],
                "client_view_not_in_bundle": exp["client_view_not_in_bundle"],
            },
            indent=2,
        )
    }
```
"""


def main() -> None:
    kinds = sys.argv[1:] or ["graceful", "crash"]
    for kind in kinds:
        with tempfile.TemporaryDirectory() as tmp:
            res = run(kind, Path(tmp))
            write_bundle(kind, res)


if __name__ == "__main__":
    main()
