"""The literal prefilter of the native path: where in a chunk could an event start.

Does a catalogue prefilter literal start in a line's payload, ASCII-case-insensitively:
`_scan.scan` answers per line (parsers/_scan.c: the Teddy algorithm of Hyperscan and Rust's
aho-corasick, a bucket mask per position from nibble tables, 32 positions per AVX2 step,
then each candidate confirmed), only over payloads (not the kubectl prefix or timestamp)
and up to the first hit. `_scan.find_literals` gives all start offsets in a buffer (the
tests compare it with Python's re). Both run without the GIL.

This module decides which of the 8 buckets each literal goes to. A bucket lets a position
through when each of the first FINGERPRINT bytes has its low and high nibble in the
bucket's sets (past a short literal's end, any byte), so literals whose first bytes share
nibbles belong together: the fewer byte values a bucket accepts, the fewer positions the
C side must confirm. Placement is greedy, then improved by moving one prefix at a time
while the estimated pass rate drops.
"""

from __future__ import annotations

import functools

BUCKETS = 8
FINGERPRINT = 5  # bytes per position tested in SIMD: more cost more, fewer false candidates

# how often each printable byte occurs in log text, per mille: measured on the 16 Loghub
# 2k samples and pmortem's samples/ (5.4 MB); every other printable byte counts 0.4, the
# rest 0.1. Only weighs how many positions a bucket is estimated to let through.
_FREQ = {
    " ": 90.3, "0": 54.4, "e": 48.7, "1": 46.4, "2": 37.7, "a": 37.3, "t": 33.0, "o": 32.7, "n": 29.3,
    "r": 28.9, ":": 27.3, "i": 25.0, "5": 24.4, "c": 24.3, "s": 24.0, "-": 23.9, "d": 23.9, ".": 23.5,
    "4": 21.8, "3": 21.2, "6": 18.6, "8": 18.2, "7": 18.0, "9": 17.4, "l": 16.6, "p": 15.8, "m": 14.2,
    "u": 12.3, "g": 11.2, "b": 9.6, "h": 8.6, "/": 8.3, "f": 8.3, "k": 7.3, "S": 5.7, "v": 5.7, "[": 5.5,
    "]": 5.5, "N": 5.3, ",": 5.2, "_": 5.0, "T": 4.7, "x": 4.7, "y": 4.5, "R": 4.4, "I": 4.3, "=": 4.3,
    '"': 4.0, "C": 3.9, "E": 3.5, "F": 3.5, "M": 3.0, "A": 3.0, "w": 2.9, "O": 2.7, "D": 2.5, "L": 2.5,
    "(": 2.3, ")": 2.3, "B": 2.3, "W": 2.0, "P": 2.0, "Z": 1.9, "J": 1.6, "U": 1.5, "K": 1.2, "|": 1.1,
    "#": 1.0, "*": 0.9, "q": 0.8, "@": 0.8, "G": 0.8, "H": 0.7, "z": 0.6, "V": 0.5,
}
_WEIGHT = [0.1] * 256
for _c in range(0x20, 0x7F):
    _WEIGHT[_c] = 0.4
for _k, _v in _FREQ.items():
    _WEIGHT[ord(_k)] = _v
_TOTAL = sum(_WEIGHT)
_ALL = 0xFFFF  # all 16 nibbles


def _nibbles(prefix: bytes, fp: int) -> tuple[tuple[int, int], ...]:
    """Per fingerprint byte, (low-nibble bits, high-nibble bits) a literal needs there."""
    out = []
    for k in range(fp):
        if k >= len(prefix):
            out.append((_ALL, _ALL))  # past its end: any byte
            continue
        c = prefix[k]
        hi = (1 << (c >> 4)) | (1 << ((c ^ 0x20) >> 4)) if 0x61 <= c <= 0x7A else 1 << (c >> 4)
        out.append((1 << (c & 15), hi))
    return tuple(out)


@functools.cache
def _pass_rate(lo: int, hi: int) -> float:
    """Weighted share of byte values whose low nibble is in `lo` and high nibble in `hi`."""
    return sum(_WEIGHT[(h << 4) | x] for h in range(16) if hi >> h & 1 for x in range(16) if lo >> x & 1) / _TOTAL


def _cost(sets) -> float:
    """Estimated share of positions a bucket with these nibble sets lets through."""
    p = 1.0
    for lo, hi in sets:
        p *= _pass_rate(lo, hi)
    return p


def _union(a, b):
    return tuple((l1 | l2, h1 | h2) for (l1, h1), (l2, h2) in zip(a, b, strict=True))


def plan(literals: list[str], fp: int = FINGERPRINT) -> tuple[list[bytes], bytes]:
    """(literals, lowered and deduplicated, literals with one prefix adjacent; their buckets)."""
    lits = sorted({x.encode().lower() if x.isascii() else x.encode() for x in literals if x})
    if not lits:
        raise ValueError("no literals")
    groups: dict[bytes, list[bytes]] = {}
    for x in lits:
        groups.setdefault(x[:fp], []).append(x)
    nib = {p: _nibbles(p, fp) for p in groups}
    empty = ((0, 0),) * fp

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

    @property
    def compiled(self):
        """The C literal set (`_scan.scan` searches each line's payload with it)."""
        return self._set

    def starts(self, data) -> bytes:
        """int64 offsets where some literal starts (each offset once), as bytes."""
        return self._scan.find_literals(self._set, data)


_mask_sets: dict[tuple, tuple] = {}


def literal_masks(texts, bits: dict[str, int]):
    """Per string of `texts` (a polars String series), the OR of `bits[lit]` over the literals
    that occur in it, ASCII-case-insensitively, overlapping occurrences included; an Int64
    series. `bits` keys are lowercased ASCII literals. None without the C extension."""
    try:
        from . import _scan
    except ImportError:  # pragma: no cover - depends on the build
        return None
    from .arrowcols import prim

    key = tuple(sorted(bits.items()))
    if key not in _mask_sets:
        search = LiteralSearch(list(bits))
        per_lit = b"".join(int(bits[lit.decode()]).to_bytes(8, "little", signed=True) for lit in search.literals)
        _mask_sets[key] = (search, per_lit)
    search, per_lit = _mask_sets[key]
    out = _scan.literal_masks(search.compiled, per_lit, texts.__arrow_c_stream__())
    return prim(out, "l", len(out) // 8)

