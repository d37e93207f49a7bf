"""The native path's literal prefilter (parsers/literals.py + Teddy in parsers/_scan.c).

The reference is Python's `re` over bytes with IGNORECASE (ASCII-only case folding for
bytes patterns) and a lookahead, which yields every start offset where some literal
occurs, overlaps included. The compiled search must return exactly those offsets, with
its AVX2 loop and with its byte-by-byte loop, on real logs and on seeded haystacks built
to hit the edges: matches at the buffer's end, case flips, bytes whose case bit flips a
non-letter ('[' and '{'), literals shorter than the fingerprint, non-ASCII literals.
"""

from __future__ import annotations

import random
import re
from array import array
from bisect import bisect_left
from pathlib import Path

import polars as pl
import pytest
from pmortem.parsers import native
from pmortem.parsers.catalogue import BUILDER_LITERALS, load_catalogue
from pmortem.parsers.literals import BUCKETS, LiteralSearch, plan

REPO = Path(__file__).resolve().parents[2]
LOGHUB = REPO.parent / "shared" / "corpora" / "loghub"
CATALOGUE = load_catalogue().literals + BUILDER_LITERALS

pytestmark = pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))


def reference(literals: list[str], data: bytes) -> list[int]:
    alt = b"|".join(re.escape(x.encode()) for x in sorted(literals, key=len, reverse=True))
    return [m.start() for m in re.finditer(b"(?=(?:" + alt + b"))", data, re.IGNORECASE)]


def found(search: LiteralSearch, data: bytes, scalar: bool) -> list[int]:
    from pmortem.parsers import _scan

    _scan.literal_simd(not scalar)  # the byte-by-byte kernel, or AVX2 where the CPU has it
    try:
        out = array("q")
        out.frombytes(search.starts(data))
        return out.tolist()
    finally:
        _scan.literal_simd(True)


def loghub_text() -> bytes:
    return b"".join(p.read_bytes() for p in sorted(LOGHUB.glob("*/*_2k.log")))


@pytest.mark.parametrize("scalar", [False, True])
def test_catalogue_literals_on_loghub_and_samples(scalar: bool):
    data = loghub_text() + b"".join(
        p.read_bytes() for p in sorted((REPO / "samples").rglob("*.log")) if p.stat().st_size < 5_000_000
    )
    want = reference(CATALOGUE, data)
    assert len(want) > 1000  # the corpus really holds matches
    assert found(LiteralSearch(CATALOGUE), data, scalar) == want


def _haystack(rng: random.Random, literals: list[str], n: int) -> bytes:
    noise = [b"a", b"B", b"[", b"{", b"@", b"`", b" ", b"\n", b"\xc3\xa9", b"\x00", b"\xff", b"0", b"_", b"-", b"~"]
    parts = []
    for _ in range(n):
        if rng.random() < 0.3:
            lit = rng.choice(literals).encode()
            cut = rng.choice([len(lit), len(lit), max(1, len(lit) - 1)])  # whole, or one byte short
            lit = bytes(c ^ 0x20 if 0x41 <= (c | 0x20) - 0x20 <= 0x5A and rng.random() < 0.5 else c for c in lit[:cut])
            parts.append(lit)
        else:
            parts.append(rng.choice(noise))
    return b"".join(parts)


ODD_SETS = {
    "catalogue": CATALOGUE,
    "short": ["a", "Zq", "[x", "cpu", "rss", "x{y"],
    "punctuation": ["a[b", "@home", "`tick", "~~", "{\"k\""],
    "non_ascii": ["café", "naïve fail", "错误", "ERROR"],
    "shared_prefixes": ["worker", "workers", "work", "wor", "WORKER died", "w"],
    "many": [f"lit{i:03d}x" for i in range(300)] + ["timeout", "time"],
}


@pytest.mark.parametrize("name", sorted(ODD_SETS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_haystacks_match_the_reference(name: str, seed: int):
    lits = ODD_SETS[name]
    rng = random.Random(seed)
    search = LiteralSearch(lits)
    for size in (0, 1, 5, 31, 33, 64, 200, 5000):
        data = _haystack(rng, lits, size)
        want = reference(lits, data)
        assert found(search, data, False) == want, (name, size)
        assert found(search, data, True) == want, (name, size)
        # the literal as the buffer's very last bytes, where the SIMD loop hands over
        tail = data + rng.choice(lits).upper().encode()
        assert found(search, tail, False) == reference(lits, tail)


@pytest.mark.parametrize("fp", [1, 2, 3, 5, 8])
def test_every_fingerprint_length_finds_the_same(fp: int):
    data = loghub_text()[:400_000]
    assert found(LiteralSearch(CATALOGUE, fp=fp), data, False) == reference(CATALOGUE, data)


def test_plan_keeps_prefix_groups_adjacent_and_uses_the_buckets():
    lits, buckets = plan(CATALOGUE)
    assert len(lits) == len(buckets) == len({x.lower() for x in CATALOGUE})
    assert set(buckets) == set(range(BUCKETS))  # 76 literals spread over all 8 buckets
    seen: dict[bytes, int] = {}
    for i, x in enumerate(lits):
        key = x[:3]
        assert seen.setdefault(key, i) == i or lits[i - 1][:3] == key  # one run per prefix


def test_bad_literal_sets_are_refused():
    from pmortem.parsers import _scan

    with pytest.raises(ValueError):
        _scan.literal_set([b"ok", b""], b"\x00\x00", 3)
    with pytest.raises(ValueError):
        _scan.literal_set([b"ok"], b"\x09", 3)  # bucket out of range
    with pytest.raises(ValueError):
        _scan.literal_set([b"ab", b"xyz", b"abd"], b"\x00\x00\x00", 3)  # the literals keyed "ab" split
    with pytest.raises(ValueError):
        plan([])


@pytest.mark.parametrize("simd", [True, False])
@pytest.mark.parametrize("name", ["catalogue", "short", "punctuation", "shared_prefixes"])
def test_the_scanner_flags_lines_whose_payload_holds_a_literal(name: str, simd: bool):
    """`_scan.scan` searches each line's payload (after the kubectl prefix and timestamp)
    up to its first hit: a line is flagged exactly when some reference match starts
    between its payload's start and its end. Literals in the prefix (a pod named like a
    literal) do not count; a match may run into the next line only if the literal could."""
    from pmortem.parsers import _scan

    lits = ODD_SETS[name]
    rng = random.Random(7)
    search = LiteralSearch(lits)
    lines = []
    for i in range(3000):
        pod = rng.choice(["api-1", "worker-7d9f", "cpu-burner", "a[b-x"])
        body = _haystack(rng, lits, rng.randrange(0, 40)).replace(b"\n", b" ").replace(b"\r", b" ")
        lines.append(b"[pod/%s/app] 2024-03-01T10:00:%02d.%09dZ " % (pod.encode(), i % 60, i) + body)
    data = b"\n".join(lines) + rng.choice([b"\n", b""])
    _scan.literal_simd(simd)
    try:
        r = _scan.scan(data, 0, 0, search.compiled)
    finally:
        _scan.literal_simd(True)
    starts = reference(lits, data)
    st = memoryview(r["start"]).cast("q")
    raw = memoryview(r["raw_len"]).cast("q")
    pay = memoryview(r["pay_off"]).cast("i")
    checked, flagged = 0, 0
    for i in range(r["n"]):
        if r["status"][i] != 0:  # deferred or rejected lines get the polars answer
            continue
        lo, hi = st[i] + pay[i], st[i] + raw[i]
        want = any(lo <= s < hi for s in starts[bisect_left(starts, lo) : bisect_left(starts, lo) + 1])
        assert bool(r["hit"][i]) == want, (i, data[st[i] : hi])
        checked += 1
        flagged += want
    # (lines with NUL or non-UTF-8 bytes are rejected, others with high bytes deferred)
    assert checked > 500 and 0 < flagged < checked, (checked, flagged)


# ---------------------------------------------------------------- per-string masks (classify)
def _polars_masks(texts: pl.Series, bits: dict[str, int]) -> list[int]:
    """The classifier's polars path: every occurrence (overlapping), lowered, its bits OR-ed."""
    df = pl.DataFrame({"t": texts}).with_row_index("_i")
    found = (
        df.select("_i", pl.col("t").fill_null("").str.extract_many(list(bits), ascii_case_insensitive=True, overlapping=True).alias("_m"))
        .explode("_m")
        .with_columns(pl.col("_m").str.to_lowercase().replace_strict(bits, default=0, return_dtype=pl.Int64).alias("_b"))
        .group_by("_i")
        .agg(pl.col("_b").fill_null(0).bitwise_or().alias("m"))
    )
    return df.join(found, on="_i", how="left", maintain_order="left").get_column("m").fill_null(0).to_list()


def test_literal_masks_equal_the_polars_path():
    from pmortem.parsers.catalogue import _literal_bits
    from pmortem.parsers.literals import literal_masks

    bits = _literal_bits(load_catalogue())
    rnd = random.Random(11)
    lits = list(bits)
    texts: list[str | None] = []
    for system in ("Hadoop", "Spark", "OpenStack", "HDFS"):
        texts += (LOGHUB / system / f"{system}_2k.log").read_text(errors="replace").splitlines()[:400]
    for _ in range(3000):  # literals in odd cases, overlapping, at the ends, in short and long strings
        parts = [rnd.choice(["", " ", "x", "日本", "ß", "\t", "{\"a\":"])]
        for _ in range(rnd.randrange(0, 4)):
            lit = rnd.choice(lits)
            lit = "".join(c.upper() if rnd.random() < 0.5 else c for c in lit)
            parts.append(lit[: rnd.randrange(1, len(lit) + 1)] if rnd.random() < 0.2 else lit)
            parts.append(rnd.choice(["", " ", "-", "é", lit[:2]]))
        texts.append("".join(parts))
    texts += ["", None, "error", "ERRORerror", "x" * 5000 + "Worker 7 died"]
    s = pl.Series(texts, dtype=pl.String)
    got = literal_masks(s, bits)
    assert got.to_list() == _polars_masks(s, bits)
    assert sum(1 for v in got.to_list() if v) > 1000
    # a chunked, sliced series (several arrays in the stream, with offsets)
    chunked = s.slice(3, 500).append(s.slice(1000, 700))
    assert chunked.n_chunks() == 2
    assert literal_masks(chunked, bits).to_list() == _polars_masks(chunked, bits)


def test_classify_is_the_same_without_the_c_masks(monkeypatch):
    from pmortem.parsers import catalogue

    cat = load_catalogue()
    lines = (LOGHUB / "Hadoop" / "Hadoop_2k.log").read_text().splitlines() + [
        "Worker 4242 died (code: null, signal: SIGKILL), restarting",
        "java.lang.IllegalStateException: Response is closed",
        "fetch campaign 7 failed: context cancelled",
        "Number of CPUs: 48",
    ]
    df = pl.DataFrame({"message": lines}).with_row_index("_i")
    fast = catalogue.classify_frame(df, cat)
    monkeypatch.setattr(catalogue, "literal_masks", lambda texts, bits: None)
    slow = catalogue.classify_frame(df, cat)
    assert fast.equals(slow)
    assert fast.get_column("kind").drop_nulls().len() >= 4


@pytest.mark.parametrize("arrow_type", ["string", "large_string"])
def test_literal_masks_read_offset_string_layouts_too(arrow_type):
    """polars exports its String columns as string views; utf8 and large utf8 streams (as
    other Arrow producers write them) give the same masks."""
    import pyarrow as pa
    from pmortem.parsers.catalogue import _literal_bits
    from pmortem.parsers.literals import _mask_sets, literal_masks

    bits = _literal_bits(load_catalogue())
    texts = ["Worker 7 died", None, "", "ERROR: context cancelled", "nothing here", "Response is closed" * 3]
    expected = literal_masks(pl.Series(texts, dtype=pl.String), bits).to_list()
    search, per_lit = _mask_sets[tuple(sorted(bits.items()))]
    arr = pa.chunked_array([pa.array(texts[:2], type=getattr(pa, arrow_type)()), pa.array(texts[2:], type=getattr(pa, arrow_type)())])
    got = array("q", bytes(native._scan.literal_masks(search.compiled, per_lit, arr.__arrow_c_stream__()))).tolist()
    assert got == expected and expected[1] == 0 and expected[0] != 0
