#!/usr/bin/env python3
"""Run the repro programs for real and record raw captures.

    scenarios.py OUTDIR [incident|healthy|nearmiss|startups|all]

Each scenario starts the Java translation service, then the campaign "pods"
(one `node app.js` primary each, with its own CPU_COUNT), lets them run, and
stops them. Every process's output goes through capture.Capture, giving
OUTDIR/<scenario>/<name>.capture.jsonl; the campaign workers' spans go to
OUTDIR/<scenario>/<name>.spans.jsonl and the emulated OOM killer's decisions
(ground truth, not a log any pod writes) to OUTDIR/<scenario>/<name>.oom.jsonl.

All campaign pods run under the same MEMORY_LIMIT_MB (2048, the pods' 2Gi
limit). The 48-core pod runs under `nice -n 10`: on this small box all "pods"
share the same few CPUs, and the niceness stands in for the CPU isolation that
separate pods/nodes would have, so the 48-worker pod starves itself rather
than its neighbours.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from capture import Capture  # noqa: E402

JAVA_BUILD = os.environ.get("JAVA_BUILD", os.path.join(HERE, "translation", "build"))
PORT = os.environ.get("TRANSLATION_PORT", "18080")
MEMORY_LIMIT_MB = "2048"

SCENARIOS = {
    # name: (pods [(pod_key, cpu_count, start_delay_s)], duration_s after last start)
    "incident": ([("control8", 8, 2.0), ("control16", 16, 3.0), ("incident48", 48, 5.0)], 180.0),
    "healthy": ([("healthy4", 4, 2.0), ("healthy8", 8, 3.0), ("healthy16", 16, 4.0)], 75.0),
    "nearmiss": ([("nearmiss48", 48, 2.0)], 150.0),
    "startup4": ([("startup4", 4, 2.0)], 8.0),
    "startup8": ([("startup8", 8, 2.0)], 8.0),
    "startup16": ([("startup16", 16, 2.0)], 8.0),
}


def build_java():
    os.makedirs(JAVA_BUILD, exist_ok=True)
    src_dir = os.path.join(HERE, "translation", "src", "com", "zalando", "translation")
    srcs = sorted(os.path.join(src_dir, f) for f in os.listdir(src_dir) if f.endswith(".java"))
    subprocess.run(["javac", "-d", JAVA_BUILD] + srcs, check=True)


def npm_ci():
    camp = os.path.join(HERE, "campaign")
    if os.path.exists(os.path.join(camp, "package-lock.json")) and not os.path.isdir(os.path.join(camp, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=camp, check=True)


def run(outdir, name):
    pods, duration = SCENARIOS[name]
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.remove(os.path.join(d, f))
    java = Capture(["java", "-Duser.timezone=UTC", "-Xmx256m", "-cp", JAVA_BUILD,
                    "com.zalando.translation.TranslationServer"],
                   os.path.join(d, "translation.capture.jsonl"),
                   env={"TZ": "UTC", "PORT": PORT}).start()
    if not java.wait_for("Started TranslationServer", 30):
        raise SystemExit("translation service did not start")
    t0 = time.time()
    caps = []
    for key, cpus, delay in pods:
        time.sleep(max(0.0, t0 + delay - time.time()))
        env = {
            "CPU_COUNT": str(cpus), "MEMORY_LIMIT_MB": MEMORY_LIMIT_MB,
            "SPANS_FILE": os.path.join(d, f"{key}.spans.jsonl"),
            "OOM_LOG": os.path.join(d, f"{key}.oom.jsonl"),
            "TRANSLATION_URL": f"http://127.0.0.1:{PORT}",
            "TRANSLATION_REFRESH_MS": "20000",
            "NODE_ENV": "production",
        }
        if name == "nearmiss":
            # the committed near-miss capture was taken with a 2 s fetch deadline
            env["FETCH_TIMEOUT_MS"] = "2000"
        cmd = ["node", "app.js"]
        if cpus >= 48:
            cmd = ["nice", "-n", "10"] + cmd
        caps.append((key, Capture(cmd, os.path.join(d, f"{key}.capture.jsonl"), env=env,
                                  cwd=os.path.join(HERE, "campaign")).start()))
    try:
        time.sleep(duration)
    finally:
        for _, c in caps:
            c.stop()
        time.sleep(0.5)
        java.stop()
    meta = {"scenario": name, "pods": [{"key": k, "cpu_count": c, "start_delay_s": s} for k, c, s in pods],
            "duration_s": duration, "memory_limit_mb": int(MEMORY_LIMIT_MB)}
    with open(os.path.join(d, "meta.json"), "w") as fh:
        json.dump(meta, fh, indent=2)
    print(f"{name}: " + ", ".join(f"{k}={c.lines} lines" for k, c in caps) + f", translation={java.lines} lines",
          file=sys.stderr)


def main():
    import signal
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    outdir = sys.argv[1]
    which = sys.argv[2:] or ["all"]
    if which == ["all"]:
        which = ["startup4", "startup8", "startup16", "healthy", "nearmiss", "incident"]
    build_java()
    npm_ci()
    for name in which:
        run(outdir, name)


if __name__ == "__main__":
    main()
