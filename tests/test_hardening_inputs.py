"""Only regular files are read: odd directory entries are skipped with a reason, never hang or abort the run.

Each case runs the installed CLI in a subprocess with a timeout, so a hang fails the test
instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest
from conftest import SAMPLES

LOG = SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log"
TIMEOUT = 60


def _drop_file_capabilities() -> None:  # pragma: no cover - runs in the child
    """Root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: file permissions apply to it
    again (the interpreter under /root stays reachable, unlike as `nobody`). Dropped from
    the bounding set, which exec() gives root its capabilities from."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _pmortem(args: list[str], cwd: Path, unprivileged: bool = False) -> subprocess.CompletedProcess:
    kw: dict = {}
    env = dict(os.environ)
    if unprivileged and os.geteuid() == 0:
        kw["preexec_fn"] = _drop_file_capabilities
    return subprocess.run(
        [sys.executable, "-m", "pmortem", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        **kw,
    )


def _sources(db: Path) -> list[tuple[str, str, int]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT path, status, lines FROM sources ORDER BY source_id").fetchall()
    finally:
        con.close()


def _logdir(tmp: Path) -> Path:
    d = tmp / "logs"
    d.mkdir()
    shutil.copy(LOG, d / "app.log")
    return d


def _check_skipped(res: subprocess.CompletedProcess, db: Path, reason: str) -> None:
    """Exit 2, the summary printed with a skipped line naming the reason, and the good log ingested."""
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.splitlines()
    assert any(line.startswith("skipped ") and reason in line for line in lines), res.stderr
    assert any(" sources (" in line for line in lines), res.stderr  # the summary line
    assert lines[-1].startswith("pmortem: error:") and "skipped" in lines[-1], res.stderr
    srcs = _sources(db)
    assert [Path(p).name for p, _, _ in srcs] == ["app.log"]
    assert srcs[0][1] == "complete" and srcs[0][2] == len(LOG.read_bytes().splitlines())


def test_fifo_in_a_directory_never_blocks(tmp_path):
    d = _logdir(tmp_path)
    os.mkfifo(d / "pipe.log")  # nobody ever writes to it: open() without O_NONBLOCK blocks forever
    res = _pmortem(["ingest", str(d), "--db", str(tmp_path / "t.duckdb")], tmp_path)
    _check_skipped(res, tmp_path / "t.duckdb", "FIFO")


def test_dev_zero_as_a_path_never_hangs(tmp_path):
    d = _logdir(tmp_path)
    res = _pmortem(["ingest", "/dev/zero", str(d / "app.log"), "--db", str(tmp_path / "t.duckdb")], tmp_path)
    _check_skipped(res, tmp_path / "t.duckdb", "character device")
    assert "/dev/zero" in res.stderr


def test_symlink_loop_is_skipped(tmp_path):
    d = _logdir(tmp_path)
    os.symlink("b.log", d / "a.log")
    os.symlink("a.log", d / "b.log")
    res = _pmortem(["ingest", str(d), "--db", str(tmp_path / "t.duckdb")], tmp_path)
    _check_skipped(res, tmp_path / "t.duckdb", "symlink loop")


def test_dangling_symlink_is_skipped(tmp_path):
    d = _logdir(tmp_path)
    os.symlink("/nonexistent/rotated.log", d / "old.log")
    res = _pmortem(["ingest", str(d), "--db", str(tmp_path / "t.duckdb")], tmp_path)
    _check_skipped(res, tmp_path / "t.duckdb", "dangling symlink")


def test_undecodable_file_name_is_skipped(tmp_path):
    d = _logdir(tmp_path)
    with open(os.path.join(os.fsencode(d), b"bad-\xff\xfe.log"), "wb") as fh:
        fh.write(LOG.read_bytes()[:2000])
    res = _pmortem(["ingest", str(d), "--db", str(tmp_path / "t.duckdb")], tmp_path)
    _check_skipped(res, tmp_path / "t.duckdb", "not valid UTF-8")
    assert "bad-\\xff\\xfe.log" in res.stderr  # the name shown with its bytes escaped


def test_socket_is_skipped(tmp_path):
    import socket

    d = _logdir(tmp_path)
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(d / "agent.sock"))
        res = _pmortem(["ingest", str(d), "--db", str(tmp_path / "t.duckdb")], tmp_path)
    finally:
        s.close()
    _check_skipped(res, tmp_path / "t.duckdb", "socket")


@pytest.fixture
def shared_tmp():
    """A directory another user can work in (the unreadable cases run as `nobody` under root)."""
    d = Path(tempfile.mkdtemp(prefix="pmortem-hardening-"))
    d.chmod(0o777)
    try:
        yield d
    finally:
        for p in d.rglob("*"):
            if p.is_dir() and not p.is_symlink():
                p.chmod(0o755)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("what", ["subdirectory", "file"])
def test_unreadable_entries_are_skipped(shared_tmp, what):
    d = shared_tmp / "logs"
    d.mkdir()
    shutil.copy(LOG, d / "app.log")
    (d / "app.log").chmod(0o644)
    if what == "subdirectory":
        sub = d / "private"
        sub.mkdir()
        (sub / "secret.log").write_bytes(LOG.read_bytes()[:3000])
        sub.chmod(0)
        reason = "cannot list directory: permission denied"
    else:
        (d / "secret.log").write_bytes(LOG.read_bytes()[:3000])
        (d / "secret.log").chmod(0)
        reason = "permission denied"
    d.chmod(0o777)
    db = shared_tmp / "t.duckdb"
    res = _pmortem(["ingest", str(d), "--db", str(db)], shared_tmp, unprivileged=True)
    assert res.returncode == 2, res.stderr
    skipped = [line for line in res.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped) == 1 and reason in skipped[0], res.stderr
    assert ("private" if what == "subdirectory" else "secret.log") in skipped[0]
    srcs = _sources(db)
    assert [Path(p).name for p, _, _ in srcs] == ["app.log"] and srcs[0][1] == "complete"


def test_library_lists_refused_inputs(tmp_path):
    """pmortem.ingest does not raise for a skipped input: summary.refused names it and why."""
    import pmortem

    d = _logdir(tmp_path)
    os.mkfifo(d / "pipe.log")
    summary = pmortem.ingest(str(d), tmp_path / "t.duckdb")
    assert [Path(s.path).name for s in summary.sources] == ["app.log"]
    assert [(Path(p).name, "FIFO" in why) for p, why in summary.refused] == [("pipe.log", True)]
    json.dumps(summary.refused)  # plain, printable values
