"""The line index and the request rollup do not depend on how a source was cut.

A chunk writes its own line_index rows (per minute, entity, level) and request rollup rows
(per second and request key); a minute or a second that a chunk boundary cuts used to be two
rows. Where the boundaries fall depends on the chunk size, on a request-heavy chunk's weight,
on Spark's byte ranges, on an append: the rows of a source are merged per key at its end, so
the same lines give the same rows (issue 17: the Spark run row for row equal to the local one).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest
from conftest import table_rows

from pmortem.ingest import IngestOptions, ingest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TABLES = ("line_index", "requests", "events", "rejects")


@pytest.mark.parametrize("bundle", ["pool", "unknown", "gunicorn-timeout", "session", "incident"])
def test_rows_do_not_depend_on_the_chunk_size(tmp_path, bundle):
    whole, small = tmp_path / "whole.duckdb", tmp_path / "small.duckdb"
    ingest([str(SAMPLES / bundle)], str(whole), IngestOptions(), progress=False)
    ingest([str(SAMPLES / bundle)], str(small), IngestOptions(chunk_bytes=8192), progress=False)
    con = duckdb.connect(str(small), read_only=True)
    # the small chunks really cut the bundle's minutes and seconds
    assert con.execute("SELECT max(size) FROM sources").fetchone()[0] > 8 * 8192
    con.close()
    for t in TABLES:
        assert table_rows(small, t) == table_rows(whole, t), t
    # and every key is one row (the open tail's rows apart: an append takes them back by line)
    con = duckdb.connect(str(small), read_only=True)
    tail = "t.first_line >= coalesce((s.tail->>'line')::BIGINT, 4611686018427387904)"
    for table, key in (
        ("line_index", "minute, t.service, t.pod, t.container, level"),
        ("requests", "t.service, t.pod, pid, second, method, route, t.status, upstream"),
    ):
        dups = con.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} t JOIN sources s USING (source_id) "
            f"GROUP BY source_id, {key}, {tail} HAVING count(*) > 1)"
        ).fetchone()[0]
        assert dups == 0, table
    con.close()


def _access_log() -> tuple[str, bytes]:
    """The sample with the most request lines in one file (a real ingress-nginx capture)."""
    p = SAMPLES / "pool" / "ingress-nginx-controller-6d4c8b7f9-r7t2m.log.gz"
    return p.name.removesuffix(".gz"), gzip.decompress(p.read_bytes())


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.77])
def test_append_gives_the_rows_of_a_clean_ingest(tmp_path, cut):
    name, data = _access_log()
    assert data.count(b"\n") > 1000
    at = data.index(b"\n", int(len(data) * cut)) + 1
    f = tmp_path / name
    f.write_bytes(data[:at])
    grown = tmp_path / "grown.duckdb"
    ingest([str(f)], str(grown), IngestOptions(chunk_bytes=16384), progress=False)
    with open(f, "ab") as fh:
        fh.write(data[at:])
    s = ingest([str(f)], str(grown), IngestOptions(chunk_bytes=16384), progress=False)
    assert [x.action for x in s.sources] == ["appended"]
    clean = tmp_path / "clean.duckdb"
    ingest([str(f)], str(clean), IngestOptions(), progress=False)
    for t in TABLES:
        assert table_rows(grown, t) == table_rows(clean, t), t
    con = duckdb.connect(str(clean), read_only=True)
    assert con.execute("SELECT sum(lines) FROM line_index").fetchone()[0] + con.execute(
        "SELECT lines_rejected FROM sources"
    ).fetchone()[0] == data.count(b"\n")
    con.close()
