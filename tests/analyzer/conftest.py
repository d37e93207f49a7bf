import json

import pytest
from click.testing import CliRunner

from pmortem.cli import main

from .golden import build_db


@pytest.fixture(scope="session")
def golden(tmp_path_factory):
    d = tmp_path_factory.mktemp("golden")
    db = d / "g.duckdb"
    meta = build_db(db)
    runner = CliRunner()
    out_json, out_md = d / "r.json", d / "r.md"
    r1 = runner.invoke(main, ["report", "--db", str(db), "--format", "json", "--out", str(out_json)])
    assert r1.exit_code == 0, r1.output
    r2 = runner.invoke(main, ["report", "--db", str(db), "--out", str(out_md)])
    assert r2.exit_code == 0, r2.output
    meta.update(db=db, report=json.loads(out_json.read_text()), md=out_md.read_text(), dir=d)
    return meta
