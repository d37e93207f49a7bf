#!/usr/bin/env python3
"""Run the real Node.js programs in node/ and write their output plus the envelopes built from it.

Each program runs under samples/repro/capture.py's Capture (lines recorded with their arrival
time, as a container runtime does), inside `unshare --uts` with the hostname set to a pod name,
because in Kubernetes os.hostname() -- pino's and bunyan's `hostname` -- is the pod name.

Writes into OUT (samples/formats):
  node/pino-epoch.log      pino 9, default epoch-ms `time`              (stdout, as written)
  node/pino-iso.log        pino 9, pino.stdTimeFunctions.isoTime
  node/pino-http.log       pino-http 10 request-completed lines on a real http server
  node/bunyan.log          bunyan 1.8, stdSerializers (err.stack)
  node/winston.log         winston 3, format.combine(errors, timestamp, json)
  node/heap-oom.stderr.log node --max-old-space-size=16 oom.js: stderr only, as the terminal shows it
  cri/var/log/pods/shop_<pod>_<uid>/checkout/0.log
                           the same OOM run (stdout + stderr) as containerd writes it (wrap.cri_lines)
  kubectl/<pod>.log        `kubectl logs <pod> --timestamps` (no --prefix) of the pino-epoch run
                           (wrap.kubectl_lines: Go RFC3339Nano, trailing zeros trimmed)
and into RAW (samples/repro/formats/raw, kept out of samples/formats so that
`pmortem ingest samples/formats/` reads only real export formats):
  *.jsonl                  the raw captures ({"ts_ns","stream","line"}), input of convert.py
  heap-oom.exit_code       the OOM run's exit code (134 = 128 + SIGABRT)
Usage: node_capture.py OUT RAW
"""
from __future__ import annotations

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # samples/repro: capture.py, wrap.py
from capture import Capture  # noqa: E402
import wrap  # noqa: E402

POD = "checkout-7d9f8b6c4-qx2lp"
NAMESPACE = "shop"
CONTAINER = "checkout"
POD_UID = "5b0c7e52-9a63-4f0e-8f1e-2d7c4a1b9e30"
NODE_DIR = os.path.join(HERE, "node")


def as_pod(cmd: list[str]) -> list[str]:
    """Run cmd with the UTS hostname set to the pod name (needs root; falls back to the real one)."""
    probe = subprocess.run(["unshare", "--uts", "true"], capture_output=True)
    if probe.returncode != 0:
        print("warning: unshare --uts not permitted; hostname stays the machine's", file=sys.stderr)
        return cmd
    return ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', POD, *cmd]


def run(cmd: list[str], raw_path: str) -> tuple[int, list[dict]]:
    rc = Capture(as_pod(cmd), raw_path, cwd=NODE_DIR).start().wait()
    return rc, wrap.load_capture(raw_path)


def write_lines(path: str, lines: list[str]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(ln + "\n" for ln in lines)


def main(out: str, raw: str) -> int:
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True)
    os.makedirs(raw, exist_ok=True)
    for which in ("pino-epoch", "pino-iso", "pino-http", "bunyan", "winston"):
        rc, recs = run(["node", "loggers.js", which], os.path.join(raw, f"{which}.jsonl"))
        if rc != 0:
            sys.exit(f"{which}: exit {rc}")
        write_lines(os.path.join(out, "node", f"{which}.log"), [r["line"] for r in recs if r["stream"] == "stdout"])
        if which == "pino-epoch":
            os.makedirs(os.path.join(out, "kubectl"), exist_ok=True)
            with open(os.path.join(out, "kubectl", f"{POD}.log"), "w", encoding="utf-8") as fh:
                fh.writelines(wrap.kubectl_lines(recs))

    # fatal heap OOM
    env_core = ["sh", "-c", 'ulimit -c 0 && exec "$@"', "sh"]  # no core file from the abort
    rc, recs = run([*env_core, "node", "--max-old-space-size=16", "oom.js"], os.path.join(raw, "heap-oom.jsonl"))
    if rc < 0:  # Popen says -6 (killed by SIGABRT); a shell and the kubelet say 128 + 6
        rc = 128 - rc
    if rc != 134:
        print(f"warning: heap OOM run exited {rc}, expected 134", file=sys.stderr)
    write_lines(os.path.join(out, "node", "heap-oom.stderr.log"), [r["line"] for r in recs if r["stream"] == "stderr"])
    with open(os.path.join(raw, "heap-oom.exit_code"), "w") as fh:
        fh.write(f"{rc}\n")
    cri = os.path.join(out, "cri", "var", "log", "pods", f"{NAMESPACE}_{POD}_{POD_UID}", CONTAINER, "0.log")
    os.makedirs(os.path.dirname(cri), exist_ok=True)
    with open(cri, "wb") as fh:
        fh.writelines(wrap.cri_lines(recs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
