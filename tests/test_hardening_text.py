"""Terminal- and Markdown-safe text: an ESC or a BiDi override in a pod name, a file name or a
message reaches no output raw (CLI outputs, the report in Markdown and JSON); the database
keeps the original characters."""

from __future__ import annotations

import json
import os

import duckdb
import pytest
from conftest import SAMPLES

from pmortem.safe_text import visible, visible_obj

ESC, RLO = "\x1b", "\u202e"
HOSTILE = (ESC, RLO, "\x9b", "\u2066", "\x07", "\r")  # ESC, RLO, CSI (C1), LRI, BEL, CR
POD = f"campaign-7f9c6d5b8-x2k9p{ESC}[31m{RLO}gpj"


def test_visible_escapes_controls_and_bidi_keeps_layout():
    assert visible(f"a{ESC}[2Jb") == "a\\x1b[2Jb"
    assert visible(f"x{RLO}y\u2069") == "x\\u202ey\\u2069"
    assert visible("tab\tnew\nline é ü 日本") == "tab\tnew\nline é ü 日本"  # untouched
    assert visible("\x00\x7f\x85\r") == "\\x00\\x7f\\x85\\x0d"
    assert visible(42) == 42 and visible(None) is None
    assert visible_obj({f"k{ESC}": [f"v{RLO}", (1, f"{ESC}")]}) == {"k\\x1b": ["v\\u202e", (1, "\\x1b")]}


@pytest.fixture
def hostile_db(cli, tmp_path):
    """The incident pod's log with ESC and RLO in its pod name, its file name and messages."""
    text = (SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log").read_text()
    text = text.replace("[pod/campaign-7f9c6d5b8-x2k9p/", f"[pod/{POD}/")
    text = text.replace("Number of CPUs: 48", f"Number of CPUs: 48 {ESC}]0;owned{ESC}\\ {RLO}evil\u2066 \x9b2J\x07\r")
    d = tmp_path / "logs"
    d.mkdir()
    name = f"app{ESC}[2J{RLO}.log"
    (d / name).write_text(text)
    res = cli.run("ingest", str(d))
    assert res.exit_code == 0, res.output
    _no_raw(res.output, "ingest summary")
    assert "app\\x1b[2J\\u202e.log" in res.output  # the file name shown, escaped
    return cli


def _no_raw(text: str, where: str) -> None:
    for ch in HOSTILE:
        assert ch not in text, f"{ch!r} reached {where} raw"


def _no_raw_in_json(text: str, where: str) -> None:
    """`text`: stdout only (a JSON document); its decoded values must be clean too."""
    _no_raw(text, where)
    _no_raw(json.dumps(json.loads(text), ensure_ascii=False), where + " (decoded)")


def _check(res, fmt: str, where: str) -> None:
    _no_raw(res.output, where)  # stdout and stderr
    if fmt == "json":
        _no_raw_in_json(res.stdout, where)


def test_database_keeps_the_original(hostile_db):
    con = duckdb.connect(hostile_db.db, read_only=True)
    try:
        pods = {r[0] for r in con.execute("SELECT DISTINCT pod FROM events").fetchall()}
        (path,) = con.execute("SELECT path FROM sources").fetchone()
        (n,) = con.execute("SELECT count(*) FROM events WHERE strpos(message, chr(27)) > 0").fetchone()
    finally:
        con.close()
    assert POD in pods and ESC in path and RLO in path and n >= 1


@pytest.mark.parametrize("fmt", ["text", "md", "csv", "json"])
def test_sources_and_sql_outputs(hostile_db, fmt):
    res = hostile_db.ok("sources", "-f", fmt)
    _check(res, fmt, f"sources -f {fmt}")
    q = "SELECT pod, message, (SELECT path FROM sources LIMIT 1) AS path FROM events WHERE message LIKE 'Number of CPUs%'"
    res = hostile_db.ok("sql", q, "-f", fmt)
    _check(res, fmt, f"sql -f {fmt}")
    assert "\\x1b" in res.output and "\\u202e" in res.output


@pytest.mark.parametrize("fmt", ["text", "json", "md", "csv"])
def test_scan_outputs(hostile_db, fmt):
    res = hostile_db.run("scan", "-f", fmt)
    assert res.exit_code in (0, 1), res.output
    _check(res, fmt, f"scan -f {fmt}")


def test_report_markdown_and_json(hostile_db, tmp_path):
    md = hostile_db.ok("report").output
    _no_raw(md, "report markdown")
    assert "\\x1b" in md or "\\\\x1b" in md  # the pod is named in the report, escaped
    hostile_db.ok("report", "-f", "json", "-o", str(tmp_path / "r.json"))
    data = (tmp_path / "r.json").read_text()
    _no_raw_in_json(data, "report json")
    assert "\\\\x1b" in data  # the escape is in the value, not a JSON \u001b
    hostile_db.ok("report", "-o", str(tmp_path / "r.md"))
    _no_raw((tmp_path / "r.md").read_text(), "report markdown file")


def test_templates_output(cli, tmp_path):
    p = tmp_path / "t.log"
    p.write_text("".join(f"2024-01-01T00:00:0{i}Z worker {i} said {ESC}[31mred{RLO} thing\n" for i in range(5)))
    for args in (["--format", "table"], ["--format", "csv"], ["--format", "json"], ["--per-line"]):
        res = cli.run("templates", str(p), *args, db=False)
        assert res.exit_code == 0, res.output
        _no_raw(res.output, f"templates {args}")


def test_error_line_and_progress_label(cli, tmp_path):
    """The one-line error names a path escaped; the progress line's label too."""
    from pmortem.ingest import _label

    missing = tmp_path / f"gone{ESC}[2J.log"
    res = cli.run("ingest", str(missing))
    assert res.exit_code == 2 and "gone\\x1b[2J.log" in res.output
    _no_raw(res.output, "error line")
    assert _label(os.fsdecode(b"a\x1b\xff.log")) == "a\\x1b\\xff.log"
