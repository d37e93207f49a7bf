"""classify_frame's one-pass literal bit masks give what testing each rule's literals alone gives."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from pmortem.parsers import catalogue
from pmortem.parsers.catalogue import Catalogue, Rule, classify_frame, load_catalogue
from polars.testing import assert_frame_equal

REPO = Path(__file__).resolve().parents[2]
LOGHUB = REPO.parent / "shared" / "corpora" / "loghub"


def _messages() -> list[str]:
    out = []
    for p in sorted(LOGHUB.glob("*/*_2k.log")):
        out += p.read_text(errors="replace").splitlines()[:300]
    for p in sorted((REPO / "samples").rglob("*.log")):
        if "repro" not in p.parts:
            out += p.read_text(errors="replace").splitlines()[:400]
    out += ["Worker 42 died (code: null, signal: SIGKILL), restarting", "Number of CPUs: 48", "WORKER 7 STARTED",
            "java.lang.IllegalStateException: Response is closed", "fetch failed: context canceled", "", None]
    return out


def _classify(msgs, cat) -> pl.DataFrame:
    df = pl.DataFrame({"message": msgs}, schema={"message": pl.String}).with_row_index("_i")
    return classify_frame(df, cat, "message")


def test_literal_bit_masks_same_as_per_rule_literals(monkeypatch):
    cat = load_catalogue()
    msgs = _messages()
    fast = _classify(msgs, cat)
    monkeypatch.setattr(catalogue, "_literal_bits", lambda c: None)
    slow = _classify(msgs, cat)
    assert_frame_equal(fast, slow)
    kinds = fast.get_column("kind").drop_nulls()
    assert kinds.n_unique() >= 5 and fast.height == len(msgs)


def test_a_rule_needs_its_literal_as_well_as_its_regex():
    cat = Catalogue([Rule("a", "alpha", r"(?i)boom (?P<pid>\d+)", literals=["kaboom"]), Rule("b", "beta", r"boom")])
    out = _classify(["boom 1", "KABOOM 2", "nothing"], cat)
    assert out.get_column("kind").to_list() == ["beta", "alpha", None]
    assert out.get_column("_f_pid").to_list() == [None, 2, None]


def test_non_ascii_literals_fall_back_to_exact_case():
    cat = Catalogue([Rule("a", "alpha", "(?i)échec", literals=["Échec"]), Rule("b", "beta", "(?i)échec")])
    assert catalogue._literal_bits(cat) is None
    out = _classify(["Échec total", "échec partiel"], cat)
    assert out.get_column("kind").to_list() == ["alpha", "beta"]


def test_the_built_in_rules_compile():
    """load_catalogue compiles only the user's patterns at run time; the shipped rules are
    checked here, every regex (and `also` regex) through polars."""
    from pmortem.parsers.catalogue import _check_rules

    cat = load_catalogue()
    assert len(cat.rules) >= 20
    _check_rules(cat.rules)  # raises CatalogueError naming the rule
