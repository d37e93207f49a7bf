"""stern exports (github.com/stern/stern): the multi-pod tail SREs often save an incident with.

The incident's pod log, captured from the real Node.js repro through `kubectl logs --prefix
--timestamps`, is rewritten here into each shape stern prints for the same kubelet lines:
`<pod> <container> <time> <message>` (--timestamps), the same with the namespace first (several
namespaces) and with ANSI colours (--color always), `<pod> <container> <message>` (no
timestamps), and `-o json`. Each must give the events of the kubectl export: same pods,
containers, times, messages and kinds; the report the same root cause. Plain logs (the 16 Loghub
systems and the samples) must not be taken for stern."""

from __future__ import annotations

import json
import re

import pytest
from conftest import LOGHUB, SAMPLES, require
from pmortem.parsers.detect import detect_format

POD_LOG = "incident/campaign-7f9c6d5b8-x2k9p.log"
PREFIX = re.compile(r"^\[pod/([^/]+)/([^\]]+)\] (\S+) ?(.*)$")
COLOURS = ("\x1b[32m", "\x1b[36m", "\x1b[0m")


def _lines():
    for ln in require(SAMPLES / POD_LOG).read_text(encoding="utf-8").splitlines():
        m = PREFIX.match(ln)
        assert m, ln
        yield m.groups()


SHAPES = {
    "timestamps": lambda pod, c, t, msg: f"{pod} {c} {t} {msg}",
    "namespace": lambda pod, c, t, msg: f"campaign {pod} {c} {t} {msg}",
    "colour": lambda pod, c, t, msg: f"{COLOURS[0]}{pod}{COLOURS[2]} {COLOURS[1]}{c}{COLOURS[2]} {t} {msg}",
    "json": lambda pod, c, t, msg: json.dumps(
        {"message": f"{t} {msg}", "nodeName": "ip-10-0-3-17", "namespace": "campaign", "podName": pod, "containerName": c}
    ),
    "no-timestamps": lambda pod, c, t, msg: f"{pod} {c} {msg}",
}

EVENTS = "SELECT pod, container, ts, message, kind, level, error_class FROM events ORDER BY line_no"


@pytest.fixture(scope="module")
def kubectl(tmp_path_factory):
    from click.testing import CliRunner

    from pmortem.cli import main

    db = str(tmp_path_factory.mktemp("stern_ref") / "k.duckdb")
    res = CliRunner().invoke(main, ["ingest", str(SAMPLES / POD_LOG), "--db", db, "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    import duckdb

    with duckdb.connect(db, read_only=True) as con:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(EVENTS).fetchall()


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_stern_shapes_give_the_kubectl_events(cli, tmp_path, kubectl, shape):
    path = tmp_path / f"stern-{shape}.log"  # a name that names no pod: the lines must
    path.write_text("".join(SHAPES[shape](*g) + "\n" for g in _lines()), encoding="utf-8")
    want = "stern_json" if shape == "json" else "stern"
    assert detect_format(str(path)) == want
    cli.ok("ingest", str(path), "-q")
    (src,) = cli.sources()
    assert (src["format"], src["lines"], src["lines_rejected"]) == (want, len(list(_lines())), 0)
    got = cli.sql(EVENTS)
    if shape == "no-timestamps":  # the Node.js lines carry no time of their own
        assert [r[:2] + r[3:] for r in got] == [r[:2] + r[3:] for r in kubectl]
        assert all(r[2] is None for r in got)
    else:
        assert got == kubectl
    if shape in ("namespace", "json"):
        assert cli.sql("SELECT DISTINCT namespace FROM events") == [("campaign",)]


def test_stern_report_finds_the_48_core_root(cli, tmp_path):
    d = tmp_path / "bundle"
    d.mkdir()
    (d / "stern.log").write_text("".join(SHAPES["timestamps"](*g) + "\n" for g in _lines()), encoding="utf-8")
    cli.ok("ingest", str(d), str(require(SAMPLES / "history")), "-q")
    rep = json.loads(cli.ok("report", "--format", "json").stdout)
    root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
    assert (root["rule"], root["entity"]["pod"], root["metrics"]["cpu_count"]) == (
        "host_shape_outlier", "campaign-7f9c6d5b8-x2k9p", 48)


PLAIN = sorted(LOGHUB.glob("*/*_2k.log")) + sorted(
    p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix in (".log", ".txt", ".jsonl") and "repro" not in p.parts
)


@pytest.mark.parametrize("path", PLAIN, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_other_logs_are_not_taken_for_stern(path):
    assert detect_format(str(path)) not in ("stern", "stern_json")
