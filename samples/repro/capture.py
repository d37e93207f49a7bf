#!/usr/bin/env python3
"""Raw capture harness: what a container runtime does with a process's output.

Runs a command, reads its stdout and stderr line by line as the lines arrive,
and records each line with its arrival time (time.time_ns()) and stream:

    {"ts_ns": 1712609700123456789, "stream": "stdout", "line": "Worker 4243 started"}

Usage (CLI):
    capture.py --out raw.jsonl [--cwd DIR] [--env K=V ...] [--duration S] -- cmd args...

Library: Capture(cmd, out_path, env=None, cwd=None).start(); .stop(); .wait().
Pure standard library.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time


class Capture:
    def __init__(self, cmd, out_path, env=None, cwd=None):
        self.cmd = list(cmd)
        self.out_path = out_path
        self.env = dict(os.environ, **(env or {}))
        self.cwd = cwd
        self.proc = None
        self._lock = threading.Lock()
        self._threads = []
        self._fh = None
        self.lines = 0
        self._waiters = []  # (substring, event)

    def start(self):
        self._fh = open(self.out_path, "w", encoding="utf-8")
        self.proc = subprocess.Popen(
            self.cmd, cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            t = threading.Thread(target=self._pump, args=(name, pipe), daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def _pump(self, stream, pipe):
        for raw in iter(pipe.readline, b""):
            ts = time.time_ns()
            line = raw.decode("utf-8", errors="replace")
            if line.endswith("\n"):
                line = line[:-1]
            rec = json.dumps({"ts_ns": ts, "stream": stream, "line": line}, ensure_ascii=False)
            with self._lock:
                self._fh.write(rec + "\n")
                self.lines += 1
                for sub, ev in self._waiters:
                    if sub in line:
                        ev.set()
        pipe.close()

    def wait_for(self, substring, timeout=30.0):
        ev = threading.Event()
        with self._lock:
            self._waiters.append((substring, ev))
        return ev.wait(timeout)

    def stop(self, sig=signal.SIGTERM, grace=5.0):
        """Signal the process (only the process we started), then wait for it."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait()

    def wait(self):
        rc = self.proc.wait()
        for t in self._threads:
            t.join()
        with self._lock:
            self._fh.flush()
            self._fh.close()
        return rc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cwd")
    ap.add_argument("--env", action="append", default=[], help="K=V added to the environment")
    ap.add_argument("--duration", type=float, help="send SIGTERM after this many seconds")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args(argv)
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    env = dict(kv.split("=", 1) for kv in a.env)
    cap = Capture(cmd, a.out, env=env, cwd=a.cwd).start()
    if a.duration:
        time.sleep(a.duration)
        rc = cap.stop()
    else:
        rc = cap.wait()
    print(f"captured {cap.lines} lines -> {a.out} (rc={rc})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
