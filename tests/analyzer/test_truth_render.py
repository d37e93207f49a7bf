"""Every sample's report, Markdown and JSON, is text a postmortem can paste (issue 12): no None or
nan in sentences, no HTML entities for < and > in Markdown text, no all-zero chart series; healthy
controls raise nothing above info and `scan` exits 0 on them."""

from __future__ import annotations

import json
import re

import pytest
from conftest import SAMPLES, require

BUNDLES = {
    "incident": ["incident", "history"],
    "healthy": ["healthy"],
    "forkbomb": ["forkbomb"],
    "eventloop": ["eventloop"],
    "backpressure": ["backpressure"],
    "graceful": ["graceful"],
    "graceful-vs-crash": ["graceful-vs-crash"],
    "renamed": ["renamed"],
    "decoy": ["decoy"],
    "es-search": ["es-search"],
    "es-search-lines": ["es-search-lines"],
    "lifecycle": ["lifecycle"],
    "inspect": ["inspect"],
}
HEALTHY = ("healthy", "graceful")


def prose(md: str) -> str:
    """The Markdown outside fenced blocks and code spans: what reads as text."""
    md = re.sub(r"(?ms)^(`{3,})[^\n]*\n.*?^\1\s*$", "", md)
    return re.sub(r"(`+).*?\1", "CODE", md)


def sentences(rep: dict) -> list[str]:
    """Every sentence-like string of the JSON report."""
    out = [rep["summary"], rep["window"]["basis"]]
    for f in rep["findings"]:
        out += [f["title"], *f["confidence_reasons"]]
    for h in rep["hypotheses"]:
        out += [h["statement"], *h["reasons"]]
    out += [c["basis"] for c in rep["chain"]] + [r["text"] for r in rep["recommendations"]]
    return out


@pytest.fixture(scope="module", params=sorted(BUNDLES))
def rendered(request, tmp_path_factory):
    from click.testing import CliRunner

    from pmortem.cli import main

    name = request.param
    d = tmp_path_factory.mktemp(name)
    db = str(d / "r.duckdb")
    paths = [str(require(SAMPLES / p)) for p in BUNDLES[name]]
    run = CliRunner()
    res = run.invoke(main, ["ingest", *paths, "--db", db, "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    md = run.invoke(main, ["report", "--db", db], catch_exceptions=False)
    js = run.invoke(main, ["report", "--db", db, "--format", "json"], catch_exceptions=False)
    scan = run.invoke(main, ["scan", "--db", db], catch_exceptions=False)
    assert md.exit_code == 0 and js.exit_code == 0
    return name, md.stdout, json.loads(js.stdout), scan


def test_no_placeholders_in_text(rendered):
    name, md, rep, _ = rendered
    text = prose(md)
    for bad in (r"\bNone\b", r"\bnan\b", r"\bNaN\b", r"&gt;", r"&lt;", r"\bn/a s\b", r" \(\)", r" \\\(\\\)", r"(?<![\w.])\(\s*\)\."):
        hits = [ln for ln in text.splitlines() if re.search(bad, ln)]
        assert not hits, (name, bad, hits[:3])
    for s in sentences(rep):
        assert not re.search(r"\bNone\b|\bnan\b|&gt;|&lt;| \(\)|: \.|, \.", s), (name, s)


def test_no_all_zero_chart_series(rendered):
    name, md, rep, _ = rendered
    for block in re.findall(r"```mermaid\nxychart-beta\n(.*?)```", md, re.S):
        lines = re.findall(r"^\s*line \[(.*?)\]", block, re.M)
        assert lines, (name, block[:200])
        for ln in lines:
            assert any(float(v) for v in ln.split(",")), (name, "all-zero series", ln[:80])


def test_root_cause_section_only_for_an_incident(rendered):
    name, md, rep, scan = rendered
    assert ("## Root cause" in md) == rep["incident"]
    if rep["root_cause"]:
        root = next(f for f in rep["findings"] if f["id"] == rep["root_cause"])
        assert root["explains"], (name, "a root cause that explains no impact")


def test_healthy_controls_raise_nothing(rendered):
    name, md, rep, scan = rendered
    if name not in HEALTHY:
        return
    assert rep["incident"] is False and rep["root_cause"] is None
    assert not [f["title"] for f in rep["findings"] if f["severity"] != "info"]
    assert scan.exit_code == 0, scan.stdout


def test_header_lines_stand_apart(rendered):
    name, md, rep, _ = rendered
    lines = md.splitlines()
    assert lines[0].startswith("# Postmortem") and lines[1] == "" and lines[2] == "## Summary", (name, lines[:3])
    window = next(ln for ln in lines if ln.startswith("Window:"))
    assert "Root cause finding" not in window, (name, window)
