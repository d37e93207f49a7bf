"""Lifecycle semantics for any process manager (issue 12): graceful stops (exit code 0, or a
SIGTERM/SIGQUIT exit after a logged shutdown or reload) are not deaths; a death is a crash (non-zero
code, a fault signal) or a kill (any other signal); signals logged by number are named.

samples/lifecycle is a real nginx 1.22 run (samples/repro/lifecycle/make_nginx_lifecycle.py): one
pod only reloads and stops gracefully, the other has 6 SIGKILLed and 1 SIGSEGVed workers among its
reloads. Pinned to expected.json and to a count over the raw files here."""

from __future__ import annotations

import json
import re

import duckdb
import polars as pl
import pytest
from conftest import SAMPLES, require
from pmortem.analyzer.redact import Redactor
from pmortem.analyzer.report import Analysis, Options
from pmortem.parsers.catalogue import classify_frame, load_catalogue

BUNDLE = SAMPLES / "lifecycle"


def raw(pod: str) -> dict:
    """Independent of pmortem: nginx's own notices, read with plain regexes."""
    lines = require(BUNDLE / f"{pod}.log").read_text().splitlines()
    ex = [m for m in (re.search(r"worker process \d+ exited (?:with code (\d+)|on signal (\d+))", ln) for ln in lines) if m]
    return {"starts": sum(1 for ln in lines if re.search(r"start worker process \d+$", ln)),
            "graceful": sum(1 for m in ex if m.group(1) == "0"),
            "killed": sum(1 for m in ex if m.group(2) == "9"),
            "crashed": sum(1 for m in ex if m.group(2) == "11" or (m.group(1) or "0") != "0")}


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    from click.testing import CliRunner

    from pmortem.cli import main

    db = str(tmp_path_factory.mktemp("lifecycle") / "l.duckdb")
    res = CliRunner().invoke(main, ["ingest", str(require(BUNDLE)), "--db", db, "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    con = duckdb.connect(db, read_only=True)
    a = Analysis(con, Options(), Redactor([]))
    totals, _ = a.findings()
    yield a, totals, db
    con.close()


def test_graceful_exits_are_not_deaths(analysis):
    a, totals, _ = analysis
    exp = json.loads((BUNDLE / "expected.json").read_text())["pods"]
    rows = {r["pod"]: r for r in a.ctx.run("worker_lifecycle", {"service": None}, key="t")}
    for pod, want in exp.items():
        r, got = rows[pod], raw(pod)
        assert r["starts"] == want["worker_starts"] == got["starts"], pod
        assert r["graceful_exits"] == want["graceful_exits"] == got["graceful"], pod
        assert r["exits"] == want["deaths"] == got["killed"] + got["crashed"], pod
        assert r["killed_exits"] == r["sigkill_exits"] == got["killed"], pod
        assert r["crash_exits"] == got["crashed"], pod
    deaths_pod = next(p for p, w in exp.items() if w["deaths"])
    assert rows[deaths_pod]["exit_codes"] == "SIGKILL:6, SIGSEGV:1"
    assert totals["deaths"] == sum(w["deaths"] for w in exp.values())


def test_the_graceful_pod_raises_nothing(analysis):
    a, _, _ = analysis
    exp = json.loads((BUNDLE / "expected.json").read_text())["pods"]
    quiet = next(p for p, w in exp.items() if not w["deaths"])
    assert not [f.title for f in a.ctx.findings if f.pod == quiet and f.severity != "info"]
    # the deaths pod: its spiral counts the 7 deaths, not its 12 graceful stops, and its respawns are the deaths'
    loud = next(p for p, w in exp.items() if w["deaths"])
    spiral = next(f for f in a.ctx.findings if f.rule == "worker_death_spiral" and f.pod == loud)
    assert spiral.metrics["deaths"] == exp[loud]["deaths"] and spiral.metrics["graceful_exits"] == exp[loud]["graceful_exits"]
    respawn = next(f for f in a.ctx.findings if f.rule == "respawn_without_backoff" and f.pod == loud)
    assert f"({exp[loud]['deaths']} times" in respawn.title


def test_scan_exits_0_on_the_graceful_pod_alone(tmp_path):
    from click.testing import CliRunner

    from pmortem.cli import main

    exp = json.loads((BUNDLE / "expected.json").read_text())["pods"]
    quiet = next(p for p, w in exp.items() if not w["deaths"])
    db = str(tmp_path / "q.duckdb")
    run = CliRunner()
    assert run.invoke(main, ["ingest", str(BUNDLE / f"{quiet}.log"), "--db", db, "-q"]).exit_code == 0
    scan = run.invoke(main, ["scan", "--db", db], catch_exceptions=False)
    assert scan.exit_code == 0, scan.output
    rep = json.loads(run.invoke(main, ["report", "--db", db, "--format", "json"]).stdout)
    assert rep["incident"] is False and rep["impact"]["deaths"] == 0


# ---- the catalogue on other process managers' lines (their documented formats)
LINES = {
    # nginx
    "2026/12/04 03:10:36 [alert] 23723#23723: worker process 23787 exited on signal 9": ("worker_exit", None, "SIGKILL"),
    "2026/12/04 03:10:38 [alert] 23723#23723: worker process 23788 exited on signal 11 (core dumped)": ("worker_exit", None, "SIGSEGV"),
    "2026/12/04 03:10:34 [notice] 23723#23723: worker process 23726 exited with code 0": ("worker_exit", 0, None),
    "2026/12/04 03:10:34 [notice] 23723#23723: start worker process 23788": ("worker_start", None, None),
    "2026/12/04 03:10:34 [notice] 23723#23723: signal 1 (SIGHUP) received from 23508, reconfiguring": ("shutdown", None, None),
    "2026/12/04 03:10:40 [notice] 23723#23723: signal 15 (SIGTERM) received from 23508, exiting": ("shutdown", None, None),
    "2026/12/04 03:10:40 [notice] 23723#23723: signal 3 (SIGQUIT) received from 1, shutting down": ("shutdown", None, None),
    # gunicorn
    "[2026-12-04 03:10:40 +0000] [7] [INFO] Handling signal: term": ("shutdown", None, None),
    "[2026-12-04 03:10:40 +0000] [7] [ERROR] Worker (pid:12) was sent SIGKILL! Perhaps out of memory?": ("worker_exit", None, "SIGKILL"),
    "[2026-12-04 03:10:40 +0000] [7] [WARNING] Worker with pid 12 was terminated due to signal 15": ("worker_exit", None, "SIGTERM"),
    # uWSGI
    "DAMN ! worker 1 (pid: 4242) died, killed by signal 9 :( trying respawn ...": ("worker_exit", None, "SIGKILL"),
    # Apache
    "[mpm_event:notice] [pid 1:tid 1] AH00493: SIGUSR1 received.  Doing graceful restart": ("shutdown", None, None),
    # Node cluster, unchanged
    "Worker 42 died (code: null, signal: SIGKILL), restarting": ("worker_exit", None, "SIGKILL"),
    "worker 4711 exited with exit status 1": ("worker_exit", 1, None),
    # not lifecycle: nginx's SIGCHLD/SIGIO notices, a process's own config reload (a change marker)
    "2026/12/04 03:10:36 [notice] 23723#23723: signal 17 (SIGCHLD) received from 23787": (None, None, None),
    "config reloaded from /etc/app/config.json: rates_source=ecb-2024-12 (was ecb-2024-11)": ("config", None, None),
}


def test_catalogue_names_lifecycle_lines():
    df = pl.DataFrame({"message": list(LINES)}).with_row_index("_i")
    out = classify_frame(df, load_catalogue(), "message")
    got = {m: (k, c, s) for m, k, c, s in zip(out["message"], out["kind"],
                                              out["_f_exit_code"] if "_f_exit_code" in out.columns else [None] * len(out),
                                              out["_f_signal"] if "_f_signal" in out.columns else [None] * len(out),
                                              strict=True)}
    wrong = {m: (got[m], want) for m, want in LINES.items()
             if (got[m][0] if got[m][0] != "log" else None, *got[m][1:]) != want}
    assert not wrong, wrong
