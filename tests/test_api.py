"""The library under the command line: pmortem.ingest / pmortem.report, errors as PmortemError."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import SAMPLES, require

import pmortem
from pmortem.errors import NoData, NotAPmortemDatabase, PmortemError, UnknownService, UserError


def test_import_pmortem_changes_no_environment_variable_and_stays_light():
    code = (
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import pmortem\n"
        "after = dict(os.environ)\n"
        "heavy = sorted(m for m in ('polars', 'duckdb', 'pyarrow', 'numpy', 'click', 'jinja2') if m in sys.modules)\n"
        "print(json.dumps({'changed': {k: after.get(k) for k in set(before) ^ set(after) | {k for k in before if before[k] != after.get(k)}}, 'heavy': heavy}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "POLARS_MAX_THREADS")}
    out = json.loads(
        subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout
    )
    assert out == {"changed": {}, "heavy": []}


def test_errors_are_plain_exceptions_not_click_ones():
    import click

    assert issubclass(UserError, PmortemError) and issubclass(PmortemError, Exception)
    for cls in (PmortemError, UserError, NoData, UnknownService, NotAPmortemDatabase):
        assert not issubclass(cls, click.ClickException)
    assert pmortem.PmortemError is PmortemError and pmortem.NoData is NoData


@pytest.fixture(scope="module")
def forkbomb_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("api") / "fb.duckdb"
    summary = pmortem.ingest([require(SAMPLES / "forkbomb")], db=db)
    return db, summary


def test_ingest_then_report_round_trip(forkbomb_db):
    db, summary = forkbomb_db
    t = summary.totals()
    assert t["sources"] >= 1 and t["events"] > 0 and t["lines"] >= t["events"]
    assert all(s.error is None for s in summary.sources)
    rep = pmortem.report(db)
    assert isinstance(rep, pmortem.Report)
    assert rep.incident is True
    assert rep.findings and all({"rule", "severity"} <= set(f) for f in rep.findings)
    data = json.loads(rep.to_json())
    # the JSON is the data, with each query's text stored once (`sql_files`, issue 14)
    same = json.loads(json.dumps(rep.data, default=str))
    assert data["incident"] is True and data.pop("sql_files")
    for k in ("findings", "hypotheses"):
        for x in same[k]:
            x["sql"].pop("text", None)
    for q in same["queries"].values():
        q.pop("text")
    assert data == same
    md = rep.to_markdown()
    assert md.startswith("#") and "pmortem.report(" in md  # the footer names the call that made it
    assert "incident" in repr(rep)


def test_ingest_is_incremental_through_the_api(forkbomb_db):
    db, _ = forkbomb_db
    again = pmortem.ingest(str(require(SAMPLES / "forkbomb")), db)
    assert again.totals()["unchanged"] == again.totals()["sources"] >= 1


def test_ingest_module_is_still_the_module():
    # pmortem.ingest is the callable API and still the module other code imports and patches
    from pmortem import ingest

    assert callable(ingest) and hasattr(ingest, "IngestOptions") and hasattr(ingest, "commit_chunk")
    import pmortem.ingest as mod

    assert mod is ingest is sys.modules["pmortem.ingest"]


def test_report_errors_are_pmortem_errors(forkbomb_db, tmp_path):
    db, _ = forkbomb_db
    with pytest.raises(UnknownService, match="services there: checkout"):
        pmortem.report(db, service="no-such-service")
    with pytest.raises(NoData, match="no events between"):
        pmortem.report(db, since="2001-01-01T00:00:00Z", until="2001-01-02T00:00:00Z")
    with pytest.raises(UserError, match="before"):
        pmortem.report(db, since="2022-01-02", until="2022-01-01")
    with pytest.raises(PmortemError, match="no database at"):
        pmortem.report(tmp_path / "missing.duckdb")
    with pytest.raises(UserError, match="not a size"):
        pmortem.ingest([require(SAMPLES / "forkbomb")], db=tmp_path / "x.duckdb", memory_limit="lots")
    assert not (tmp_path / "x.duckdb").exists()


def test_report_window_and_last(forkbomb_db):
    import datetime as dt

    import duckdb

    db, _ = forkbomb_db
    con = duckdb.connect(str(db), read_only=True)
    (latest,) = con.execute("SELECT max(ts) FROM events").fetchone()
    con.close()
    rep = pmortem.report(db, last="5m")
    start, end = (dt.datetime.fromisoformat(rep.window[k].replace("Z", "+00:00")) for k in ("start", "end"))
    assert end == latest and end - start == dt.timedelta(minutes=5)
    given = pmortem.report(db, since=start, until=end)  # datetimes work as well as text
    assert given.window["start"] == rep.window["start"] and given.window["end"] == rep.window["end"]
