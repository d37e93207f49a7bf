"""Capture the fork-bomb crash loop (shared/cases/other-failure-modes.md #1) for real and wrap it.

Runs `node forkbomb.js` under capture.py (each stdout/stderr line stamped on arrival), shifts the
capture so its first line is at 2022-05-10T09:00:00Z, and writes it as `kubectl logs --timestamps
--prefix` output to samples/forkbomb/. The program stops forking after MAX_FORKS workers, so it
cannot hurt the machine it runs on.

    python samples/repro/forkbomb/make_forkbomb.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPRO = HERE.parent
OUT = REPRO.parent / "forkbomb"
POD, CONTAINER = "checkout-6b7f9d8c5-w2x4z", "checkout"
START = "2022-05-10T09:00:00Z"

sys.path.insert(0, str(REPRO))
import wrap  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.jsonl"
        subprocess.run(
            [sys.executable, str(REPRO / "capture.py"), "--out", str(raw), "--env", "MAX_FORKS=150", "--env", "DATABASE_URL=",
             "--", "node", str(HERE / "forkbomb.js")],
            check=True,
        )
        recs = wrap.load_capture(str(raw))
    shifted = wrap.shift(recs, wrap.offset_ns(START, recs[0]["ts_ns"]))
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{POD}.log").write_text("".join(wrap.kubectl_lines(shifted, POD, CONTAINER)))
    print(f"wrote {OUT / (POD + '.log')} ({len(shifted)} lines)")


if __name__ == "__main__":
    main()
