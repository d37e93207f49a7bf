"""Runs tests against the ASan+UBSan build of the native scanner (`make sanitize`).

    LD_PRELOAD=$(gcc -print-file-name=libasan.so) python fuzz/sanitize.py BUILD_DIR [pytest args]

BUILD_DIR holds _scan<EXT_SUFFIX> compiled with -fsanitize=address,undefined: it is put in
front of pmortem.parsers' search path, so `from . import _scan` loads it instead of the
installed build (checked: a run that would test the normal build fails). A sanitizer
report aborts the process, so any report fails the run.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pmortem.parsers as parsers


def main() -> int:
    build = str(Path(sys.argv[1]).resolve())
    assert "pmortem.parsers._scan" not in sys.modules
    parsers.__path__.insert(0, build)
    from pmortem.parsers import _scan

    if not str(Path(_scan.__file__).resolve()).startswith(build):
        print(f"sanitize: loaded {_scan.__file__}, not the sanitized build in {build}", file=sys.stderr)
        return 2
    print(f"sanitize: testing {_scan.__file__}")
    import pytest

    return pytest.main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
