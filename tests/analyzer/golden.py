"""Golden events, cut from the captured campaign/translation samples (messages verbatim), with
timestamps laid out so the expected numbers can be computed independently in the tests."""

from __future__ import annotations

import datetime as dt
import json

from pmortem.db import connect

T0 = dt.datetime(2022, 4, 8, 20, 56, 19, tzinfo=dt.UTC)  # incident pod start
NEAR = dt.datetime(2022, 4, 6, 10, 49, 0, tzinfo=dt.UTC)
POD = "campaign-7f9c6d5b8-x2k9p"
CTRL = "campaign-7f9c6d5b8-m4h2t"
NEAR_POD = "campaign-7f9c6d5b8-rh4cl"
NEXT_POD = "campaign-7f9c6d5b8-kl8c5"
HOSTILE = ("Worker evil (pid: 999) died <script>alert(1)</script> [x](javascript:alert(1)) ``` `` %%{init}%% --> "
           "DATABASE_URL=postgres://app:hunter2@db.internal/app Authorization: Bearer abcdefghijklmnopqrstuv | # H")

COLS = ["source_id", "ts", "line_no", "service", "namespace", "pod", "container", "host", "pid", "kind", "message",
        "attrs", "trace_id", "span_id", "cpu_count", "exit_code", "signal", "error_class", "status", "duration_ms",
        "route", "peer", "level"]


def s(sec: float, base: dt.datetime = T0) -> dt.datetime:
    return base + dt.timedelta(seconds=sec)


def build_rows() -> tuple[list[dict], dict]:
    rows: list[dict] = []
    line = {1: 0, 2: 0, 3: 0, 4: 0, 5: 0, 6: 0}

    def add(src, ts, kind, message, **kw):
        line[src] += 1
        r = dict.fromkeys(COLS)
        r.update(source_id=src, ts=ts, line_no=line[src], kind=kind, message=message, attrs=json.dumps(kw.pop("attrs", {})))
        r.update(kw)
        rows.append(r)
        return r

    camp = dict(service="campaign", namespace="campaign", container="campaign")
    # 1: history (Loki): 12 normal starts 4/8/16 cores, the near miss (48) and its replacement
    day = dt.datetime(2022, 3, 20, 9, 0, tzinfo=dt.UTC)
    for i, cores in enumerate([4, 8, 16, 8, 4, 16, 8, 16, 4, 8, 16, 8]):
        add(1, day + dt.timedelta(days=i % 10, hours=i), "cpu_count", f"Number of CPUs: {cores}",
            pod=f"campaign-7f9c6d5b8-h{i:04d}", host=f"node-{cores}", cpu_count=cores, **camp)
    add(1, NEAR, "cpu_count", "Number of CPUs: 48", pod=NEAR_POD, host="ip-10-0-3-17", cpu_count=48, **camp)
    for k in range(6):
        add(1, s(2 + k * 0.5, NEAR), "worker_exit", f"Worker fragment (pid: {500 + k}) died (code: null, signal: SIGKILL), restarting",
            pod=NEAR_POD, host="ip-10-0-3-17", pid=500 + k, signal="SIGKILL", level="warn", **camp)
    add(1, s(40, NEAR), "cpu_count", "Number of CPUs: 16", pod=NEXT_POD, host="ip-10-0-2-31", cpu_count=16, **camp)
    # 2: incident pod's own kubectl log
    add(2, T0, "cpu_count", "Number of CPUs: 48", pod=POD, cpu_count=48, **camp)
    pid = 11230
    starts, exits = [], []
    for k in range(4):  # initial forks
        pid += 1
        starts.append(add(2, s(0.2 + 0.1 * k), "worker_start", f"Worker {pid} started", pod=POD, pid=pid, **camp))
        add(2, s(0.25 + 0.1 * k), "dependency_call", "Fetching translations from http://translation.translation.svc:8080/translations?lang=de",
            pod=POD, peer="translation.translation.svc", route="/translations", **camp)
    # deaths: second 3 has 5, second 4 has 3, second 6 has 2, then 3/s for 6 s while the dependency
    # is quiet; each respawned 0.05 s later
    death_times = [3.0, 3.1, 3.2, 3.3, 3.4, 4.0, 4.2, 4.4, 6.0, 6.5] + [8.0 + k / 3 for k in range(18)]
    alive = [r["pid"] for r in starts]
    for j, t in enumerate(death_times):
        victim = alive.pop(0)
        msg = HOSTILE if j == 0 else f"Worker fragment (pid: {victim}) died (code: null, signal: SIGKILL), restarting"
        exits.append(add(2, s(t), "worker_exit", msg, pod=POD, pid=victim, signal="SIGKILL", level="warn", **camp))
        pid += 1
        alive.append(pid)
        starts.append(add(2, s(t + 0.05), "worker_start", f"Worker {pid} started", pod=POD, pid=pid, **camp))
        add(2, s(t + 0.06), "dependency_call", "Fetching translations from http://translation.translation.svc:8080/translations?lang=de",
            pod=POD, peer="translation.translation.svc", route="/translations", **camp)
    # 3: control pod (8 cores), CRI file: starts and calls, no deaths
    add(3, s(-60), "cpu_count", "Number of CPUs: 8", pod=CTRL, host="ip-10-0-1-42", cpu_count=8, **camp)
    for k in range(2):
        add(3, s(-59 + k), "worker_start", f"Worker {700 + k} started", pod=CTRL, host="ip-10-0-1-42", pid=700 + k, **camp)
        add(3, s(-58.9 + k), "dependency_call", "Fetching translations from http://translation.translation.svc:8080/translations?lang=de",
            pod=CTRL, host="ip-10-0-1-42", peer="translation.translation.svc", route="/translations", **camp)
    # 4: translation service logback file (no metadata): server errors right after deaths 1, 2 and 9
    server = []
    for j, (d, tr) in enumerate([(0, "aa" * 16), (1, "bb" * 16), (8, "cc" * 16)]):
        t = exits[d]["ts"] + dt.timedelta(seconds=0.3)
        msg = (f"{t:%Y-%m-%d %H:%M:%S}.000 [pool-1-thread-{j}] ERROR c.z.t.TranslationHandler - Failed to write response for "
               f"GET /translations?lang=de after 435ms client=10.0.130.7:4534{j} trace={tr}\n"
               "java.lang.IllegalStateException: Response is closed")
        server.append(add(4, t, "error", msg, error_class="response_closed", level="error"))
    # 5: client spans: two with the server's trace ids (context cancelled), one without (read timeout)
    spans = []
    for j, (tr, cls, d) in enumerate([("aa" * 16, "context_cancelled", 0), ("bb" * 16, "context_cancelled", 1), ("dd" * 16, "read_timeout", 8)]):
        end = exits[d]["ts"] + dt.timedelta(seconds=0.1)
        spans.append(add(5, end - dt.timedelta(milliseconds=400), "span", "GET /translations", service="campaign-service",
                         namespace="campaign", pod=POD, host="ip-10-0-3-17", trace_id=tr, span_id=f"{j:016x}", status=2,
                         duration_ms=400.0, error_class=cls, peer="translation-service", route="GET /translations",
                         attrs={"span_kind": "client", "status_message": cls.replace("_", " ")}))
    # 6: pods.json: CPU limits
    for p, host in [(POD, "ip-10-0-3-17"), (CTRL, "ip-10-0-1-42")]:
        add(6, s(-70), "pod_spec", None, pod=p, host=host, attrs={"cpu_limit": 1.0, "cpu_request": 1.0, "memory_limit": 2147483648}, **camp)
    return rows, {"exits": exits, "starts": starts, "server": server, "spans": spans, "death_times": death_times}


def build_db(path: str) -> dict:
    rows, meta = build_rows()
    con = connect(str(path))
    paths = {1: "history/campaign-startup-30d.jsonl.gz", 2: f"incident/{POD}.log", 3: f"incident/var/log/pods/campaign_{CTRL}_u/campaign/0.log",
             4: "incident/translation-service.log.gz", 5: "incident/spans.jsonl", 6: "incident/pods.json"}
    for sid, p in paths.items():
        con.execute("INSERT INTO sources (source_id, path, fingerprint, format, lines, status) VALUES (?, ?, ?, 'test', 1, 'complete')",
                    [sid, p, f"fp{sid}:100"])
    con.executemany(f"INSERT INTO events ({', '.join(COLS)}) VALUES ({', '.join('?' * len(COLS))})",
                    [[r[c] for c in COLS] for r in rows])
    # line index: the control pod has lines in minute 20:55 and 20:57 but none in 20:56 (a gap)
    for sid, pod, minute, n in [(2, POD, "2022-04-08 20:56:00+00", 30), (3, CTRL, "2022-04-08 20:55:00+00", 5),
                                (3, CTRL, "2022-04-08 20:57:00+00", 4), (4, None, "2022-04-08 20:56:00+00", 9)]:
        con.execute("INSERT INTO line_index (source_id, minute, service, pod, lines) VALUES (?, ?, ?, ?, ?)",
                    [sid, minute, "campaign" if pod else None, pod, n])
    con.close()
    meta["rows"] = rows
    return meta
