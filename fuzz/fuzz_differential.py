"""atheris target: the native scanner against the polars reference on arbitrary input.

    python fuzz/fuzz_differential.py [libFuzzer args] CORPUS_DIR...   (see fuzz/README.md)

Each input (format in fuzz/differential.py) goes through every property there: per-line
decisions, the native chunk parser vs the reference chunk by chunk, and chunks cut
anywhere vs the whole. A difference raises AssertionError: atheris saves the input as
crash-<sha1> and stops. Without atheris, `--replay FILE|DIR...` runs the same check on
saved inputs (what tests/parsers/test_fuzz_corpus.py does for the committed corpus).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

diff = None  # fuzz/differential.py, imported by main() (under atheris: instrumented)


def TestOneInput(buf: bytes) -> None:  # noqa: N802 - atheris' name
    diff.check_all(buf)


def replay(paths: list[str]) -> int:
    files = []
    for p in map(Path, paths):
        files += sorted(f for f in p.rglob("*") if f.is_file() and f.name != "LICENSE" and f.suffix != ".md") if p.is_dir() else [p]
    for f in files:
        try:
            diff.check_all(f.read_bytes())
        except AssertionError:
            print(f"MISMATCH {f}", file=sys.stderr)
            raise
    print(f"replayed {len(files)} inputs, no mismatch")
    return 0


def main() -> None:
    global diff
    if len(sys.argv) > 1 and sys.argv[1] == "--replay":
        import differential

        diff = differential
        sys.exit(replay(sys.argv[2:]))
    import atheris

    # coverage feedback from the Python side (pmortem's parsers and the check); the C
    # scanner's own coverage is the libFuzzer harness' job (fuzz/fuzz_scan.c)
    with atheris.instrument_imports(include=["pmortem.parsers", "differential"]):
        import differential
    diff = differential
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
