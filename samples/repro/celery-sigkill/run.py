#!/usr/bin/env python3
"""Captures samples/celery-sigkill: a real Celery 5 worker (prefork pool, concurrency 2,
filesystem broker) whose pool processes are SIGKILLed on every 7th job, then a warm shutdown
(SIGTERM to the worker, as a rollout does): its two idle pool processes exit with SIGTERM,
which Celery also logs at ERROR level. Exported as `kubectl logs --timestamps`.

    python3 samples/repro/celery-sigkill/run.py [OUT_DIR] [JOBS]     (pip installs celery in a temp venv)"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from capture import Capture  # noqa: E402
from wrap import kubectl_lines, load_capture  # noqa: E402

POD = "reports-worker-5f7d8c9b6-p4k2n"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent.parent / "celery-sigkill")
    jobs = int(sys.argv[2]) if len(sys.argv) > 2 else 60
    work = Path(tempfile.mkdtemp())
    subprocess.run([sys.executable, "-m", "venv", str(work / "v")], check=True)
    subprocess.run([str(work / "v/bin/pip"), "install", "-q", "celery==5.*"], check=True)
    for d in ("out", "processed", "results"):
        (work / "q" / d).mkdir(parents=True)
    env = {"CELERY_QUEUE_DIR": str(work / "q"), "PYTHONPATH": str(HERE), "PYTHONUNBUFFERED": "1"}
    cap = Capture([str(work / "v/bin/celery"), "-A", "tasks", "worker", "--loglevel=INFO", "--concurrency=2",
                   "--hostname", f"celery@{POD}"], str(work / "worker.jsonl"), env=env, cwd=str(HERE))
    cap.start()
    time.sleep(5)
    send = f"from tasks import render\nimport time\nfor i in range({jobs}):\n    render.delay(i); time.sleep(0.1)\n"
    subprocess.run([str(work / "v/bin/python"), "-c", send], check=True, env={**os.environ, **env}, cwd=str(HERE))
    time.sleep(15)  # the pool finishes what it can; the lost jobs are reported as the pool notices
    cap.stop(grace=20)  # a rollout's SIGTERM: Celery's warm shutdown
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{POD}.log").write_text("".join(kubectl_lines(load_capture(str(work / "worker.jsonl")))))
    subprocess.run(["rm", "-rf", str(work)], check=True)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
