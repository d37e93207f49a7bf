"""Detector SQL files on small golden inputs (rows cut from the captured samples), exact outputs."""

import datetime as dt
from importlib.resources import files

import pytest

from pmortem.db import connect

T = dt.datetime(2022, 4, 8, 20, 56, 19, tzinfo=dt.UTC)
P = "campaign-7f9c6d5b8-x2k9p"


def sql(name):
    return files("pmortem.queries").joinpath(f"{name}.sql").read_text()


@pytest.fixture()
def con(tmp_path):
    c = connect(str(tmp_path / "q.duckdb"))
    c.execute("SET TimeZone = 'UTC'")
    c.execute("INSERT INTO sources (source_id, path) VALUES (1, 'campaign-7f9c6d5b8-x2k9p.log'), (2, 'translation-service.log.gz'), (3, 'loki.jsonl')")
    rows = [  # (source, sec, kind, pid, message, signal)
        (1, 0.0, "worker_start", 11233, "Worker 11233 started", None),
        (1, 0.1, "worker_start", 11231, "Worker 11231 started", None),
        (1, 3.0, "worker_exit", 11233, "Worker fragment (pid: 11233) died (code: null, signal: SIGKILL), restarting", "SIGKILL"),
        (1, 3.05, "worker_start", 11240, "Worker 11240 started", None),
        (1, 3.5, "worker_exit", 11231, "Worker fragment (pid: 11231) died (code: null, signal: SIGKILL), restarting", "SIGKILL"),
        (1, 3.6, "worker_start", 11241, "Worker 11241 started", None),
        (1, 4.2, "worker_exit", 11240, "Worker fragment (pid: 11240) died (code: null, signal: SIGKILL), restarting", "SIGKILL"),
        (1, 4.25, "worker_start", 11242, "Worker 11242 started", None),
        # the same line again through a second export (Loki): must count once
        (3, 3.0, "worker_exit", 11233, "Worker fragment (pid: 11233) died (code: null, signal: SIGKILL), restarting", "SIGKILL"),
    ]
    for i, (src, sec, kind, pid, msg, sig) in enumerate(rows):
        c.execute("INSERT INTO events (source_id, ts, line_no, service, pod, pid, kind, message, signal) VALUES (?, ?, ?, 'campaign', ?, ?, ?, ?, ?)",
                  [src, T + dt.timedelta(seconds=sec), i + 1, P, pid, kind, msg, sig])
    c.execute("INSERT INTO events (source_id, ts, line_no, kind, message, error_class) VALUES (2, ?, 1, 'error', ?, 'response_closed')",
              [T + dt.timedelta(seconds=3.3), "2022-04-08 20:56:22.300 [pool-1-thread-8] ERROR c.z.t.TranslationHandler - Failed to write "
               "response for GET /translations?lang=de after 435ms client=127.0.0.1:45340 trace=659abe94d49c420f9398db4d36fab827\n"
               "java.lang.IllegalStateException: Response is closed"])
    c.execute("INSERT INTO events (source_id, ts, line_no, service, pod, kind, message, trace_id, span_id, status, duration_ms, error_class) "
              "VALUES (1, ?, 99, 'campaign-service', ?, 'span', 'GET /translations', '659abe94d49c420f9398db4d36fab827', 'bf340abaa17f5e9d', 2, 250.0, 'context_cancelled')",
              [T + dt.timedelta(seconds=3.0), P])
    yield c
    c.close()


W = {"since": T - dt.timedelta(minutes=1), "until": T + dt.timedelta(minutes=1)}


def test_worker_lifecycle_exact(con):
    cur = con.execute(sql("worker_lifecycle"), {**W, "service": None})
    cols = [d[0] for d in cur.description]
    (row,) = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    assert (row["pod"], row["starts"], row["exits"], row["sigkill_exits"]) == (P, 5, 3, 3)
    assert row["peak_deaths_per_s"] == 2 and row["peak_second"] == T.replace(second=22)
    assert row["median_lifetime_s"] == 3.0  # lifetimes 3.0, 3.4, 1.15
    assert row["median_respawn_latency_s"] == 0.05  # 0.05, 0.1, 0.05
    assert row["exit_codes"] == "SIGKILL:3"
    assert row["mean_deaths_per_s"] == round(3 / 1.2, 3)


def test_paired_errors_exact(con):
    cur = con.execute(sql("paired_errors"), {**W, "tolerance_s": 2.0, "server_class": "response_closed",
                                             "client_classes": "context_cancelled,read_timeout"})
    cols = [d[0] for d in cur.description]
    (row,) = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
    assert row["server_service"] == "translation-service"
    assert row["link"] == "trace_id" and row["client_pod"] == P
    assert row["offset_s"] == 0.05  # server 3.30 s, client span ends 3.25 s
    assert row["caller_pod"] == P and row["death_aligned"] is True
    assert row["death_offset_s"] == -0.2  # nearest death at 3.5 s
    assert row["client_errors_total"] == 1


def test_timeline_exact(con):
    cur = con.execute(sql("timeline"), {"since": T, "until": T + dt.timedelta(seconds=6), "bucket_s": 1,
                                        "server_class": "response_closed", "client_classes": "context_cancelled,read_timeout"})
    got = [(r[0].second, r[1], r[2], r[4], r[5]) for r in cur.fetchall()]
    assert got == [(19, 0, 2, 0, 0), (20, 0, 0, 0, 0), (21, 0, 0, 0, 0), (22, 2, 2, 1, 1), (23, 1, 1, 0, 0), (24, 0, 0, 0, 0)]
