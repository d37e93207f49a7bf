"""The C scanner's buffers as polars series, through the Arrow PyCapsule interface.

`_scan.arrow_export` copies a buffer into malloc'd memory that an Arrow C array owns (its
release only calls free(), so polars may drop it on any thread without the GIL); polars
imports it from `__arrow_c_array__`. No pyarrow: its import (with numpy's) costs about
65 ms of every start.
"""

from __future__ import annotations

import polars as pl


class Column:
    """n values of an Arrow format (C, c, i, l: uint8, int8, int32, int64; U: large UTF-8
    from int64 offsets and bytes), exported when polars asks."""

    __slots__ = ("_args",)

    def __init__(self, fmt: str, n: int, data, offsets=None):
        self._args = (fmt, n, data, offsets)

    def __arrow_c_array__(self, requested_schema=None):
        from . import _scan

        return _scan.arrow_export(*self._args)


def prim(buf, fmt: str, n: int) -> pl.Series:
    """A polars series of n fixed-width values the scanner filled (fmt: Arrow's C, c, i, l)."""
    return pl.Series(Column(fmt, n, buf))


def text(n: int, offsets, data) -> pl.Series:
    """A polars String series from int64 offsets and UTF-8 bytes the scanner made."""
    return pl.Series(Column("U", n, data, offsets))
