"""Capture memory exhaustion from an unbounded cache (issue 13; other-failure-modes.md #3) for real.

Three pods of catalog-api (catalog.js, Node.js 20) run at the same time, each fed ~40 req/s of
mostly distinct URLs by `repro/pool/loadgen.js`:

* `catalog-...-h7k2m` (heap OOM): unbounded page cache, `node --max-old-space-size=96`: the heap fills,
  V8 prints `FATAL ERROR: ... JavaScript heap out of memory` on stderr and aborts (exit 134).
* `catalog-...-c4x9q` (cgroup-style kill, EMULATED): unbounded cache, `--max-old-space-size=1024`, and
  a watchdog in this builder imitating the memory-cgroup OOM killer: every 50 ms it reads VmRSS from
  /proc/<pid>/status and, above LIMIT_MB, sends SIGKILL. Like the kernel it writes nothing into the
  application's log; the process simply stops (exit 137). Its decision is ground truth in
  expected.json and is turned into the container's `State.OOMKilled` in config.v2.json.
* `catalog-...-p8r5t` (healthy control): same code with CACHE_MAX=300 (bounded), same load.

Envelope: Docker json-file (`var/lib/docker/containers/<id>/<id>-json.log` with a `config.v2.json`
naming the pod as the kubelet's dockershim did). No time shift.

    python samples/repro/heap-oom/make_heapoom.py      # ~2.5 min
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "pool"))
import infra  # noqa: E402
from infra import capture, wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", infra.SAMPLES / "heap-oom"))
NS = "catalog"
LIMIT_MB = float(os.environ.get("LIMIT_MB", 192))
RUN_S = float(os.environ.get("RUN_S", 180))
RATE = os.environ.get("RATE", "40")
PODS = [
    dict(key="heap", pod="catalog-6f8d7c9b5-h7k2m", ip="127.0.0.9", node_args=["--max-old-space-size=96"], cache="0"),
    dict(key="cgroup", pod="catalog-6f8d7c9b5-c4x9q", ip="127.0.0.10", node_args=["--max-old-space-size=1024"], cache="0"),
    dict(key="healthy", pod="catalog-6f8d7c9b5-p8r5t", ip="127.0.0.11", node_args=["--max-old-space-size=96"], cache="300"),
]


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as fh:
            for ln in fh:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
    except OSError:
        return None
    return None


def watchdog(proc, limit_mb, truth, stop):
    """The emulated memory-cgroup OOM killer: SIGKILL when VmRSS > limit. Logs only to `truth`."""
    while not stop.is_set() and proc.poll() is None:
        kb = rss_kb(proc.pid)
        if kb and kb / 1024 > limit_mb:
            os.kill(proc.pid, signal.SIGKILL)
            truth.update(ts_ns=time.time_ns(), pid=proc.pid, rss_mb=round(kb / 1024, 1), limit_mb=limit_mb)
            return
        time.sleep(0.05)


def main() -> None:
    caps, loads, truth, stop = {}, [], {}, threading.Event()
    with tempfile.TemporaryDirectory(prefix="pm13-heap-") as tmp:
        tmp = Path(tmp)
        try:
            for p in PODS:
                caps[p["key"]] = capture.Capture(["node", *p["node_args"], str(HERE / "catalog.js")], str(tmp / f"{p['key']}.jsonl"),
                                                 env={"HOSTNAME": p["pod"], "POD_IP": p["ip"], "PORT": "8080",
                                                      "CACHE_MAX": p["cache"]}).start()
            for p in PODS:
                infra.wait_port(p["ip"], 8080)
            wd = threading.Thread(target=watchdog, args=(caps["cgroup"].proc, LIMIT_MB, truth, stop), daemon=True)
            wd.start()
            for p in PODS:
                loads.append(capture.Capture(["node", str(HERE.parent / "pool" / "loadgen.js")], str(tmp / f"load-{p['key']}.jsonl"),
                                             env={"PORT": "8080", "PATH_TEMPLATE": "/v1/products/{n}?ref=feed-{n}",
                                                  "PHASES": f"{RUN_S}:{RATE}", "MAX_ID": "100000", "TIMEOUT_MS": "5000",
                                                  "USER_AGENT": "feed-exporter/0.9", "TARGET_HOST": p["ip"]}).start())
            end = time.time() + RUN_S + 10
            while time.time() < end and (caps["heap"].proc.poll() is None or caps["cgroup"].proc.poll() is None):
                time.sleep(0.5)
            time.sleep(3.0)
        finally:
            stop.set()
            for c in loads:
                c.stop()
            rcs = {k: c.stop() for k, c in caps.items()}
        recs = {k: wrap.load_capture(str(tmp / f"{k}.jsonl")) for k in caps}
    build(recs, rcs, truth)


MEM_RE = re.compile(r"^Memory usage: rss=([\d.]+)MB heapTotal=([\d.]+)MB heapUsed=([\d.]+)MB .*cache_entries=(\d+)")


def growth(rows):
    """Least-squares slope (MB/s) of (t_s, mb) rows."""
    if len(rows) < 2:
        return None
    n = len(rows)
    mt = sum(t for t, _ in rows) / n
    mv = sum(v for _, v in rows) / n
    den = sum((t - mt) ** 2 for t, _ in rows)
    return round(sum((t - mt) * (v - mv) for t, v in rows) / den, 2) if den else None


def build(recs, rcs, truth) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for p in sorted(OUT.rglob("*"), reverse=True):
        if p.is_file():
            p.unlink()
        elif p.is_dir():
            p.rmdir()
    exit_codes = {k: (128 - rc if rc < 0 else rc) for k, rc in rcs.items()}  # Popen -9 -> 137, -6 -> 134, as a runtime reports
    key, ents = {}, {}
    for p in PODS:
        k, r = p["key"], recs[p["key"]]
        cid = hashlib.sha256(p["pod"].encode()).hexdigest()
        d = OUT / "var/lib/docker/containers" / cid
        d.mkdir(parents=True, exist_ok=True)
        (d / f"{cid}-json.log").write_text("".join(wrap.docker_lines(r)))
        uid = hashlib.md5(p["pod"].encode()).hexdigest()
        uid = f"{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
        died = k != "healthy"
        state = {"Running": not died, "OOMKilled": k == "cgroup", "Dead": False, "Pid": 0 if died else 1,
                 "ExitCode": exit_codes[k] if died else 0,
                 "StartedAt": wrap.fmt_go_nano(r[0]["ts_ns"]),
                 "FinishedAt": wrap.fmt_go_nano(truth["ts_ns"] if k == "cgroup" else r[-1]["ts_ns"]) if died else "0001-01-01T00:00:00Z"}
        (d / "config.v2.json").write_text(json.dumps({
            "ID": cid, "Name": f"/k8s_catalog_{p['pod']}_{NS}_{uid}_0", "Created": wrap.fmt_go_nano(r[0]["ts_ns"]),
            "Config": {"Image": "registry.example.org/catalog/catalog-api:1.14.0",
                       "Labels": {"io.kubernetes.pod.name": p["pod"], "io.kubernetes.pod.namespace": NS,
                                  "io.kubernetes.container.name": "catalog", "io.kubernetes.pod.uid": uid}},
            "State": state, "LogPath": f"/var/lib/docker/containers/{cid}/{cid}-json.log"}, separators=(",", ":")))
        t0 = r[0]["ts_ns"]
        mem = [(rr["ts_ns"], MEM_RE.match(rr["line"])) for rr in r if MEM_RE.match(rr["line"])]
        rss = [((ts - t0) / 1e9, float(m.group(1))) for ts, m in mem]
        heap = [((ts - t0) / 1e9, float(m.group(3))) for ts, m in mem]
        fatal = next((rr for rr in r if rr["line"].startswith("FATAL ERROR:")), None)
        ents[k] = {"pod": p["pod"], "container_id": cid}
        key[k] = {
            "pod": p["pod"], "node_args": " ".join(p["node_args"]), "cache_max": int(p["cache"]),
            "exit_code": exit_codes[k] if died else None,
            "memory_lines": len(mem),
            "rss_first_mb": rss[0][1] if rss else None, "rss_last_mb": rss[-1][1] if rss else None,
            "rss_max_mb": max(v for _t, v in rss) if rss else None,
            "heap_used_last_mb": heap[-1][1] if heap else None,
            "rss_growth_mb_per_s": growth(rss), "heap_used_growth_mb_per_s": growth(heap),
            "cache_entries_last": int(mem[-1][1].group(4)) if mem else None,
            "first_line": infra.iso(t0), "last_line": infra.iso(r[-1]["ts_ns"]),
            "fatal_line": fatal["line"] if fatal else None,
            "fatal_at": infra.iso(fatal["ts_ns"]) if fatal else None,
            "lines_after_last_memory_line": sum(1 for rr in r if mem and rr["ts_ns"] > mem[-1][0]),
        }
    key["cgroup"]["emulated_oom_kill"] = {"at": infra.iso(truth["ts_ns"]), "rss_mb": truth["rss_mb"],
                                          "limit_mb": truth["limit_mb"]} if truth else None
    raw_b, comp_b = infra.bundle_sizes(OUT)
    key["bundle_raw_bytes"], key["bundle_gzip_bytes"] = raw_b, comp_b
    expected = {
        "bundle": "heap-oom",
        "root_cause": "resource_exhaustion",
        "incidents": [
            {"kind": "v8_heap_oom", "entity": ents["heap"], "onset": key["heap"]["first_line"],
             "death": key["heap"]["fatal_at"], "exit_code": key["heap"]["exit_code"],
             "growth_mb_per_s": key["heap"]["heap_used_growth_mb_per_s"]},
            {"kind": "cgroup_oom_kill (emulated)", "entity": ents["cgroup"], "onset": key["cgroup"]["first_line"],
             "death": key["cgroup"]["emulated_oom_kill"]["at"] if truth else None, "exit_code": key["cgroup"]["exit_code"],
             "growth_mb_per_s": key["cgroup"]["rss_growth_mb_per_s"]},
        ],
        "healthy_control": ents["healthy"],
        "key_numbers": key,
    }
    infra.dump_json(OUT / "expected.json", expected)
    readme(expected)
    print(json.dumps(expected, indent=2))


def readme(e) -> None:
    k = e["key_numbers"]
    rows = "\n".join(
        f"| `{k[x]['pod']}` | {x} | `{k[x]['node_args']}`, cache {'unbounded' if not k[x]['cache_max'] else k[x]['cache_max']} "
        f"| {k[x]['rss_first_mb']} -> {k[x]['rss_max_mb']} | {k[x]['rss_growth_mb_per_s']} | {k[x]['heap_used_growth_mb_per_s']} | {k[x]['exit_code']} |"
        for x in ("heap", "cgroup", "healthy"))
    ids = {x: e["incidents"][i]["entity"]["container_id"][:12] for i, x in enumerate(("heap", "cgroup"))}
    ids["healthy"] = e["healthy_control"]["container_id"][:12]
    text = f"""# samples/heap-oom

Memory exhaustion from an unbounded in-process cache (issue 13; `shared/cases/other-failure-modes.md` #3),
captured for real by `python samples/repro/heap-oom/make_heapoom.py` (~2.5 min). `repro/heap-oom/catalog.js`
(catalog-api, Node.js 20) caches every rendered product page (~44 KB) in a `Map` keyed by URL and logs
`Memory usage: rss=.. heapTotal=.. heapUsed=.. external=.. cache_entries=..` every 2 s;
`repro/pool/loadgen.js` sends each pod ~40 req/s of mostly distinct URLs. No time shift.

| file | envelope | pod |
|---|---|---|
| `var/lib/docker/containers/{ids['heap']}…/<id>-json.log` | Docker json-file (+ `config.v2.json` with the kubelet's labels and `State`) | `{k['heap']['pod']}` |
| `var/lib/docker/containers/{ids['cgroup']}…/<id>-json.log` | Docker json-file (+ `config.v2.json`) | `{k['cgroup']['pod']}` |
| `var/lib/docker/containers/{ids['healthy']}…/<id>-json.log` | Docker json-file (+ `config.v2.json`) | `{k['healthy']['pod']}` |

| pod | case | run | RSS MB first -> max | RSS growth MB/s | heapUsed growth MB/s | exit code |
|---|---|---|---|---|---|---|
{rows}

**Emulation (said plainly):** the second pod is not killed by a kernel memory cgroup (this box has no
pod limits). A watchdog thread in the builder reads `VmRSS` from `/proc/<pid>/status` every 50 ms and
sends SIGKILL above {k['cgroup']['emulated_oom_kill']['limit_mb'] if k['cgroup']['emulated_oom_kill'] else '?'} MB, as the memory-cgroup OOM killer would. The process writes nothing
about it (its log just stops); the exit code 137 is the real one of a SIGKILLed process and
`State.OOMKilled: true` in its `config.v2.json` is written from the watchdog's record
(`{json.dumps(k['cgroup']['emulated_oom_kill'])}`).

## What a correct report concludes
- Resource exhaustion (memory), two different deaths with the same run-up (steady growth of RSS and
  heapUsed with `cache_entries`, i.e. an unbounded cache, not a leak in the runtime):
  - `{k['heap']['pod']}`: V8 heap limit (`--max-old-space-size=96`): `{k['heap']['fatal_line']}`
    at {k['heap']['fatal_at']}, exit code {k['heap']['exit_code']}; heapUsed grew {k['heap']['heap_used_growth_mb_per_s']} MB/s.
  - `{k['cgroup']['pod']}`: killed from outside at RSS {k['cgroup']['emulated_oom_kill']['rss_mb'] if k['cgroup']['emulated_oom_kill'] else '?'} MB (cgroup-style OOM kill, exit 137,
    `OOMKilled`), no fatal line of its own; RSS grew {k['cgroup']['rss_growth_mb_per_s']} MB/s.
- Healthy control: `{k['healthy']['pod']}` with the cache bounded to 300 entries serves the same load;
  RSS stays at {k['healthy']['rss_max_mb']} MB at most, growth {k['healthy']['rss_growth_mb_per_s']} MB/s.
- Fix: bound the cache (LRU with a max size/TTL), then size the heap/container limit.

## Key numbers (measured from the captures by the builder; also in `expected.json`)
```
{json.dumps(k, indent=2)}
```
"""
    (OUT / "README.md").write_text(text)


if __name__ == "__main__":
    main()
