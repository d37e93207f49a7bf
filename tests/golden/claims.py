"""The numbers a report claims, for the "no claim is lost" test (issue 14).

`numbers(report)` collects every number of a JSON report: numeric values and every number written
inside its strings (sentences, timestamps, SQL text, parameters). The `command` (it names the
database path of the run) is left out, and so are finding ids (12 hex digits, in values and
in anchors such as `#f-37909e0b6efb`): an id is a name, not a claim, and changes with a finding's span.

The fixture `incident.numbers.json` is the set of numbers of the report *before* issue 14's
reshaping (main at 93ae9f7), made by this script:

    pmortem ingest samples/incident samples/history --db /tmp/old.duckdb
    pmortem report --db /tmp/old.duckdb --format json --out /tmp/old.json
    python tests/golden/claims.py /tmp/old.json > tests/golden/incident.numbers.json
"""

from __future__ import annotations

import json
import re
import sys

NUMBER = re.compile(r"\d+(?:\.\d+)?")
FINDING_ID = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{12}(?![0-9A-Za-z])")


def numbers(obj, key: str | None = None) -> set[str]:
    out: set[str] = set()
    if key == "command":
        return out
    if isinstance(obj, bool) or obj is None:
        return out
    if isinstance(obj, (int, float)):
        out.add(repr(float(obj)) if isinstance(obj, float) and not obj.is_integer() else str(int(obj)))
    elif isinstance(obj, str):
        for m in NUMBER.findall(FINDING_ID.sub(" ", obj)):
            out.add(repr(float(m)) if "." in m and not float(m).is_integer() else str(int(float(m))))
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out |= numbers(v, k)
    elif isinstance(obj, list):
        for v in obj:
            out |= numbers(v)
    return out


if __name__ == "__main__":
    rep = json.loads(open(sys.argv[1], encoding="utf-8").read())
    json.dump(sorted(numbers(rep), key=lambda s: (float(s), s)), sys.stdout, indent=0)
    sys.stdout.write("\n")
