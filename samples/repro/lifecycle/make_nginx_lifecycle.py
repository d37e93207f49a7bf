"""Capture nginx's own worker lifecycle notices for real (issue 12: graceful stops vs deaths).

Two runs of the Debian nginx 1.22 package in the foreground, error log to stderr at `notice`, as the
ingress-nginx controller runs it, each captured line by line with its arrival time (capture.py) and
written as `kubectl logs --timestamps` files named after the pod:

* `ingress-nginx-controller-6f7d9c8b4-k2m4q` (graceful only): 4 workers; two reloads (SIGHUP: nginx
  starts new workers, the old ones shut down gracefully and exit with code 0), then a graceful stop
  (SIGQUIT). Every worker exit is a graceful stop: no deaths.
* `ingress-nginx-controller-6f7d9c8b4-w7x9z` (deaths among graceful stops): 4 workers; a reload,
  then 6 workers killed with SIGKILL one after another (`exited on signal 9`, the master respawns
  each at once) and one with SIGSEGV (`exited on signal 11`), another reload, then a fast stop
  (SIGTERM). 7 deaths; every other exit is graceful.

The signals are sent by this script to the worker processes it started (found as the children of
its own nginx master), like the OOM killer or an operator would. Truth in expected.json.

    python samples/repro/lifecycle/make_nginx_lifecycle.py     # ~20 s
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import capture  # noqa: E402
import wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", HERE.parent.parent / "lifecycle"))
GRACEFUL_POD = "ingress-nginx-controller-6f7d9c8b4-k2m4q"
DEATHS_POD = "ingress-nginx-controller-6f7d9c8b4-w7x9z"


def children(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return sorted(int(x) for x in out.split())


def run(pod: str, port: int, script) -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="pm12-nginx-")
    conf = Path(tmp) / "nginx.conf"
    conf.write_text(f"""
worker_processes 4;
pid {tmp}/nginx.pid;
error_log /dev/stderr notice;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{ listen 127.0.0.1:{port}; return 200 "ok\\n"; }}
}}
""")
    raw = Path(tmp) / "raw.jsonl"
    cap = capture.Capture(["nginx", "-p", tmp, "-c", str(conf), "-g", "daemon off;"], str(raw),
                          env={"TZ": "UTC", "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin")})
    cap.start()
    time.sleep(1.0)
    master = cap.proc.pid
    stop_sig = script(master)
    cap.stop(stop_sig, grace=10)
    recs = wrap.load_capture(str(raw))
    shutil.rmtree(tmp, ignore_errors=True)
    (OUT / f"{pod}.log").write_text("".join(wrap.kubectl_lines(recs)))
    return recs


def graceful(master: int) -> signal.Signals:
    for _ in range(2):
        os.kill(master, signal.SIGHUP)
        time.sleep(1.5)
    return signal.SIGQUIT


def deaths(master: int) -> signal.Signals:
    os.kill(master, signal.SIGHUP)
    time.sleep(1.5)
    for _ in range(6):
        os.kill(children(master)[0], signal.SIGKILL)
        time.sleep(0.4)
    os.kill(children(master)[0], signal.SIGSEGV)
    time.sleep(0.5)
    os.kill(master, signal.SIGHUP)
    time.sleep(1.5)
    return signal.SIGTERM


def count(recs: list[dict]) -> dict:
    lines = [r["line"] for r in recs]
    exited = [re.search(r"worker process (\d+) exited (?:with code (\d+)|on signal (\d+))", ln) for ln in lines]
    exited = [m for m in exited if m]
    return {
        "worker_starts": sum(1 for ln in lines if re.search(r"start worker process \d+$", ln)),
        "worker_exits": len(exited),
        "graceful_exits": sum(1 for m in exited if m.group(2) == "0"),
        "deaths": sum(1 for m in exited if m.group(2) != "0"),
        "deaths_by_signal": {s: sum(1 for m in exited if m.group(3) == s) for s in sorted({m.group(3) for m in exited if m.group(3)})},
        "reloads": sum(1 for ln in lines if "(SIGHUP) received" in ln),
        "stop": next((re.search(r"\((SIG\w+)\) received", ln).group(1) for ln in lines
                      if re.search(r"\((SIGQUIT|SIGTERM)\) received", ln)), None),
    }


def main() -> None:
    if not shutil.which("nginx"):
        sys.exit("nginx not installed: apt-get install -y nginx")
    OUT.mkdir(parents=True, exist_ok=True)
    truth = {"bundle": "lifecycle", "generated_by": "samples/repro/lifecycle/make_nginx_lifecycle.py",
             "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
             "pods": {GRACEFUL_POD: count(run(GRACEFUL_POD, 18971, graceful)),
                      DEATHS_POD: count(run(DEATHS_POD, 18972, deaths))}}
    (OUT / "expected.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(json.dumps(truth, indent=2))


if __name__ == "__main__":
    main()
