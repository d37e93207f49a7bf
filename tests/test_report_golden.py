"""The rendered default report of the bundled incident, pinned (issue 14): every change to the
report shows up in review as a diff of tests/golden/incident.md. After an intended change:

    cd tests && python -m pytest -c ../pyproject.toml test_report_golden.py --update-golden

and commit the golden file with the change. Also: no number the report claimed before issue 14
is lost from the JSON (tests/golden/incident.numbers.json, made by tests/golden/claims.py)."""

from __future__ import annotations

import difflib
import json
import sys

import pytest
from click.testing import CliRunner
from conftest import REPO, SAMPLES, require

from pmortem.cli import main

GOLDEN = REPO / "tests" / "golden"
sys.path.insert(0, str(GOLDEN))
from claims import numbers  # noqa: E402


@pytest.fixture(scope="module")
def incident(tmp_path_factory) -> dict:
    """The demo (Makefile `demo`): ingest with the paths as a user gives them, from the repository."""
    require(SAMPLES / "incident")
    tmp = tmp_path_factory.mktemp("golden_incident")
    db = str(tmp / "demo.duckdb")
    mp = pytest.MonkeyPatch()
    mp.chdir(REPO)
    try:
        run = CliRunner()
        res = run.invoke(main, ["ingest", "samples/incident", "samples/history", "--db", db, "-q"], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        out = tmp / "postmortem.md"
        res = run.invoke(main, ["report", "--db", db, "--out", str(out)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
        js = tmp / "report.json"
        res = run.invoke(main, ["report", "--db", db, "--format", "json", "--out", str(js)], catch_exceptions=False)
        assert res.exit_code == 0, res.output
    finally:
        mp.undo()
    return {"md": out.read_text(encoding="utf-8"), "json": json.loads(js.read_text(encoding="utf-8"))}


def test_default_report_matches_the_golden_file(incident, request):
    path = GOLDEN / "incident.md"
    got = incident["md"]
    if request.config.getoption("--update-golden"):
        path.write_text(got, encoding="utf-8")
        print(f"updated {path}")
        return
    assert path.exists(), f"{path} is missing; make it with --update-golden"
    want = path.read_text(encoding="utf-8")
    if got != want:
        diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "now", n=1))
        pytest.fail(f"the report differs from {path.name} (rerun with --update-golden if intended):\n{diff[:6000]}")
    assert got.count("\n") < 450


def test_no_claim_is_lost(incident):
    before = json.loads((GOLDEN / "incident.numbers.json").read_text(encoding="utf-8"))
    now = numbers(incident["json"])
    lost = sorted(set(before) - now, key=float)
    assert not lost, f"numbers of the earlier report missing from the JSON: {lost[:40]}"
    assert len(before) > 200
