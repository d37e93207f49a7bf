"""Commits on the writer thread (pmortem/ingest.py `_Writer`).

The ingest builds step N+1 while step N is committed. What must not change: the steps are
committed in file order, each with its resume point; a commit that fails stops the ingest
with that error, after the steps before it are stored and none after it; the next run
finishes the job, and the database then equals a clean run's, row for row.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import table_rows

from pmortem import ingest as ingest_mod
from pmortem.ingest import IngestOptions, ingest

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
TABLES = ("events", "rejects", "line_index", "requests")


def _sources(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "SELECT path, status, bytes_done, lines_done, lines, lines_parsed, lines_rejected, lines_folded, "
            "lines_generic, events FROM sources ORDER BY path"
        ).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The incident bundle's kubectl export written four times over into one file: a request-heavy
    plain file of many small steps (with 16 KiB chunks)."""
    src = sorted((SAMPLES / "incident").rglob("*.log"))
    assert src, "samples/incident holds .log files"
    big = max(src, key=lambda p: p.stat().st_size)
    out = tmp_path_factory.mktemp("writer") / "export.log"
    body = big.read_bytes()
    out.write_bytes(body * 4 if body.endswith(b"\n") else (body + b"\n") * 4)
    return out


def test_a_failing_commit_stops_the_ingest_and_a_rerun_equals_a_clean_run(tmp_path, monkeypatch, bundle):
    opts = IngestOptions(chunk_bytes=16 * 1024)
    clean, broken = tmp_path / "clean.duckdb", tmp_path / "broken.duckdb"
    ingest([str(bundle)], str(clean), opts, progress=False)

    real = ingest_mod.commit_chunk
    done: list[int] = []
    fail_at = 6

    def flaky(con, source_id, res, bytes_done, lines_done, *a, **k):
        if len(done) + 1 == fail_at:
            raise OSError(28, "No space left on device (injected)")
        real(con, source_id, res, bytes_done, lines_done, *a, **k)
        done.append(bytes_done)

    monkeypatch.setattr(ingest_mod, "commit_chunk", flaky)
    with pytest.raises(OSError, match="injected"):
        ingest([str(bundle)], str(broken), opts, progress=False)
    # the steps before the failing one, in file order, and nothing after it
    assert len(done) == fail_at - 1 and done == sorted(done) and len(set(done)) == len(done)
    ((path, status, bytes_done, lines_done, lines, parsed, rejected, folded, generic, events),) = _sources(broken)
    assert status == "ingesting" and bytes_done == done[-1] < bundle.stat().st_size
    # what the database holds is what its counters say
    con = duckdb.connect(str(broken), read_only=True)
    (indexed,) = con.execute("SELECT coalesce(sum(lines), 0) FROM line_index").fetchone()
    (stored,) = con.execute("SELECT count(*) FROM events").fetchone()
    con.close()
    assert lines == lines_done and indexed == parsed and stored == events and parsed == lines - rejected
    assert 0 < lines < sum(1 for _ in bundle.open("rb"))

    monkeypatch.setattr(ingest_mod, "commit_chunk", real)
    ingest([str(bundle)], str(broken), opts, progress=False)
    assert [s[1:] for s in _sources(broken)] == [s[1:] for s in _sources(clean)]
    for t in TABLES:
        assert table_rows(broken, t) == table_rows(clean, t), t


def test_commits_run_in_file_order_on_another_thread(tmp_path, monkeypatch, bundle):
    import threading

    real = ingest_mod.commit_chunk
    seen: list[tuple[int, str]] = []

    def spy(con, source_id, res, bytes_done, *a, **k):
        seen.append((bytes_done, threading.current_thread().name))
        return real(con, source_id, res, bytes_done, *a, **k)

    monkeypatch.setattr(ingest_mod, "commit_chunk", spy)
    ingest([str(bundle)], str(tmp_path / "db.duckdb"), IngestOptions(chunk_bytes=16 * 1024), progress=False)
    offsets = [b for b, _ in seen]
    assert len(seen) > 5 and offsets == sorted(offsets)
    assert {name for _, name in seen} == {"pmortem-writer"}
    assert offsets[-1] == bundle.stat().st_size
