"""Template surge: the window's lines are re-read through the line index and compared with a
baseline; counts checked against the raw Loghub Hadoop file (real logs from a real cluster)."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from conftest import SAMPLES, Cli, loghub, require

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


# --- what the surge must not report ---------------------------------------------------------

NODE = Path(__file__).resolve().parents[1] / "fixtures" / "node-inspect"


def _surge(cli, *args: str) -> dict:
    return json.loads(cli.ok("report", "--format", "json", *args).stdout)["template_surge"]


def _fragments(text: str) -> list[str]:
    """Payloads (after the kubectl prefix and time) that continue the event above them."""
    out = []
    for ln in text.splitlines():
        payload = ln.split(" ", 2)[2] if ln.startswith("[pod/") else ln
        if re.match(r"\s|[}\])]+[,;]?\s*$", payload):
            out.append(payload)
    return out


def _assert_no_fragment_rows(surge: dict) -> None:
    for r in surge["rows"]:
        t = r["template"]
        assert t.strip() and not re.fullmatch(r"[}\])]+[,;]?", t.strip()), r
        assert not re.match(r"(at |errno:|code:|syscall:|path:|\.\.\. )", t), r
        assert not r["example"]["text"][:1].isspace(), r


def test_printed_error_fields_stay_inside_their_event(cli):
    """Node's util.inspect of an error: stack frames, `  errno: -2,`, `  syscall: 'open',` and
    `}` each get an envelope time of their own from kubectl, yet belong to the error line."""
    api = require(NODE / "api.log")
    frags = _fragments(api.read_text())
    assert any("errno: -2," in f for f in frags) and any(f.strip() == "}" for f in frags)
    cli.ok("ingest", str(api), "-q")
    s = _surge(cli, "--since", "2024-03-01T10:10:00Z", "--until", "2024-03-01T10:13:00Z")
    assert s["baseline"]["basis"] == "the equally long span before the window"
    (row,) = s["rows"]  # the health check is steady: not a surge
    assert row["template"].startswith("failed to load tenant config Error: ENOENT")
    # one per failed read in the window (every 10 s for 3 minutes), not one per printed line
    assert (row["window_count"], row["baseline_count"], row["new"]) == (18, 0, True)
    # the window's lines are event lines only: 18 health checks + 18 errors
    assert s["window_lines"] == 36
    _assert_no_fragment_rows(s)


def test_steady_template_against_a_short_baseline_is_no_surge(cli):
    """A window that starts 2 minutes into the logs: the baseline is those 2 minutes, said so,
    and the health check (6 a minute throughout) is compared per minute, not per span."""
    cli.ok("ingest", str(require(NODE / "api.log")), "-q")
    s = _surge(cli, "--since", "2024-03-01T10:02:00Z", "--until", "2024-03-01T10:07:00Z")
    assert s["baseline"]["basis"].startswith("the first 2 minutes of the logs")
    assert s["baseline"]["start"] == "2024-03-01T10:00:00Z" and s["baseline_lines"] == 12
    assert s["window_lines"] == 30 and s["rows"] == []


def test_new_only_for_pods_the_baseline_covers(cli, tmp_path):
    """A pod that starts inside the window has no baseline: its templates are not "new"
    (another pod logging in the baseline does not make them comparable)."""
    old = require(NODE / "api.log").read_text().splitlines()
    before = tmp_path / "api-before.log"  # the first pod, up to the window only
    before.write_text("\n".join(ln for ln in old if " 2024-03-01T10:1" not in ln) + "\n")
    cli.ok("ingest", str(before), str(require(NODE / "api-new-pod.log")), "-q")
    s = _surge(cli, "--since", "2024-03-01T10:10:00Z", "--until", "2024-03-01T10:13:00Z")
    assert s["baseline_lines"] == 30 and s["window_lines"] == 36
    assert not any(r["new"] for r in s["rows"])
    assert not any("failed to load tenant config" in r["template"] for r in s["rows"])


def test_empty_baseline_flags_nothing_new_and_says_so(cli):
    """samples/forkbomb begins inside the report's window: no baseline, no "new" flags."""
    cli.ok("ingest", str(require(SAMPLES / "forkbomb" / "checkout-6b7f9d8c5-w2x4z.log")), "-q")
    s = _surge(cli)
    assert s["baseline_lines"] == 0 and s["baseline"]["start"] is None
    assert s["baseline"]["basis"].startswith("none: the logs begin inside the window")
    assert s["rows"] and not any(r["new"] for r in s["rows"]) and all(r["factor"] is None for r in s["rows"])
    md = cli.ok("report").stdout
    assert "The baseline holds no lines, so no template is called new or surging" in md
    assert "| new |" not in md


def test_no_fragments_in_the_surge_of_the_samples(cli, tmp_path):
    """samples/backpressure and samples/forkbomb: no surge row is a continuation fragment."""
    for name in ("backpressure", "forkbomb"):
        c = Cli(tmp_path / name)
        (tmp_path / name).mkdir()
        c.ok("ingest", str(require(SAMPLES / name)), "-q")
        s = _surge(c)
        assert s["rows"]
        _assert_no_fragment_rows(s)
