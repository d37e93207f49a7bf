"""The committed fuzz corpus (fuzz/corpus/*) replayed through the differential checks.

Every seed (sample bundles' and Loghub's line-envelope text) and every reproducer the
fuzzing found (fuzz/corpus/regressions) must give identical per-line decisions, chunk
results and chunk hand-over on the native scanner and the polars reference
(fuzz/differential.py). `make sanitize` runs this file against the ASan+UBSan build.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pmortem.parsers import native

FUZZ = Path(__file__).resolve().parents[2] / "fuzz"
sys.path.insert(0, str(FUZZ))
import differential as diff  # noqa: E402

pytestmark = pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))

CORPUS = FUZZ / "corpus"
INPUTS = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.name != "LICENSE" and p.suffix != ".md")


def test_the_corpus_is_there_small_and_licensed():
    dirs = {p.parent.name for p in INPUTS}
    assert dirs >= {"samples", "loghub", "regressions"}, dirs
    assert len(INPUTS) >= 50
    assert sum(p.stat().st_size for p in CORPUS.rglob("*") if p.is_file()) < 2 * 1024 * 1024
    # Loghub's licence asks for its notice next to every copy
    assert "LICENSE OF LOGHUB" in (CORPUS / "loghub" / "LICENSE").read_text()


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_corpus_input_same_on_both_paths(path: Path):
    diff.check_all(path.read_bytes())


def test_the_regressions_are_what_they_say():
    """The time reproducers decode to the long fractions / leap seconds they hold; the
    hand-over one is a chunk cut inside an event that fills the chunk (pipeline.py stores
    it rather than wait: the whole-vs-chunks check must recognise that case, not fail)."""
    for p in sorted((CORPUS / "regressions").iterdir()):
        envelope, data, seed, _ = diff.decode_input(p.read_bytes())
        assert envelope in diff.ENVELOPES and data.endswith(b"\n"), p.name
        res = diff.check_chunks(data, envelope, [])
        if p.name.startswith(("frac", "leap")):
            assert res[0].n_events >= 1 and res[0].first_ts is not None, p.name
        if p.name.startswith("handover"):
            cuts = diff.random_cuts(data, seed)
            assert diff.gave_up(native.parse_chunk_native, diff.chunks_at(data, cuts), diff.context(envelope))
            assert diff.check_handover(data, envelope, cuts) is False
            assert diff.check_handover(data, envelope, []) is True


def test_most_corpus_cuts_get_the_full_hand_over_check():
    """The give-up case (above) is rare: the whole-vs-chunks comparison is not vacuous."""
    full = 0
    for p in INPUTS[::4]:
        envelope, data, seed, _ = diff.decode_input(p.read_bytes())
        full += diff.check_handover(data, envelope, diff.line_cuts(data, [len(data) // 3, 2 * len(data) // 3]))
    assert full >= len(INPUTS[::4]) * 2 // 3, (full, len(INPUTS[::4]))
