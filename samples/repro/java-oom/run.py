#!/usr/bin/env python3
"""Captures samples/java-oom: a real JVM (Java 17, -Xmx48m, -XX:+ExitOnOutOfMemoryError) whose
/api/cart handler keeps 256 KiB per request in a cache nobody evicts, restarted after each exit
as docker's restart policy does (same container, same json-file log, 2 s then 4 s back-off),
beside a healthy sibling JVM running the same code without the leak, and a storefront client
(pino-shaped JSON lines under `kubectl logs --timestamps`) calling both.

    python3 samples/repro/java-oom/run.py [OUT_DIR] [SECONDS]     (needs java and javac)

The two containers are exported as bare docker json-files without their config.v2.json (what
`docker cp` of the log alone gives): nothing but the container id names them."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from capture import Capture  # noqa: E402
from wrap import docker_lines, kubectl_lines, load_capture  # noqa: E402

LEAK_ID = "a3f9c1d2e4b5" * 5 + "abcd"
HEALTHY_ID = "7e21b0c9d8f6" * 5 + "1234"
CLIENT_POD = "storefront-6b9d5c7f8-xk2p1"


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else HERE.parent.parent / "java-oom")
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20
    work = Path(tempfile.mkdtemp())
    subprocess.run(["javac", "-d", str(work), str(HERE / "Shop.java")], check=True)
    # the restart policy's loop; its own line is not in the container's log (docker writes none)
    sup = (f"n=0; while [ $n -lt 3 ]; do java -Xmx48m -XX:+ExitOnOutOfMemoryError -cp {work} Shop 9101 leak; "
           "echo \"supervisor: exited with $?\" >&2; n=$((n+1)); sleep $((n*2)); done")
    leak = Capture(["bash", "-c", sup], str(work / "leak.jsonl"))
    healthy = Capture(["java", "-Xmx48m", "-cp", str(work), "Shop", "9102"], str(work / "healthy.jsonl"))
    leak.start()
    healthy.start()
    time.sleep(1.5)
    end = time.time() + seconds
    lock = threading.Lock()
    client_log = open(work / "client.jsonl", "w")  # noqa: SIM115

    def client(port: int, seed: int) -> None:
        rnd = random.Random(seed)
        while time.time() < end:
            path = rnd.choice(["/api/cart/1", "/api/products/2", "/health"])
            t0 = time.time()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).read()
                err = None
            except Exception as e:  # noqa: BLE001 - what the client saw is what it logs
                err = str(e)
            rec = {"level": 30 if err is None else 50, "time": int(time.time() * 1000), "pid": 7, "hostname": CLIENT_POD,
                   "msg": "upstream call ok" if err is None else f"upstream call to shop:{port}{path} failed: {err}",
                   "upstream": f"shop:{port}", "responseTime": int((time.time() - t0) * 1000)}
            with lock:
                client_log.write(json.dumps({"ts_ns": time.time_ns(), "stream": "stdout", "line": json.dumps(rec)}) + "\n")
            time.sleep(0.03 if err is None else 0.25)

    threads = [threading.Thread(target=client, args=(9101, i)) for i in range(2)]
    threads.append(threading.Thread(target=client, args=(9102, 9)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client_log.close()
    leak.stop()
    healthy.stop()
    for name, cid in (("leak", LEAK_ID), ("healthy", HEALTHY_ID)):
        recs = [r for r in load_capture(str(work / f"{name}.jsonl")) if not r["line"].startswith("supervisor:")]
        d = out / "var/lib/docker/containers" / cid
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{cid}-json.log").write_text("".join(docker_lines(recs)))
    (out / f"{CLIENT_POD}.log").write_text("".join(kubectl_lines(load_capture(str(work / "client.jsonl")))))
    subprocess.run(["rm", "-rf", str(work)], check=True)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
