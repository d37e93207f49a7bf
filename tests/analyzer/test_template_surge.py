"""Template surge: the window's lines are re-read through the line index and compared with a
baseline; counts checked against the raw Loghub Hadoop file (real logs from a real cluster)."""

from __future__ import annotations

import datetime as dt
import json
import re

from conftest import loghub

NEEDLE = "RMContainerAllocator: ERROR IN CONTACTING RM."


def _ts(line: str) -> dt.datetime | None:
    m = re.match(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})", line)
    if not m:
        return None
    return dt.datetime.fromisoformat(m.group(1)).replace(microsecond=int(m.group(2)) * 1000, tzinfo=dt.UTC)


def test_surging_template_counts_match_the_raw_file(cli):
    path = loghub("Hadoop")
    lines = path.read_text().splitlines()
    hits = [(i + 1, _ts(ln)) for i, ln in enumerate(lines) if NEEDLE in ln]
    first = min(t for _, t in hits)
    since = first.replace(second=0, microsecond=0)
    until = since + dt.timedelta(minutes=2)
    b_since = since - dt.timedelta(minutes=5)  # the baseline is as long as the window, at least 5 minutes
    want_window = sum(1 for _, t in hits if since <= t < until)
    want_base = sum(1 for _, t in hits if b_since <= t < since)
    assert want_window >= 3

    cli.ok("ingest", str(path), "-q")
    res = cli.ok("report", "--format", "json", "--since", since.isoformat(), "--until", until.isoformat())
    surge = json.loads(res.stdout)["template_surge"]
    (row,) = [r for r in surge["rows"] if "ERROR IN CONTACTING RM" in r["template"]]
    assert (row["window_count"], row["baseline_count"]) == (want_window, want_base)
    assert row["template"].startswith("<ts> ERROR [RMCommunicator Allocator]")
    # the example points at a real line holding that message
    assert NEEDLE in lines[row["example"]["line"] - 1]
    assert row["example"]["source"].endswith("Hadoop_2k.log")
    # every line of the window was re-read, none copied at ingest
    want_lines = sum(1 for ln in lines if (t := _ts(ln)) and since <= t < until)
    assert surge["window_lines"] == want_lines
    md = cli.ok("report", "--since", since.isoformat(), "--until", until.isoformat()).stdout
    assert "## Log templates that surged" in md and "Hadoop_2k.log:" in md
