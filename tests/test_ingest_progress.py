"""The progress line fits the terminal (pmortem/progress.py): redrawn in place, never as wide
as the terminal, so an 80-column terminal shows one line rather than one per redraw."""

from __future__ import annotations

import fcntl
import gzip
import io
import os
import pty
import struct
import subprocess
import sys
import termios

import pytest
from conftest import SAMPLES, require

from pmortem.progress import CLEAR_EOL, Progress, render

LONG_LABEL = "/var/log/pods/a-very-long-namespace_" + "x" * 120 + "/container/0.log"


@pytest.mark.parametrize("width", [200, 120, 100, 80, 60, 40, 20, 5, 1])
@pytest.mark.parametrize(("done", "total", "lines"), [(987_654_321_000, 999_999_999_999, 9_876_543_210), (1_000_000, 1_000_000, 1170), (0, 0, 0)])
@pytest.mark.parametrize("label", [LONG_LABEL, "a.log", ""])
def test_the_rendered_line_is_narrower_than_the_terminal(width, done, total, lines, label):
    # large and small numbers, a long path, a short one and none
    line = render(done, total, lines, 0.5, label, width)
    assert len(line) <= max(width - 1, 1), (width, line)
    assert "\n" not in line and "\r" not in line


def test_at_80_columns_what_matters_is_kept():
    line = render(500_000_000, 1_000_000_000, 2_900_000, 1.0, LONG_LABEL, 80)
    assert len(line) <= 79, line
    assert "50.0%" in line and "500/1,000 MB" in line and "MB/s" in line and "ETA 1s" in line
    assert line.endswith("/container/0.log"), line  # the label's tail (which file), before the bar
    # a little wider, and the bar is back
    assert render(500_000_000, 1_000_000_000, 2_900_000, 1.0, LONG_LABEL, 100).startswith("[#")
    # a wide terminal has room for everything, the whole label too
    wide = render(500_000_000, 1_000_000_000, 2_900_000, 1.0, LONG_LABEL, 400)
    assert "2,900,000 lines" in wide and wide.endswith(LONG_LABEL) and len(wide) <= 399


def test_each_redraw_goes_back_to_the_start_and_clears_the_rest():
    out = io.StringIO()
    prog = Progress(10_000_000, True, stream=out, width=80)
    for _ in range(3):
        prog._last = 0.0  # (a redraw at every call, not every 0.2 s)
        prog.advance(1_000_000, 5000, LONG_LABEL)
    prog.close()
    text = out.getvalue()
    draws = [d for d in text.split("\r") if d]
    assert len(draws) == 4  # three lines and the clearing at the end
    for d in draws:
        assert d.endswith(CLEAR_EOL) and len(d.removesuffix(CLEAR_EOL)) <= 79, d
    assert draws[-1] == CLEAR_EOL


def test_silent_when_stderr_is_not_a_terminal():
    out = io.StringIO()
    prog = Progress(10, stream=out)
    prog.advance(5, 1, "x")
    prog.close()
    assert out.getvalue() == ""


def test_an_80_column_terminal_shows_one_line(tmp_path):
    """The real command on a pseudo-terminal sized 80 x 24: every redraw is under 80 columns
    (so none wraps onto a second line) and starts with a carriage return, none with a newline."""
    src = require(SAMPLES / "incident" / "campaign-7f9c6d5b8-x2k9p.log").read_bytes()
    d = tmp_path / ("logs-from-a-directory-with-a-long-name-" + "y" * 60)
    d.mkdir()
    f = d / "campaign-7f9c6d5b8-x2k9p.log.gz"
    f.write_bytes(gzip.compress(src * 12, 1))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PMORTEM_CHUNK_BYTES"] = str(128 * 1024)  # many chunks: many redraws
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    cmd = [sys.executable, "-c", "from pmortem.cli import main; main()", "ingest", str(f), "--db", str(tmp_path / "t.duckdb")]
    p = subprocess.Popen(cmd, stdout=slave, stderr=slave, env=env, cwd=tmp_path)
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
    summary_at = text.find("ingested ")
    bars = [b.removesuffix(CLEAR_EOL) for b in text[:summary_at].split("\r") if "MB/s" in b]
    assert bars, text
    for b in bars:
        assert len(b) <= 79 and "\n" not in b, (len(b), b)
