"""Capture the backpressure / fd-exhaustion failure (shared/cases/other-failure-modes.md #3) for real.

Starts downstream.js (a slow downstream), server.js under `ulimit -n 256` with a 64 MB heap (the
ingest API, pino-style JSON lines) and client.js (20 requests in flight for 12 s), captures the
server with capture.py, shifts it so its first line is at 2022-07-02T03:10:00Z and writes it as
`kubectl logs --timestamps --prefix` output into samples/backpressure/ (gzipped: the EMFILE loop
writes thousands of lines, which is the point).

    python samples/repro/backpressure/make_backpressure.py
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
OUT = REPRO.parent / "backpressure"
POD, CONTAINER = "ingest-api-6c9d8f7b5-t7v2n", "ingest-api"
START = "2022-07-02T03:10:00Z"
RUN_MS = 12000

sys.path.insert(0, str(REPRO))
import wrap  # noqa: E402


def main() -> None:
    env = {**os.environ, "RUN_MS": str(RUN_MS), "PORT": "18095", "DOWNSTREAM_PORT": "18096", "HOSTNAME": POD}
    down = subprocess.Popen(["node", str(HERE / "downstream.js")], env=env)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "server.jsonl"
        srv = subprocess.Popen(
            [sys.executable, str(REPRO / "capture.py"), "--out", str(raw), "--duration", str(RUN_MS / 1000 + 3),
             "--env", f"HOSTNAME={POD}", "--env", "PORT=18095", "--env", "DOWNSTREAM_PORT=18096",
             "--", "bash", "-c", f"ulimit -n 256; exec node --max-old-space-size=64 {HERE / 'server.js'}"],
        )
        time.sleep(0.7)
        subprocess.run(["node", str(HERE / "client.js")], env={**env, "CONNS": "20"}, check=True)
        srv.wait()
        down.kill()
        recs = wrap.load_capture(str(raw))
    off = wrap.offset_ns(START, recs[0]["ts_ns"])
    shifted = wrap.shift_pino_time(wrap.shift(recs, off), off)
    OUT.mkdir(parents=True, exist_ok=True)
    data = "".join(wrap.kubectl_lines(shifted, POD, CONTAINER)).encode()
    (OUT / f"{POD}.log.gz").write_bytes(gzip.compress(data, mtime=0))
    print(f"wrote {OUT / (POD + '.log.gz')} ({len(shifted)} lines)")


if __name__ == "__main__":
    main()
