"""The ingest's progress line on stderr: bytes and lines with rate and ETA.

Drawn only when stderr is a terminal, redrawn in place (carriage return, then the line,
then clear-to-end-of-line) at most every 0.2 s, and never as wide as the terminal: a line
that reached the last column would wrap, and each redraw would then stack a new line.
"""

from __future__ import annotations

import os
import shutil
import sys
import time

CLEAR_EOL = "\x1b[K"
BAR_WIDTH = 24
MIN_LABEL = 8  # a label shorter than this is left out rather than cut
LABEL_WANT = 24  # columns of the label kept before the bar gets any


def terminal_columns(stream) -> int:
    """COLUMNS when set, else the width of the terminal `stream` is, else shutil's answer
    (stdout's terminal, or 80). A terminal that reports 0 columns (a pty nobody sized) counts as unknown."""
    env = os.environ.get("COLUMNS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        cols = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        cols = 0
    return cols if cols > 0 else shutil.get_terminal_size().columns


def render(done: int, total: int, lines: int, elapsed: float, label: str, width: int) -> str:
    """The progress line for a terminal `width` columns wide: at most width - 1 characters.

    What does not fit goes, least useful first: the label's head beyond LABEL_WANT columns
    (its tail is kept), the bar's width, the bar, the rest of the label, the line count,
    the rate, the ETA, the byte counts."""
    limit = max(width - 1, 1)
    el = max(elapsed, 1e-6)
    rate = done / el
    eta = (total - done) / rate if rate > 0 and total > done else 0
    pct = 100.0 * done / total if total else 100.0
    stats = [
        f"{pct:5.1f}%",
        f"{done / 1e6:,.0f}/{total / 1e6:,.0f} MB",
        f"{lines:,} lines",
        f"{rate / 1e6:,.1f} MB/s",
        f"ETA {eta:,.0f}s",
    ]
    # fewest columns first dropped: lines, then rate, then ETA, then the byte counts
    for drop in ((), (2,), (2, 3), (2, 3, 4), (1, 2, 3, 4)):
        text = " ".join(s for i, s in enumerate(stats) if i not in drop)
        if len(text) <= limit:
            break
    else:
        return text[:limit]
    room = limit - len(text)
    # the label (which file) before the bar (the percentage says as much): up to LABEL_WANT of it
    want = min(len(label), LABEL_WANT) + 1 if label else 0
    bar_w = min(BAR_WIDTH, room - 3 - want)  # "[", "]" and a space
    if bar_w >= 5:
        fill = int(bar_w * min(pct, 100) / 100)
        text = f"[{'#' * fill}{'.' * (bar_w - fill)}] " + text
    else:
        text = text.lstrip()
    room = limit - len(text)
    if label and room - 1 >= MIN_LABEL:
        text += " " + (label if len(label) <= room - 1 else "…" + label[-(room - 2):])
    return text


class Progress:
    """Bytes and lines with rate and ETA on a terminal; silent otherwise."""

    def __init__(self, total_bytes: int, enabled: bool | None = None, *, stream=None, width: int | None = None):
        self.total = total_bytes
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.width = width  # fixed (tests); else the terminal's, asked at every redraw (it may be resized)
        self.start = time.monotonic()
        self.done = 0
        self.lines = 0
        self._last = 0.0
        self._drawn = False

    def line(self, label: str = "") -> str:
        width = self.width or terminal_columns(self.stream)
        return render(self.done, self.total, self.lines, time.monotonic() - self.start, label, width)

    def advance(self, nbytes: int, nlines: int, label: str = "") -> None:
        self.done += nbytes
        self.lines += nlines
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.2:
            return
        self._last = now
        self.stream.write("\r" + self.line(label) + CLEAR_EOL)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + CLEAR_EOL)
            self.stream.flush()


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Stages:
    """The report's stage line on a terminal: `report: 4/27 rule worker_lifecycle  3.1s`, redrawn in
    place for each stage (no rate or ETA: a stage's length is unknown); silent when not a terminal."""

    def __init__(self, total: int, enabled: bool | None = None, *, stream=None, width: int | None = None, what: str = "report"):
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = _isatty(self.stream) if enabled is None else enabled
        self.width = width
        self.what = what
        self.start = time.monotonic()
        self.n = 0
        self._drawn = False

    def __call__(self, stage: str) -> None:
        self.n += 1
        if not self.enabled:
            return
        width = self.width or terminal_columns(self.stream)
        text = f"{self.what}: {min(self.n, self.total)}/{self.total} {stage}  {time.monotonic() - self.start:.1f}s"
        self.stream.write("\r" + text[: max(width - 1, 1)] + CLEAR_EOL)
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self.enabled and self._drawn:
            self.stream.write("\r" + CLEAR_EOL)
            self.stream.flush()
