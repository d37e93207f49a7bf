"""Issue 3: idempotent, incremental, crash-safe, deduplicated, lock-aware, migrating."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import loghub

from pmortem import db as dbmod

COUNTS = """SELECT (SELECT count(*) FROM events), (SELECT coalesce(sum(lines), 0) FROM line_index),
                   (SELECT count(*) FROM rejects), (SELECT sum(lines) FROM sources),
                   (SELECT sum(lines_parsed) FROM sources), (SELECT sum(events) FROM sources)"""


def _big_file(tmp: Path, copies: int = 40) -> Path:
    """Real Hadoop + Zookeeper lines (with stack traces), repeated: a few MB."""
    parts = [loghub("Hadoop").read_bytes().rstrip(b"\n") + b"\n", loghub("Zookeeper").read_bytes().rstrip(b"\n") + b"\n"]
    f = tmp / "big.log"
    with open(f, "wb") as fh:
        for _ in range(copies):
            for p in parts:
                fh.write(p)
    return f


def test_reingest_adds_nothing_and_append_adds_only_new_lines(cli, tmp_path):
    f = tmp_path / "hadoop.log"
    lines = loghub("Hadoop").read_bytes().rstrip(b"\n").split(b"\n")
    f.write_bytes(b"\n".join(lines[:1500]) + b"\n")
    cli.ok("ingest", str(f), "-q")
    before = cli.sql(COUNTS)
    res = cli.ok("ingest", str(f))
    assert "unchanged" in res.output
    assert cli.sql(COUNTS) == before
    # append the rest: only the new lines are read
    with open(f, "ab") as fh:
        fh.write(b"\n".join(lines[1500:]) + b"\n")
    res = cli.ok("ingest", str(f))
    assert "appended" in res.output
    (src,) = cli.sources()
    assert src["lines"] == len(lines)
    # same result as one clean ingest of the whole file
    clean = tmp_path / "clean.duckdb"
    cli.ok("ingest", str(f), "-q", "--db", str(clean))
    con = duckdb.connect(str(clean), read_only=True)
    assert con.execute(COUNTS).fetchall() == cli.sql(COUNTS)
    con.close()


def test_renamed_or_rotated_file_is_recognised_by_content(cli, tmp_path):
    f = tmp_path / "app.log"
    shutil.copy(loghub("OpenStack"), f)
    cli.ok("ingest", str(f), "-q")
    before = cli.sql(COUNTS)
    f.rename(tmp_path / "app.log.1")
    res = cli.ok("ingest", str(tmp_path / "app.log.1"))
    assert "renamed" in res.output
    assert cli.sql(COUNTS) == before
    (src,) = cli.sources()
    assert src["path"].endswith("app.log.1")


def test_same_lines_from_two_exports_count_once(cli, tmp_path):
    """kubectl --prefix and the CRI file of the same pod hold the same lines: events stored once."""
    pod, ctr = "campaign-7f9c6d5b8-x2k9p", "campaign"
    cri_dir = tmp_path / "var/log/pods" / f"campaign_{pod}_0f1e2d3c-aaaa-bbbb-cccc-000000000001" / ctr
    cri_dir.mkdir(parents=True)
    payloads = ["Number of CPUs: 48", "Worker 4243 started", "Worker fragment (pid: 4243) died (code: null, signal: SIGKILL), restarting", "plain line"]
    stamps = [f"2022-04-08T20:55:0{i}.12345678{i}Z" for i in range(len(payloads))]
    (cri_dir / "0.log").write_text("".join(f"{t} stdout F {p}\n" for t, p in zip(stamps, payloads, strict=True)))
    (tmp_path / f"{pod}.log").write_text("".join(f"[pod/{pod}/{ctr}] {t} {p}\n" for t, p in zip(stamps, payloads, strict=True)))
    cli.ok("ingest", str(tmp_path / "var"), str(tmp_path / f"{pod}.log"), "-q")
    a, b = cli.sources()
    assert a["events"] == b["events"] == 3
    assert b["lines_duplicate"] == 3 and a["lines_duplicate"] == 0
    assert cli.sql("SELECT count(*) FROM events")[0][0] == 3
    # every line, events or not, is held by both
    assert a["lines_overlap"] == b["lines_overlap"] == len(payloads)
    assert "lines_overlap" in cli.ok("sources").stdout


def test_sources_overlap_counts_the_lines_two_exports_share(cli, tmp_path):
    """A kubectl export of the last part of a pod's log and the runtime's whole file: the
    overlap is the kubectl export's lines (it starts on a minute), the rest is the file's own."""
    from conftest import SAMPLES, require

    lines = require(SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log").read_text().splitlines()
    minute = lambda ln: ln.split(" ", 2)[1][:16]  # noqa: E731
    cut = next(i for i in range(len(lines) // 2, len(lines)) if minute(lines[i]) != minute(lines[i - 1]))
    pod_dir = tmp_path / "var" / "log" / "pods" / "campaign_campaign-7f9c6d5b8-x2k9p_0c1e4b52-7a35-4a8e-9a8b-4f4c1c5c6a10" / "campaign"
    pod_dir.mkdir(parents=True)
    cri = []
    for ln in lines:
        _prefix, ts, payload = ln.split(" ", 2)
        head, _, frac = ts[:-1].partition(".")
        cri.append(f"{head}.{frac.ljust(9, '0')}Z stdout F {payload}")
    (pod_dir / "0.log").write_text("\n".join(cri) + "\n")
    (tmp_path / "recent.log").write_text("\n".join(lines[cut:]) + "\n")
    cli.ok("ingest", str(pod_dir / "0.log"), str(tmp_path / "recent.log"), "-q")
    whole, recent = cli.sources()
    assert recent["lines"] == len(lines) - cut
    assert recent["lines_overlap"] == whole["lines_overlap"] == recent["lines"]


def test_lock_wait_names_the_other_process(cli, tmp_path):
    cli.ok("ingest", str(loghub("Apache")), "-q")
    holder = subprocess.Popen(
        [sys.executable, "-c", f"import duckdb,time; c=duckdb.connect({cli.db!r}); print('ok', flush=True); time.sleep(30)"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ok"
        t0 = time.monotonic()
        res = cli.run("sources", "--wait", "1")
        waited = time.monotonic() - t0
        assert res.exit_code == 2
        assert "in use by process" in res.output and str(holder.pid) in res.output
        assert waited >= 1.0
    finally:
        holder.kill()
        holder.wait()
    cli.ok("sources")


def test_old_schema_is_migrated_and_newer_schema_refused(cli, tmp_path):
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TIMESTAMPTZ)")
    dbmod.MIGRATIONS[0][1](con)  # a database as version 1 of pmortem made it
    con.execute("INSERT INTO schema_migrations VALUES (1, 'initial', now())")
    con.execute("INSERT INTO events (source_id, kind, message, pod) VALUES (7, 'cpu_count', 'Number of CPUs: 16', 'p-1')")
    con.close()
    cli.ok("ingest", str(loghub("Apache")), "-q", "--db", str(old))
    con = duckdb.connect(str(old), read_only=True)
    assert con.execute("SELECT max(version) FROM schema_migrations").fetchone()[0] == dbmod.SCHEMA_VERSION
    assert con.execute("SELECT count(*) FROM events WHERE source_id = 7 AND dedup_key IS NOT NULL").fetchone()[0] == 1
    con.close()
    con = duckdb.connect(str(old))
    con.execute("INSERT INTO schema_migrations VALUES (999, 'from the future', now())")
    con.close()
    res = cli.run("sources", "--db", str(old), db=False)
    assert res.exit_code == 2 and "newer than this pmortem knows" in res.output


ENV = {**os.environ, "PMORTEM_CHUNK_BYTES": str(256 * 1024)}


def _cmd(big: Path, db: Path) -> list[str]:
    return [sys.executable, "-c", "from pmortem.cli import main; main()", "ingest", str(big), "-q", "--db", str(db)]


def _big_kubectl_file(tmp: Path, copies: int = 12) -> Path:
    """The same lines as `kubectl logs --prefix --timestamps` prints them: the native, pipelined path."""
    plain = _big_file(tmp, copies)
    f = tmp / "big-kubectl.log"
    t0 = 1_700_000_000
    with open(f, "wb") as out:
        for i, line in enumerate(plain.read_bytes().splitlines()):
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i // 50)) + f".{i % 1000:03d}Z"
            pod = b"[pod/hadoop-7d9f8b6c4-qx2lp/app] " if i % 3 else b"[pod/zk-0/zookeeper] "
            out.write(pod + ts.encode() + b" " + line + b"\n")
    return f


@pytest.fixture(scope="module", params=["plain", "kubectl"])
def clean_run(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("kill9")
    big = _big_file(tmp, copies=12) if request.param == "plain" else _big_kubectl_file(tmp)
    db = tmp / "clean.duckdb"
    t0 = time.monotonic()
    subprocess.run(_cmd(big, db), env=ENV, check=True, cwd=tmp)
    seconds = time.monotonic() - t0
    con = duckdb.connect(str(db), read_only=True)
    counts = con.execute(COUNTS).fetchall()
    con.close()
    return big, seconds, counts


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.8])
def test_kill_9_mid_ingest_then_rerun_matches_clean_run(tmp_path, clean_run, fraction):
    big, seconds, clean_counts = clean_run
    killed_db = tmp_path / "killed.duckdb"
    p = subprocess.Popen(_cmd(big, killed_db), env=ENV, cwd=tmp_path)
    time.sleep(seconds * fraction)
    was_running = p.poll() is None
    if was_running:
        os.kill(p.pid, signal.SIGKILL)
    p.wait()
    if killed_db.exists():
        # consistent at rest: the counters match what is stored
        con = duckdb.connect(str(killed_db), read_only=True)
        # killed before the schema was committed: nothing stored, nothing to check
        has_schema = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sources'").fetchone()[0]
        got = con.execute("SELECT lines, lines_parsed, events FROM sources").fetchall() if has_schema else []
        if got:
            lines, parsed, events = got[0]
            assert con.execute("SELECT coalesce(sum(lines), 0) FROM line_index").fetchone()[0] == parsed
            assert con.execute("SELECT count(*) FROM events").fetchone()[0] == events
            assert lines <= clean_counts[0][3]
        con.close()
    subprocess.run(_cmd(big, killed_db), env=ENV, check=True, cwd=tmp_path)
    con = duckdb.connect(str(killed_db), read_only=True)
    assert con.execute(COUNTS).fetchall() == clean_counts
    con.close()
    assert clean_counts[0][3] == big.read_bytes().count(b"\n")


def test_small_or_empty_files_are_not_mistaken_for_each_other(cli, tmp_path):
    """An empty file is a prefix of every file: it must not make another file look 'appended'."""
    (tmp_path / "a-empty.log").write_bytes(b"")
    lines = loghub("Apache").read_bytes().split(b"\n")
    (tmp_path / "b-small.log").write_bytes(lines[0] + b"\n")
    (tmp_path / "c-apache.log").write_bytes(b"\n".join(lines[:100]) + b"\n")
    res = cli.ok("ingest", str(tmp_path))
    assert res.output.count("ingested") == 3 and "appended" not in res.output
    srcs = {s["path"].rsplit("/", 1)[-1]: s for s in cli.sources()}
    assert (srcs["a-empty.log"]["lines"], srcs["b-small.log"]["lines"], srcs["c-apache.log"]["lines"]) == (0, 1, 100)


def test_rotated_and_compressed_copy_is_recognised_by_content(cli, tmp_path):
    """logrotate moves app.log to app.log.1 and compresses it: same content, other bytes."""
    import gzip as gz

    import zstandard

    raw = loghub("Zookeeper").read_bytes()
    (tmp_path / "app.log").write_bytes(raw)
    cli.ok("ingest", str(tmp_path / "app.log"), "-q")
    before = cli.sql(COUNTS)
    (tmp_path / "app.log.1.gz").write_bytes(gz.compress(raw))
    (tmp_path / "app.log.2.zst").write_bytes(zstandard.ZstdCompressor().compress(raw))
    res = cli.ok("ingest", str(tmp_path / "app.log.1.gz"), str(tmp_path / "app.log.2.zst"))
    assert res.output.count("same-as") == 2
    assert cli.sql(COUNTS) == before
    # a compressed file with other content is still read
    (tmp_path / "other.log.gz").write_bytes(gz.compress(raw.replace(b"INFO", b"WARN")))
    cli.ok("ingest", str(tmp_path / "other.log.gz"), "-q")
    assert len(cli.sources()) == 2


def test_progress_bar_on_a_terminal_only(tmp_path):
    """A bar with bytes, lines, rate and ETA on a terminal; nothing but the summary otherwise."""
    import gzip as gz
    import pty

    big = _big_file(tmp_path, copies=6)
    src = tmp_path / "big.log.gz"
    src.write_bytes(gz.compress(big.read_bytes(), 1))
    cmd = [sys.executable, "-c", "from pmortem.cli import main; main()", "ingest", str(src)]
    master, slave = pty.openpty()
    p = subprocess.Popen([*cmd, "--db", str(tmp_path / "tty.duckdb")], stdout=slave, stderr=slave, env=ENV, cwd=tmp_path)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    p.wait()
    os.close(master)
    text = out.decode("utf-8", "replace")
    assert p.returncode == 0, text
    bars = [b for b in text.split("\r") if "MB/s ETA" in b]
    assert bars, text
    assert re.search(r"\d+\.\d% +[\d,]+/[\d,]+ MB +[\d,]+ lines +[\d.,]+ MB/s ETA \d+s", bars[-1]), bars[-1]
    # not a terminal: no bar, only the summary lines
    res = subprocess.run([*cmd, "--db", str(tmp_path / "pipe.duckdb")], capture_output=True, text=True, env=ENV, cwd=tmp_path)
    assert res.returncode == 0 and "ETA" not in res.stderr and "1 sources" in res.stderr


# ---------------------------------------------------------------- appends that continue the last event
EVENT_COLS = "line_no, byte_offset, line_count, ts, level, kind, message, error_class, pod, container, attrs"
INDEX_SUMS = "SELECT minute, pod, container, level, sum(lines) FROM line_index GROUP BY ALL ORDER BY ALL"
SOURCE_COUNTS = "SELECT lines, lines_parsed, lines_rejected, lines_folded, lines_generic, events FROM sources"


def _java_lines() -> list[str]:
    """The Java translation service's real output (logback lines, stack traces)."""
    import gzip

    from conftest import SAMPLES, require

    return gzip.decompress(require(SAMPLES / "incident" / "translation-service.log.gz").read_bytes()).decode().splitlines()


def _as_kubectl(lines: list[str]) -> list[str]:
    """`kubectl logs --timestamps` of the same lines (a frame gets its exception's time)."""
    out, ts = [], "2022-04-08T20:54:59.886Z"
    for ln in lines:
        m = re.match(r"(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d+) ", ln)
        if m:
            ts = f"{m.group(1)}T{m.group(2)}Z"
        out.append(f"{ts} {ln}")
    return out


def _snapshot(db: str) -> tuple:
    con = duckdb.connect(db, read_only=True)
    try:
        return (
            con.execute(f"SELECT {EVENT_COLS} FROM events ORDER BY line_no").fetchall(),
            con.execute(INDEX_SUMS).fetchall(),
            con.execute("SELECT line_no, reason FROM rejects ORDER BY line_no").fetchall(),
            con.execute(SOURCE_COUNTS).fetchall(),
        )
    finally:
        con.close()


@pytest.mark.parametrize("form", ["plain", "kubectl"])
@pytest.mark.parametrize("split", ["inside a stack trace", "inside a line"])
def test_append_that_continues_the_last_event_equals_a_clean_ingest(cli, tmp_path, form, split):
    """The file's last event is open: an append may bring more of its stack frames, or the
    rest of an unterminated last line. It is read again with them, as a clean ingest has it."""
    lines = _java_lines()
    if form == "kubectl":
        lines = _as_kubectl(lines)
    text = "\n".join(lines) + "\n"
    frame = next(i for i, ln in enumerate(lines) if re.search(r"\tat ", ln) and "Exception" in lines[i - 1])
    if split == "inside a stack trace":
        cut = len("\n".join(lines[: frame + 1]) + "\n")  # the exception and its first frame only
    else:
        cut = len("\n".join(lines[:200]) + "\n") + 30  # 30 bytes into line 201, no newline
    f = tmp_path / "translation.log"
    f.write_text(text[:cut])
    cli.ok("ingest", str(f), "-q")
    assert cli.sql("SELECT tail IS NOT NULL FROM sources") == [(True,)]
    ((before,),) = cli.sql("SELECT lines FROM sources")
    with open(f, "a") as fh:
        fh.write(text[cut:])
    out = cli.ok("ingest", str(f)).output
    # the summary counts what the source gained, not the re-read tail again
    gained = re.search(r"appended\s+\S+\s+([\d,]+) lines", out)
    assert gained and int(gained.group(1).replace(",", "")) == len(lines) - before, out
    clean = str(tmp_path / "clean.duckdb")
    cli.ok("ingest", str(f), "-q", "--db", clean)
    got, want = _snapshot(cli.db), _snapshot(clean)
    assert got[0] == want[0]  # events: the exception holds all its frames; line 201 is whole
    assert got[1:] == want[1:]
    assert want[3][0][0] == len(lines)


@pytest.mark.parametrize("form", ["plain", "kubectl"])
def test_append_to_a_file_that_is_one_event_continues_it(cli, tmp_path, form):
    """A file holding a single event (an exception and its first frames) can't be cut: the
    whole file is its open tail, and an append with more frames continues that event."""
    lines = _java_lines()
    start = next(i for i, ln in enumerate(lines) if re.search(r"\tat ", ln) and "Exception" in lines[i - 1]) - 2
    end = start + 2
    while end < len(lines) and lines[end].startswith("\t"):
        end += 1
    lines = lines[start:end]  # the ERROR line, the exception, its frames
    if form == "kubectl":
        lines = _as_kubectl(lines)
    f = tmp_path / "one.log"
    f.write_text("\n".join(lines[:3]) + "\n")
    cli.ok("ingest", str(f), "-q")
    with open(f, "a") as fh:
        fh.write("\n".join(lines[3:]) + "\n")
    cli.ok("ingest", str(f), "-q")
    clean = str(tmp_path / "clean.duckdb")
    cli.ok("ingest", str(f), "-q", "--db", clean)
    assert _snapshot(cli.db) == _snapshot(clean)
    assert cli.sql("SELECT max(line_count) FROM events")[0][0] >= len(lines) - 1


def test_sources_overlap_on_the_incident_bundle_stays_within_each_source(cli):
    """The founding bundle holds the same spans twice (JSON lines and an OTLP document) and the
    Loki history repeats the pods' startup lines: overlaps are found, and never exceed a
    source's own lines (a whole JSON document has records, not lines: 0)."""
    from conftest import SAMPLES, require

    cli.ok("ingest", str(require(SAMPLES / "incident")), str(require(SAMPLES / "history")), "-q")
    srcs = cli.sources()
    assert all(0 <= s["lines_overlap"] <= s["lines"] for s in srcs), [(s["path"], s["lines"], s["lines_overlap"]) for s in srcs]
    assert all(s["lines_overlap"] == 0 for s in srcs if s["format"] == "document")
    (spans,) = [s for s in srcs if s["format"] == "otel_span_ndjson"]
    assert spans["lines_overlap"] == spans["lines"]  # every span is also in the OTLP document
    (loki,) = [s for s in srcs if s["format"] == "loki"]
    assert 0 < loki["lines_overlap"] < loki["lines"]  # the incident day's startups only


def test_written_files_use_small_row_groups_and_paths_may_hold_quotes(tmp_path):
    """pmortem writes row groups of db.ROW_GROUP_SIZE rows (an ATTACH option), so a commit's
    full row groups skip the WAL; the file opens like any DuckDB file afterwards."""
    d = tmp_path / "it's here"
    d.mkdir()
    path = str(d / "pm.duckdb")
    con = dbmod.connect(path)
    con.execute("CREATE TABLE t AS SELECT range AS i FROM range(30000)")
    con.close()
    con = duckdb.connect(path, read_only=True)
    sizes = [r[0] for r in con.execute("SELECT max(count) FROM pragma_storage_info('t') GROUP BY row_group_id").fetchall()]
    con.close()
    assert len(sizes) == -(-30000 // dbmod.ROW_GROUP_SIZE) and max(sizes) == dbmod.ROW_GROUP_SIZE
    # and the lock is the file's, as with duckdb.connect(path)
    held = dbmod.connect(path)
    try:
        with pytest.raises(duckdb.Error, match="(?i)lock|attached"):
            duckdb.connect(path)
    finally:
        held.close()
