"""`pmortem report --memory-limit/--threads` reach DuckDB, and the stage line is drawn on a terminal only."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import SAMPLES, require

from pmortem.cli import main


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("limits") / "t.duckdb")
    res = CliRunner().invoke(main, ["ingest", str(require(SAMPLES / "incident")), "--db", path, "-q"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return path


def _report(db: str, *extra: str):
    return CliRunner().invoke(main, ["report", "--db", db, "--format", "json", *extra], catch_exceptions=False)


def test_memory_limit_is_honoured(db):
    tight = _report(db, "--memory-limit", "16MB")  # the smallest DuckDB takes: the window query cannot fit
    assert tight.exit_code == 2 and "out of memory" in tight.output.lower(), tight.output
    ok = _report(db, "--memory-limit", "512MB", "--threads", "1")
    assert ok.exit_code == 0 and '"incident": true' in ok.stdout


def test_memory_limit_refuses_non_sizes(db):
    res = _report(db, "--memory-limit", "lots")
    assert res.exit_code == 2 and "not a size" in res.output


def _stderr_of(db: str, tty: bool, tmp_path) -> bytes:
    cmd = [sys.executable, "-m", "pmortem.cli", "report", "--db", db, "--out", str(tmp_path / "r.md")]
    if not tty:
        return subprocess.run(cmd, capture_output=True, check=True).stderr
    m, s = pty.openpty()
    try:
        proc = subprocess.run(cmd, stderr=s, stdout=subprocess.DEVNULL, env={**os.environ, "COLUMNS": "100"})
    finally:
        os.close(s)
    out = b""
    while True:
        try:
            chunk = os.read(m, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(m)
    assert proc.returncode == 0
    return out


def test_stage_line_on_a_terminal_only(db, tmp_path):
    term = _stderr_of(db, True, tmp_path).decode()
    assert "report: 1/" in term and "rule feedback_loop" in term and "\x1b[K" in term
    stages = [p.replace("\x1b[K", "") for p in term.split("\r") if p.startswith("report:")]
    assert len(stages) > 10 and all(len(p) < 100 for p in stages)  # never as wide as the terminal
    piped = _stderr_of(db, False, tmp_path).decode()
    assert "report:" not in piped and "\r" not in piped and piped.startswith("wrote ")
