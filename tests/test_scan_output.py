"""Scan output for cron (issue 14, item 5): the text names its window, `--last` ends at the newest
event and leaves out findings outside it, the JSON carries SQL only with --with-sql."""

from __future__ import annotations

import datetime as dt
import json

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, require

from pmortem.cli import main


def _t(s: str) -> dt.datetime:
    return dt.datetime.fromisoformat(s.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("scan_out") / "s.duckdb")
    res = CliRunner().invoke(main, ["ingest", str(require(SAMPLES / "incident")), "--db", path, "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return path


def _scan(db: str, *args: str):
    return CliRunner().invoke(main, ["scan", "--db", db, "--dry-run", "--all", *args], catch_exceptions=False)


def test_text_names_its_window_and_last_ends_at_the_newest_event(db):
    con = duckdb.connect(db, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        (newest,) = con.execute("SELECT max(ts) FROM events").fetchone()
    finally:
        con.close()
    res = _scan(db, "--last", "2m")
    assert res.exit_code in (0, 1), res.output
    head = res.stdout.splitlines()[0]
    assert head.startswith("pmortem scan: window ") and "(--last 2m, to the newest event)" in head, head
    js = json.loads(_scan(db, "--last", "2m", "-f", "json").stdout)
    w0, w1 = _t(js["window"]["start"]), _t(js["window"]["end"])
    assert w0 < newest < w1 and w1 - w0 == dt.timedelta(minutes=2)
    assert js["window"]["last_s"] == 120
    # findings outside the window are left out: each overlaps it
    everything = json.loads(_scan(db, "-f", "json").stdout)["findings"]
    inside = js["findings"]
    assert len(inside) < len(everything)
    for f in inside:
        assert _t(f["first_seen"]) < w1 and _t(f["last_seen"] or f["first_seen"]) >= w0, f
    assert "window " in res.stderr


def test_json_has_sql_only_when_asked(db):
    plain = json.loads(_scan(db, "-f", "json").stdout)
    assert plain["findings"] and all("sql" not in f for f in plain["findings"])
    assert "SELECT" not in json.dumps(plain)
    full = json.loads(_scan(db, "-f", "json", "--with-sql").stdout)
    assert [f["id"] for f in full["findings"]] == [f["id"] for f in plain["findings"]]
    for f in full["findings"]:
        assert f["sql"]["file"].startswith("queries/") and "SELECT" in f["sql"]["text"].upper()


def test_last_on_a_log_where_no_line_is_an_event(tmp_path):
    """Loghub HDFS: no rule matches a line, so there are no events; --last still ends at the newest
    line (the end of its minute in the line index), not at the whole span of the data."""
    from conftest import loghub

    path = loghub("HDFS")
    db = str(tmp_path / "h.duckdb")
    assert CliRunner().invoke(main, ["ingest", str(path), "--db", db, "-q"]).exit_code == 0
    newest = max(ln.split()[0] + ln.split()[1] for ln in path.read_text().splitlines() if ln[:6].isdigit())
    want_end = dt.datetime.strptime(newest, "%y%m%d%H%M%S").replace(second=0, tzinfo=dt.UTC) + dt.timedelta(minutes=1)
    res = _scan(db, "--last", "1h", "-f", "json")
    assert res.exit_code == 0, res.output
    w = json.loads(res.stdout)["window"]
    end = _t(w["end"])
    assert dt.timedelta(0) <= want_end - end <= dt.timedelta(microseconds=1)
    assert end - _t(w["start"]) == dt.timedelta(hours=1)
