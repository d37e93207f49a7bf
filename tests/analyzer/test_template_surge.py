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
    assert row["template"].startswith("<*> ERROR [RMCommunicator Allocator]")
    # the example points at a real line holding that message
    assert NEEDLE in lines[row["example"]["line"] - 1]
    assert row["example"]["source"].endswith("Hadoop_2k.log")
    # every line of the window was re-read, none copied at ingest
    want_lines = sum(1 for ln in lines if (t := _ts(ln)) and since <= t < until)
    assert surge["window_lines"] == want_lines
    md = cli.ok("report", "--since", since.isoformat(), "--until", until.isoformat()).stdout
    assert "## Log templates that surged" in md and "Hadoop_2k.log:" in md


def _as_cri(kubectl_text: str) -> str:
    """The same lines as containerd writes them: `[pod/P/C] <RFC3339Nano> <line>` ->
    `<time, 9 fraction digits> stdout F <line>` (the runtime file kubectl logs reads from)."""
    out = []
    for ln in kubectl_text.splitlines():
        _prefix, ts, payload = ln.split(" ", 2)
        head, _, frac = ts[:-1].partition(".")
        out.append(f"{head}.{frac.ljust(9, '0')}Z stdout F {payload}")
    return "\n".join(out) + "\n"


def test_the_same_lines_in_two_exports_count_once(cli, tmp_path):
    """kubectl logs and /var/log/pods hold the same lines: the surge counts must not double
    (a window covered by two exports and a baseline covered by one would fake a surge)."""
    from conftest import SAMPLES, Cli, require

    kubectl = require(SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log")
    pod_dir = tmp_path / "var" / "log" / "pods" / "campaign_campaign-7f9c6d5b8-x2k9p_0c1e4b52-7a35-4a8e-9a8b-4f4c1c5c6a10" / "campaign"
    pod_dir.mkdir(parents=True)
    (pod_dir / "0.log").write_text(_as_cri(kubectl.read_text()))

    cli.ok("ingest", str(kubectl), "-q")
    one = json.loads(cli.ok("report", "--format", "json").stdout)["template_surge"]
    both_cli = Cli(tmp_path / "both")
    (tmp_path / "both").mkdir()
    both_cli.ok("ingest", str(kubectl), str(pod_dir / "0.log"), "-q")
    both = json.loads(both_cli.ok("report", "--format", "json").stdout)["template_surge"]

    assert one["rows"] and one["duplicate_lines"] == 0
    assert both["window"] == one["window"]
    counts = lambda s: [(r["template"], r["window_count"], r["baseline_count"]) for r in s["rows"]]  # noqa: E731
    assert counts(both) == counts(one)
    assert (both["window_lines"], both["baseline_lines"]) == (one["window_lines"], one["baseline_lines"])
    # every line of the second export in the window was recognised as a copy
    assert both["duplicate_lines"] == one["window_lines"] + one["baseline_lines"]
    md = both_cli.ok("report").stdout
    assert f"{both['duplicate_lines']:,} more were the same lines in a second export and count once" in md
