"""Request amplification is timed by what it measures (issue 12): its onset is the first of the dying
pod's calls and its end the last, not the analysis window's bounds, and its rates are over each
pod's own active span. Checked on the golden events and on the real incident bundle."""

from __future__ import annotations

import datetime as dt
import json
import re

from conftest import SAMPLES, require

from .golden import POD


def ts(s: str) -> dt.datetime:
    head, _, frac = s.rstrip("Z").partition(".")
    return dt.datetime.fromisoformat(head + ("." + frac[:6] if frac else "")).replace(tzinfo=dt.UTC)


def test_onset_is_the_first_amplified_call_golden(golden):
    rep = golden["report"]
    a = next(f for f in rep["findings"] if f["rule"] == "request_amplification")
    w0, w1 = ts(rep["window"]["start"]), ts(rep["window"]["end"])
    calls = [r["ts"] for r in golden["rows"] if r["kind"] == "dependency_call" and r["pod"] == POD and w0 <= r["ts"] < w1]
    assert ts(a["start"]) == min(calls) and ts(a["end"]) == max(calls)
    assert ts(a["start"]) != w0 and ts(a["end"]) != w1


def test_onset_is_the_first_amplified_call_incident(cli):
    bundle = require(SAMPLES / "incident")
    cli.ok("ingest", str(bundle), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    a = next(f for f in rep["findings"] if f["rule"] == "request_amplification")
    pod = a["entity"]["pod"]
    # independent of pmortem: the pod's own "Fetching ... from http" lines in its kubectl file
    stamps = [ts(ln.split(" ")[1]) for ln in (bundle / f"{pod}.log").read_text().splitlines()
              if re.search(r"Fetching .* from http", ln)]
    w0, w1 = ts(rep["window"]["start"]), ts(rep["window"]["end"])
    stamps = [t for t in stamps if w0 <= t < w1]
    assert stamps and a["metrics"]["incident_calls"] == len(stamps)
    assert abs((ts(a["start"]) - min(stamps)).total_seconds()) < 0.001
    assert abs((ts(a["end"]) - max(stamps)).total_seconds()) < 0.001
    assert ts(a["start"]) > w0  # the window is padded before the first impact; the calls began later
