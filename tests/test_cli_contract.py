"""The command line's contract: refusals are one line and exit 2 and leave the database as it
was, byte for byte; options are checked before any work; Ctrl-C is one line and exit 130 and
the interrupted ingest completes on a re-run; tables fit the terminal."""

from __future__ import annotations

import hashlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner
from conftest import SAMPLES, require

from pmortem import db as dbmod
from pmortem.cli import format_table, main, truncate


def _hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _files(path: Path) -> dict[str, str | None]:
    """The database and whatever DuckDB keeps beside it (a .wal)."""
    return {p.name: _hash(p) for p in sorted(path.parent.glob(path.name + "*"))}


def _run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _refused(res, *needles: str) -> str:
    """Exit 2, one line on stderr that starts `pmortem: error:`, nothing on stdout, no traceback."""
    err = res.stderr
    assert res.exit_code == 2, (res.exit_code, res.output)
    assert err.count("\n") == 1 and err.startswith("pmortem: error: "), err
    assert "Traceback" not in res.output and res.stdout == ""
    for n in needles:
        assert n in err, (n, err)
    return err


@pytest.fixture(scope="module")
def fb(tmp_path_factory) -> Path:
    """samples/forkbomb ingested: a pmortem database with events of service `checkout`."""
    db = tmp_path_factory.mktemp("contract") / "fb.duckdb"
    res = _run("ingest", str(require(SAMPLES / "forkbomb")), "--db", str(db), "-q")
    assert res.exit_code == 0, res.output
    return db


@pytest.fixture
def foreign(tmp_path) -> Path:
    """Someone else's DuckDB file: tables of its own, no pmortem schema."""
    p = tmp_path / "theirs.duckdb"
    con = duckdb.connect(str(p))
    con.execute("CREATE TABLE orders (id INTEGER, total DOUBLE); INSERT INTO orders VALUES (1, 9.5)")
    con.close()
    return p


@pytest.fixture
def empty_pmortem(tmp_path) -> Path:
    p = tmp_path / "empty.duckdb"
    dbmod.connect(str(p)).close()  # the schema, no events
    return p


ANALYSIS = [
    ("report",),
    ("scan",),
    ("sources",),
    ("sql", "SELECT count(*) FROM events"),
]


@pytest.mark.parametrize("cmd", ANALYSIS, ids=lambda c: c[0])
def test_someone_elses_duckdb_file_is_refused_and_untouched(foreign, cmd):
    before = _files(foreign)
    _refused(_run(*cmd, "--db", str(foreign)), "not pmortem's")
    assert _files(foreign) == before


@pytest.mark.parametrize("cmd", [*ANALYSIS, ("ingest", "x.log")], ids=lambda c: c[0])
def test_not_a_duckdb_file_is_refused_and_untouched(tmp_path, cmd):
    p = tmp_path / "notes.duckdb"
    p.write_text("my shopping list\n")
    before = _files(p)
    if cmd[0] == "ingest":
        (tmp_path / "x.log").write_text("2024-01-01T00:00:00Z hello\n")
        cmd = ("ingest", str(tmp_path / "x.log"))
    _refused(_run(*cmd, "--db", str(p)), "not a pmortem database")
    assert _files(p) == before


def test_ingest_into_someone_elses_duckdb_file_is_refused(foreign, tmp_path):
    log = tmp_path / "a.log"
    log.write_text("2024-01-01T00:00:00Z hello\n")
    before = _files(foreign)
    _refused(_run("ingest", str(log), "--db", str(foreign)), "not pmortem's")
    assert _files(foreign) == before


@pytest.mark.parametrize("cmd", ANALYSIS, ids=lambda c: c[0])
def test_missing_database_is_refused_and_not_created(tmp_path, cmd):
    p = tmp_path / "nope.duckdb"
    _refused(_run(*cmd, "--db", str(p)), "no database at", "pmortem ingest")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("cmd", [("report",), ("scan",)], ids=lambda c: c[0])
def test_empty_pmortem_database_is_refused_by_the_analysis(empty_pmortem, cmd):
    before = _files(empty_pmortem)
    _refused(_run(*cmd, "--db", str(empty_pmortem)), "holds no events", "pmortem sources")
    assert _files(empty_pmortem) == before
    # `sources` is how one finds out why: it answers on an empty database
    assert _run("sources", "--db", str(empty_pmortem)).exit_code == 0
    assert _files(empty_pmortem) == before


@pytest.mark.parametrize("cmd", [("report",), ("scan",)], ids=lambda c: c[0])
def test_window_without_events_is_refused(fb, cmd):
    before = _files(fb)
    err = _refused(
        _run(*cmd, "--db", str(fb), "--since", "2001-01-01T00:00:00Z", "--until", "2001-01-02T00:00:00Z"),
        "no events between 2001-01-01T00:00:00Z and 2001-01-02T00:00:00Z",
    )
    assert "2022-05-10" in err  # the span the database does hold
    assert _files(fb) == before


def test_unknown_service_is_refused_naming_the_services(fb):
    before = _files(fb)
    _refused(_run("report", "--db", str(fb), "--service", "chekout"), "'chekout'", "services there: checkout")
    assert _files(fb) == before
    # the service matches as the detectors match it: by name, or as a pod name prefix
    assert _run("report", "--db", str(fb), "--service", "checkout", "-f", "json").exit_code == 0


def test_analysis_commands_leave_the_database_byte_for_byte(fb, tmp_path):
    before = _files(fb)
    for args in (
        ("report", "-f", "json"),
        ("report", "-o", str(tmp_path / "r.md")),
        ("sources",),
        ("scan", "--fail-on", "incident", "--dry-run"),  # without --dry-run scan writes its memory
        ("sql", "SELECT kind, count(*) FROM events GROUP BY ALL"),
    ):
        res = _run(*args, "--db", str(fb))
        assert res.exit_code in (0, 1), (args, res.output)
    assert _files(fb) == before
    assert (tmp_path / "r.md").read_text().startswith("#")


def test_sql_is_read_only_unless_write(fb, tmp_path):
    db = tmp_path / "copy.duckdb"
    db.write_bytes(fb.read_bytes())
    before = _files(db)
    _refused(
        _run("sql", "DELETE FROM events", "--db", str(db)), "read-only", "--write", "nothing was changed"
    )
    assert _files(db) == before
    (n,) = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM events").fetchone()
    assert n > 0
    res = _run("sql", "--write", "DELETE FROM events WHERE kind = 'worker_exit'", "--db", str(db))
    assert res.exit_code == 0, res.output
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM events WHERE kind = 'worker_exit'").fetchone()[0] == 0
    con.close()


def test_sql_error_keeps_duckdbs_whole_message(fb):
    res = _run("sql", "SELECT * FROM event", "--db", str(fb))
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.stderr.startswith("pmortem: error: SQL failed: Catalog Error")
    assert 'Did you mean "events"?' in res.stderr


def test_older_schema_read_only_asks_for_migrate(tmp_path):
    old = tmp_path / "old.duckdb"
    con = duckdb.connect(str(old))
    con.execute(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT, applied_at TIMESTAMPTZ)"
    )
    dbmod.MIGRATIONS[0][1](con)
    con.execute("INSERT INTO schema_migrations VALUES (1, 'initial', now())")
    con.close()
    before = _files(old)
    for cmd in ANALYSIS:
        _refused(_run(*cmd, "--db", str(old)), "older than this pmortem", "pmortem migrate")
    assert _files(old) == before
    res = _run("migrate", "--db", str(old))
    assert res.exit_code == 0 and f"1 -> {dbmod.SCHEMA_VERSION}" in res.stderr
    assert _run("sources", "--db", str(old)).exit_code == 0
    assert "up to date" in _run("migrate", "--db", str(old)).stderr


def test_bad_options_are_refused_before_any_work(tmp_path, fb):
    log = tmp_path / "a.log"
    log.write_text("2024-01-01T00:00:00Z hello\n")
    db = tmp_path / "new.duckdb"
    err = _refused(
        _run("ingest", str(log), "--db", str(db), "--memory-limit", "lots"),
        "--memory-limit",
        "'lots'",
        "512MB",
    )
    assert "pmortem ingest --help" in err
    assert not db.exists()
    _refused(_run("ingest", str(log), "--db", str(db), "--threads", "0"), "--threads")
    _refused(_run("scan", "--db", str(fb), "--last", "soon"), "--last", "30m")
    _refused(_run("report", "--db", str(fb), "--since", "yesterday"), "--since", "ISO 8601")
    _refused(_run("report", "--db", str(fb), "--tolerance", "-1"), "--tolerance")
    _refused(_run("report", "--db", str(fb), "-f", "csv"), "--format", "md, text, json")
    _refused(_run("report", "--db", str(fb), "--config", str(tmp_path / "none.toml")), "--config")
    assert not db.exists()


def test_out_into_a_missing_folder_is_refused_before_the_analysis(tmp_path):
    # the database does not exist either: the --out check comes first, so no work was started
    res = _run(
        "report", "--db", str(tmp_path / "missing.duckdb"), "-o", str(tmp_path / "no" / "such" / "pm.md")
    )
    _refused(res, "--out", "does not exist")
    res = _run("sql", "SELECT 1", "--db", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path))
    _refused(res, "is a folder")


def test_format_vocabulary_and_old_values(fb, tmp_path):
    import json

    for cmd in (
        ("sql", "SELECT kind, count(*) AS n FROM events GROUP BY ALL ORDER BY 1"),
        ("sources",),
        ("scan", "--fail-on", "incident", "--dry-run"),  # the same output each time: nothing remembered
    ):
        outs = {}
        for fmt in ("text", "table", "md", "markdown", "csv", "json"):
            res = _run(*cmd, "--db", str(fb), "-f", fmt)
            assert res.exit_code in (0, 1), (cmd, fmt, res.output)
            outs[fmt] = res.stdout
        assert outs["text"] == outs["table"] and outs["md"] == outs["markdown"]
        assert outs["md"].startswith("| ") and outs["csv"].count(",") >= 1
        json.loads(outs["json"])
        out = tmp_path / f"{cmd[0]}.json"
        res = _run(*cmd, "--db", str(fb), "--format", "json", "-o", str(out))
        assert res.stdout == "" and json.loads(out.read_text()) == json.loads(outs["json"])
    md = _run("report", "--db", str(fb), "-f", "md").stdout
    assert _run("report", "--db", str(fb), "--format", "text").stdout == md
    assert json.loads(_run("report", "--db", str(fb), "-f", "json").stdout)["incident"] is True


def test_every_command_help_ends_with_an_example():
    for name, cmd in main.commands.items():
        res = _run(name, "--help")
        assert res.exit_code == 0
        body = cmd.help or ""
        assert "Example:" in body and body.rstrip().splitlines()[-1].strip().startswith("pmortem "), name


# ---------------------------------------------------------------- tables


def test_truncate_marks_the_cut():
    t = truncate("/var/log/pods/ns_pod_uid/app/0.log", 12, left=True)
    assert t.startswith("…") and t.endswith("app/0.log") and len(t) == 12
    t = truncate("connection reset by peer", 10)
    assert t == "connectio…" and len(t) == 10
    assert truncate("short", 10) == "short"


def test_table_fits_the_width_numbers_right_aligned_paths_cut_left():
    cols = ["source_id", "message", "path", "events"]
    rows = [
        (
            1,
            "worker 12 died of SIGKILL after 3 restarts in a row",
            "/var/log/pods/default_checkout-6b7f9d8c5-w2x4z/app/0.log",
            1234567,
        ),
        (2, None, "/tmp/b.log", 5),
    ]
    text = format_table(cols, rows, width=60)
    lines = text.splitlines()
    assert all(len(line) <= 60 for line in lines), lines
    body = lines[2:]
    assert "1,234,567" in body[0] and body[0].endswith("1,234,567")  # right-aligned, never cut
    assert body[1].endswith("        5")
    assert re.search(r"  …\S*/app/0\.log  ", body[0])  # the path cut on the left: the file name stays
    assert re.search(r"  worker 12 [^…]*…  ", body[0])  # the message cut on the right
    wide = format_table(cols, rows, width=400)
    assert "/var/log/pods/default_checkout-6b7f9d8c5-w2x4z/app/0.log" in wide and "…" not in wide


def test_sql_table_respects_columns(fb, monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    res = _run("sql", "SELECT path, lines, events FROM sources", "--db", str(fb))
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert all(len(line) <= 50 for line in lines) and lines[2].startswith("…")
    assert lines[2].rstrip().endswith("452")


# ---------------------------------------------------------------- Ctrl-C


def _gen_kubectl(path: Path, n: int) -> None:
    rnd = random.Random(11)
    tmpl = [
        "GET /api/v1/items/{} 200 {}ms",
        "connection reset by peer after {} bytes ({})",
        "ERROR failed to fetch user {}: context deadline exceeded ({})",
        "Worker {} started pid={}",
    ]
    t0 = 1_700_000_000
    with open(path, "w") as f:
        for i in range(n):
            ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t0 + i // 200)) + f".{i % 1000:03d}000000Z"
            pod = "[pod/api-7d9f8b6c4-qx2lp/app] " if i % 3 else "[pod/zk-0/zookeeper] "
            f.write(
                pod + ts + " " + rnd.choice(tmpl).format(rnd.randrange(10**6), rnd.randrange(1000)) + "\n"
            )


ENV = {**os.environ, "PMORTEM_CHUNK_BYTES": str(256 * 1024)}
COUNTS = "SELECT (SELECT count(*) FROM events), (SELECT sum(lines) FROM sources), (SELECT sum(lines) FROM line_index), (SELECT count(*) FROM rejects)"


def _entry(*args: str) -> list[str]:
    return [sys.executable, "-m", "pmortem", *args]


def _default_sigint() -> None:  # the child must not inherit an ignored SIGINT (a background job's)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _counts(db: Path):
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(COUNTS).fetchall()
    finally:
        con.close()


def test_ctrl_c_mid_ingest_is_one_line_and_130_and_a_rerun_completes(tmp_path):
    big = tmp_path / "api-big.log"
    _gen_kubectl(big, 200_000)
    clean = tmp_path / "clean.duckdb"
    t0 = time.monotonic()
    subprocess.run(_entry("ingest", str(big), "-q", "--db", str(clean)), env=ENV, check=True, cwd=tmp_path)
    seconds = time.monotonic() - t0
    partial = False
    for attempt, fraction in enumerate((0.5, 0.7, 0.35, 0.85)):
        db = tmp_path / f"int{attempt}.duckdb"
        p = subprocess.Popen(
            _entry("ingest", str(big), "-q", "--db", str(db)),
            env=ENV,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        time.sleep(seconds * fraction)
        if p.poll() is not None:
            p.communicate()
            continue
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert p.returncode == 130, (p.returncode, err)
        assert err == "pmortem: interrupted\n" and out == ""
        con = duckdb.connect(str(db), read_only=True)
        has = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'sources'").fetchone()[0]
        got = con.execute("SELECT lines_done, status FROM sources").fetchall() if has else []
        con.close()
        if got and got[0][0] < 200_000:
            partial = True
            break
    assert partial, "no run was interrupted mid-ingest"
    res = subprocess.run(
        _entry("ingest", str(big), "-q", "--db", str(db)),
        env=ENV,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert _counts(db) == _counts(clean)
    assert _counts(clean)[0][1] == 200_000


def test_an_interrupted_query_whose_clean_up_fails_is_still_an_interrupt():
    """DuckDB turns Ctrl-C during a query into InterruptException and drops the transaction;
    a ROLLBACK after it fails in turn. The chain still says interrupted: exit 130."""
    from pmortem.cli import _translate
    from pmortem.errors import UserError

    con = duckdb.connect()
    try:
        try:
            raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
        except duckdb.InterruptException:
            con.execute("ROLLBACK")  # no transaction is active
    except duckdb.Error as exc:
        fail = _translate(exc)
    assert fail.exit_code == 130 and fail.message == "pmortem: interrupted"
    try:
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise UserError("detector x.sql failed") from None
    except UserError as exc:
        assert _translate(exc).exit_code == 130
    assert _translate(UserError("plain")).message == "pmortem: error: plain"


def test_ctrl_c_during_start_up_is_one_line_too(tmp_path):
    # Ctrl-C while the command line is still being imported (here: as click is imported)
    code = (
        "import os, signal, sys\n"
        "class Hook:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'click':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Hook())\n"
        "sys.argv = ['pmortem', 'sources']\n"
        "from pmortem.__main__ import run\n"
        "run()\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, preexec_fn=_default_sigint
    )
    assert res.returncode == 130 and res.stderr == "pmortem: interrupted\n", (res.returncode, res.stderr)


def test_the_console_entry_prints_one_line(tmp_path):
    res = subprocess.run(
        _entry("report", "--db", str(tmp_path / "x.duckdb")), capture_output=True, text=True, cwd=tmp_path
    )
    assert (
        res.returncode == 2
        and res.stderr.count("\n") == 1
        and res.stderr.startswith("pmortem: error: no database")
    )
    res = subprocess.run(
        _entry("ingest", "x.log", "--memory-limit", "lots"), capture_output=True, text=True, cwd=tmp_path
    )
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr
