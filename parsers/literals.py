"""The literal prefilter of the native path: where in a chunk could an event start.

All start offsets of the catalogue's prefilter literals, ASCII-case-insensitively, found by
`_scan.find_literals` (parsers/_scan.c: the Teddy algorithm of Hyperscan and Rust's
aho-corasick, a bucket mask per position from nibble tables, 32 positions per AVX2 step,
then each candidate confirmed). It runs without the GIL, so the scan thread never waits
for the main thread (the `hyperscan` package called back into Python for every match).

This module decides which of the 8 buckets each literal goes to. A bucket lets a position
through when each of the first FINGERPRINT bytes has its low and high nibble in the
bucket's sets (past a short literal's end, any byte), so literals whose first bytes share
nibbles belong together: the fewer byte values a bucket accepts, the fewer positions the
C side must confirm. Placement is greedy, then improved by moving one prefix at a time
while the estimated pass rate drops.
"""

from __future__ import annotations

BUCKETS = 8
FINGERPRINT = 5  # bytes per position tested in SIMD: more cost more, fewer false candidates

# how often each byte value occurs in log text (per mille, printable ASCII; measured on the
# 16 Loghub samples and pmortem's own samples): weighs how many positions a bucket passes
_FREQ = {
    " ": 140, "e": 52, "t": 38, "a": 33, "o": 32, "r": 31, "i": 30, "n": 30, "s": 29, "c": 20,
    "l": 20, "d": 19, "u": 16, "p": 15, "m": 14, "h": 11, "g": 10, "f": 9, "b": 7, "v": 5,
    "w": 5, "y": 5, "k": 4, "x": 3, "q": 1, "j": 1, "z": 1,
    "0": 30, "1": 25, "2": 20, "3": 12, "4": 11, "5": 11, "6": 10, "7": 9, "8": 9, "9": 9,
    ":": 18, ".": 18, "-": 13, "_": 8, "/": 8, ",": 6, '"': 10, "=": 5, "[": 4, "]": 4,
    "(": 3, ")": 3, "{": 2, "}": 2,
}
_WEIGHT = [0.2] * 256
for _c in range(0x20, 0x7F):
    _WEIGHT[_c] = 1.0  # upper case and other punctuation
for _k, _v in _FREQ.items():
    _WEIGHT[ord(_k)] = float(_v)
_TOTAL = sum(_WEIGHT)
_ROW = [_WEIGHT[h << 4 : (h + 1) << 4] for h in range(16)]


def _nibbles(prefix: bytes, fp: int) -> list[tuple[frozenset[int], frozenset[int]]]:
    out = []
    for k in range(fp):
        if k >= len(prefix):
            out.append((frozenset(range(16)), frozenset(range(16))))
            continue
        c = prefix[k]
        hi = {c >> 4, (c ^ 0x20) >> 4} if 0x61 <= c <= 0x7A else {c >> 4}
        out.append((frozenset({c & 15}), frozenset(hi)))
    return out


def _cost(sets) -> float:
    """Estimated share of positions a bucket with these nibble sets lets through."""
    p = 1.0
    for lo, hi in sets:
        p *= sum(_ROW[h][x] for h in hi for x in lo) / _TOTAL
    return p


def _union(a, b):
    return [(l1 | l2, h1 | h2) for (l1, h1), (l2, h2) in zip(a, b, strict=True)]


def plan(literals: list[str], fp: int = FINGERPRINT) -> tuple[list[bytes], bytes]:
    """(literals, lowered and deduplicated, literals with one prefix adjacent; their buckets)."""
    lits = sorted({x.encode().lower() if x.isascii() else x.encode() for x in literals if x})
    if not lits:
        raise ValueError("no literals")
    groups: dict[bytes, list[bytes]] = {}
    for x in lits:
        groups.setdefault(x[:fp], []).append(x)
    nib = {p: _nibbles(p, fp) for p in groups}
    empty = [(frozenset(), frozenset())] * fp

    def sets_of(members: list[bytes]):
        sets = empty
        for p in members:
            sets = _union(sets, nib[p])
        return sets

    # the loosest prefixes first, each where it adds the least
    assign: list[list[bytes]] = [[] for _ in range(BUCKETS)]
    sets = [empty] * BUCKETS
    costs = [0.0] * BUCKETS
    for p in sorted(groups, key=lambda p: (-_cost(nib[p]), p)):
        merged = [_union(sets[b], nib[p]) for b in range(BUCKETS)]
        grown = [_cost(merged[b]) for b in range(BUCKETS)]
        best = min(range(BUCKETS), key=lambda b: (grown[b] - costs[b], b))
        assign[best].append(p)
        sets[best], costs[best] = merged[best], grown[best]
    # then move single prefixes while that lowers the estimated total
    for _ in range(20):
        moved = False
        for p in sorted(groups):
            src = next(b for b in range(BUCKETS) if p in assign[b])
            rest = [q for q in assign[src] if q != p]
            rest_sets = sets_of(rest)
            c_src = _cost(rest_sets) if rest else 0.0
            best, best_gain = None, 1e-12
            for dst in range(BUCKETS):
                if dst == src:
                    continue
                merged = _union(sets[dst], nib[p])
                gain = costs[src] + costs[dst] - c_src - _cost(merged)
                if gain > best_gain:
                    best, best_gain, best_sets = dst, gain, merged
            if best is not None:
                assign[src], sets[src], costs[src] = rest, rest_sets, c_src
                assign[best] = assign[best] + [p]
                sets[best], costs[best] = best_sets, _cost(best_sets)
                moved = True
        if not moved:
            break
    # literals sharing their first three bytes stay adjacent (the C side hashes on them)
    order = sorted((x[:3], b, x) for b in range(BUCKETS) for p in assign[b] for x in groups[p])
    return [x for _, _, x in order], bytes(b for _, b, _ in order)


class LiteralSearch:
    """All occurrences of a literal set, ASCII-case-insensitively, as sorted start offsets."""

    def __init__(self, literals: list[str], fp: int = FINGERPRINT):
        from . import _scan

        self._scan = _scan
        ordered, ids = plan(literals, fp)
        self.literals = ordered
        self._set = _scan.literal_set(ordered, ids, fp)

    def starts(self, data, *, scalar: bool = False) -> bytes:
        """int64 offsets where some literal starts (each offset once), as bytes."""
        return self._scan.find_literals(self._set, data, scalar)
