"""`pmortem` and `python -m pmortem`: Ctrl-C while the command line is still being imported
is one line and exit 130 too (pmortem.cli.run takes over once it runs)."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted(signum, frame) -> None:  # pragma: no cover - timing
    sys.stderr.write("pmortem: interrupted\n")
    sys.stderr.flush()
    os._exit(130)


def run() -> None:
    previous = signal.getsignal(signal.SIGINT)
    if previous is signal.default_int_handler:  # not when the parent told us to ignore it
        signal.signal(signal.SIGINT, _interrupted)
    from pmortem.cli import run as cli_run

    signal.signal(signal.SIGINT, previous)
    cli_run()


if __name__ == "__main__":
    run()
