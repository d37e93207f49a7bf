"""Capture the event-loop block (shared/cases/other-failure-modes.md #2) for real and wrap it.

Runs server.js (the reports service, pino-style JSON lines) and client.js (a load balancer's view:
health checks, campaign reads with a 1 s upstream timeout, a quarterly report every 4 s) at the
same time under capture.py, shifts both captures by the same offset so the first server line is at
2022-06-14T11:00:00Z, and writes the server as a CRI file under var/log/pods/ and the client as
`kubectl logs --timestamps` output of an ingress pod, into samples/eventloop/.

    python samples/repro/eventloop/make_eventloop.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
OUT = REPRO.parent / "eventloop"
POD, NS, UID = "reports-5d8c7b9f6-k2m4q", "reports", "6f1c2b9e-4d3a-4c55-9a0e-2b7d1e9f8a10"
LB_POD = "ingress-nginx-controller-7c9f8d6b5-p4z8x"
START = "2022-06-14T11:00:00Z"

sys.path.insert(0, str(REPRO))
import wrap  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        srv_raw, cli_raw = Path(tmp) / "server.jsonl", Path(tmp) / "client.jsonl"
        env = ["--env", "RUN_MS=20000", "--env", "PORT=18090", "--env", f"HOSTNAME={POD}"]
        srv = subprocess.Popen([sys.executable, str(REPRO / "capture.py"), "--out", str(srv_raw), *env, "--", "node", str(HERE / "server.js")])
        time.sleep(0.7)
        subprocess.run([sys.executable, str(REPRO / "capture.py"), "--out", str(cli_raw), *env, "--", "node", str(HERE / "client.js")], check=True)
        srv.wait()
        server, client = wrap.load_capture(str(srv_raw)), wrap.load_capture(str(cli_raw))
    off = wrap.offset_ns(START, server[0]["ts_ns"])
    server, client = wrap.shift_pino_time(wrap.shift(server, off), off), wrap.shift(client, off)
    pod_dir = OUT / "var/log/pods" / f"{NS}_{POD}_{UID}" / "reports"
    pod_dir.mkdir(parents=True, exist_ok=True)
    (pod_dir / "0.log").write_bytes(b"".join(wrap.cri_lines(server)))
    (OUT / f"{LB_POD}.log").write_text("".join(wrap.kubectl_lines(client)))
    print(f"wrote {pod_dir / '0.log'} ({len(server)} lines) and {OUT / (LB_POD + '.log')} ({len(client)} lines)")


if __name__ == "__main__":
    main()
