"""The scanner's arrays reach polars and DuckDB without pyarrow (parsers/_scan.c
`arrow_export` / `stream_values` / `indices`, parsers/arrowcols.py, ingest._Stream)."""

from __future__ import annotations

import random
import subprocess
import sys
from array import array

import polars as pl
import pytest
from pmortem.parsers import native

_scan = native._scan
pytestmark = pytest.mark.skipif(_scan is None, reason="the C extension is optional")  # built in CI


@pytest.mark.parametrize(
    ("fmt", "code", "dtype"),
    [("C", "B", pl.UInt8), ("c", "b", pl.Int8), ("i", "i", pl.Int32), ("l", "q", pl.Int64)],
)
def test_fixed_width_columns_keep_every_value(fmt, code, dtype):
    rng = random.Random(fmt)
    bits = array(code).itemsize * 8
    lo, hi = (0, 2**bits - 1) if code.isupper() else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    vals = [lo, hi, 0, *(rng.randint(lo, hi) for _ in range(997))]
    buf = bytearray(array(code, vals).tobytes())
    s = native._prim(buf, fmt, len(vals))
    buf[:] = bytes(len(buf))  # the series owns a copy: the scanner may reuse its arrays
    assert s.dtype == dtype
    assert s.to_list() == vals
    assert native._prim(b"", fmt, 0).to_list() == []
    # fewer values than the buffer holds: the first n
    assert native._prim(array(code, vals).tobytes(), fmt, 5).to_list() == vals[:5]


def test_text_columns_from_offsets_and_bytes():
    texts = ["", "a", "Grüße", "日本語のログ", "x" * 5000, "", "tab\there\nline"]
    data = "".join(texts).encode()
    offs, at = [0], 0
    for t in texts:
        at += len(t.encode())
        offs.append(at)
    s = native._text(len(texts), array("q", offs).tobytes(), data)
    assert s.dtype == pl.String
    assert s.to_list() == texts
    assert native._text(0, array("q", [0]).tobytes(), b"").to_list() == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("z", 1, b"\x00", None), "format"),
        (("l", 2, b"\x00" * 8, None), "shorter"),
        (("U", 1, b"ab", array("q", [0, 3]).tobytes()), "offsets do not fit"),
        (("U", 2, b"ab", array("q", [0, 2, 1]).tobytes()), "backwards"),
        (("U", 1, b"ab", array("q", [1, 2]).tobytes()), "offsets do not fit"),
        (("U", 1, b"ab", None), "offsets do not fit"),
    ],
)
def test_bad_buffers_are_refused_not_read_past(args, message):
    with pytest.raises(ValueError, match=message):
        _scan.arrow_export(*args)


def test_stream_values_reads_every_chunk_of_a_series():
    a = pl.Series([1, -2, 3], dtype=pl.Int32)
    b = pl.Series([40, 50], dtype=pl.Int32)
    chunked = a.append(b)  # two chunks
    assert chunked.n_chunks() == 2
    out = _scan.stream_values(chunked.__arrow_c_stream__(), 4)
    assert array("i", bytes(out)).tolist() == [1, -2, 3, 40, 50]
    sliced = pl.Series(range(10), dtype=pl.Int64).slice(3, 4)  # an offset into the buffer
    assert array("q", bytes(_scan.stream_values(sliced.__arrow_c_stream__(), 8))).tolist() == [3, 4, 5, 6]
    with pytest.raises(ValueError, match="null-free"):
        _scan.stream_values(pl.Series([1, None], dtype=pl.Int64).__arrow_c_stream__(), 8)


def test_indices_of_a_value():
    st = bytes([0, 1, 1, 0, 2, 1])
    assert array("q", bytes(_scan.indices(st, 1))).tolist() == [1, 2, 5]
    assert bytes(_scan.indices(st, 7)) == b""
    assert bytes(_scan.indices(b"", 1)) == b""


def test_an_ingest_does_not_import_pyarrow(tmp_path):
    """pyarrow and numpy cost about 65 ms of every start; the ingest path reads the scanner's
    arrays into polars and polars frames into DuckDB through Arrow PyCapsules instead.
    Both the native path and a deferred line (polars answers, scattered back) run here."""
    log = tmp_path / "pod.log"
    log.write_text(
        "2024-03-01T10:00:00.000000001Z Number of CPUs: 48\n"
        "2024-03-01T10:00:00.5Z\u3000Worker 7 died (code: null, signal: SIGKILL)\n"  # ideographic space: deferred
        '2024-03-01T10:00:01Z {"level":50,"msg":"fetch failed: context cancelled"}\n',
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from pmortem.cli import main\n"
        f"sys.argv = ['pmortem', 'ingest', '--db', {str(tmp_path / 'p.duckdb')!r}, {str(log)!r}, '-q']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "import duckdb\n"
        f"con = duckdb.connect({str(tmp_path / 'p.duckdb')!r}, read_only=True)\n"
        "print(con.execute('SELECT count(*) FROM events').fetchone()[0], 'pyarrow' in sys.modules, 'numpy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["3", "False", "False"]


def test_scanner_functions_that_let_go_of_the_gil_still_refuse_bad_arrays():
    """assemble and strings validate their inputs without the GIL now; the errors still come
    back as exceptions, not as reads out of bounds."""
    data = b"2024-03-01T10:00:00Z a\n2024-03-01T10:00:01Z b\n"
    r = _scan.scan(data, 0, 0, None)
    n = r["n"]
    ones = bytearray(b"\x01" * n)
    args = [r["status"], ones, ones, r["minute"], r["ts_us"], r["ent"], r["stream"], r["partial"], r["cont"],
            r["level"], r["hit"], r["start"], r["raw_len"], 1, 1, len(r["ents"]), 10]
    a = _scan.assemble(*args)
    assert a["cut"] == n and a["kept"] == 2
    bad_ent = bytearray(r["ent"])
    bad_ent[0:4] = (7).to_bytes(4, "little", signed=True)  # an entity id the chunk does not have
    with pytest.raises(ValueError, match="entity or stream out of range"):
        _scan.assemble(*args[:5], bad_ent, *args[6:])
    idx = array("q", [0, 1]).tobytes()
    po, pb, to, tb = _scan.strings(data, idx, r["start"], r["raw_len"], r["pay_off"], r["ts_off"], r["ts_len"])
    assert native._text(2, po, pb).to_list() == ["a", "b"]
    assert native._text(2, to, tb).to_list() == ["2024-03-01T10:00:00Z", "2024-03-01T10:00:01Z"]
    with pytest.raises(ValueError, match="line out of range"):
        _scan.strings(data, array("q", [0, 5]).tobytes(), r["start"], r["raw_len"], r["pay_off"], r["ts_off"], r["ts_len"])
