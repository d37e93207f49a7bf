#!/usr/bin/env python3
"""Timestamp coverage and line accounting of `pmortem ingest` on the 16 loghub 2k samples.

    python bench/loghub_coverage.py [--root /work/shared/corpora/loghub] [--md FILE]

For each <System>/<System>_2k.log: `pmortem ingest` into a fresh temporary database,
then `pmortem sources --format json` (format, lines, lines_parsed, lines_rejected,
events, first/last ts) and the share of lines with a parsed timestamp:
    SELECT sum(lines) FILTER (WHERE minute IS NOT NULL) / sum(lines) FROM line_index
Reconciliation: lines == lines_parsed + lines_rejected (every line is either).
Prints a Markdown table; exits 1 if an ingest fails or a source does not reconcile.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEMS = [
    "Android",
    "Apache",
    "BGL",
    "HDFS",
    "HPC",
    "Hadoop",
    "HealthApp",
    "Linux",
    "Mac",
    "OpenSSH",
    "OpenStack",
    "Proxifier",
    "Spark",
    "Thunderbird",
    "Windows",
    "Zookeeper",
]


def pmortem(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("pmortem")
    argv = [exe] if exe else [sys.executable, "-c", "from pmortem.cli import main; main()"]
    return subprocess.run([*argv, *args], capture_output=True, text=True)


def one(path: Path, tmp: Path) -> dict:
    db = str(tmp / (path.stem + ".duckdb"))
    t0 = time.monotonic()
    r = pmortem("ingest", str(path), "--db", db, "-q")
    secs = time.monotonic() - t0
    if r.returncode != 0:
        return {
            "system": path.parent.name,
            "error": (r.stderr.strip().splitlines() or ["?"])[-1][:160],
            "seconds": secs,
        }
    src = json.loads(pmortem("sources", "--format", "json", "--db", db).stdout)[0]
    q = pmortem(
        "sql",
        "SELECT sum(lines) FILTER (WHERE minute IS NOT NULL) / sum(lines) AS ts_share, sum(lines) AS idx_lines FROM line_index",
        "--format",
        "json",
        "--db",
        db,
    )
    row = json.loads(q.stdout)[0]
    kinds = json.loads(
        pmortem(
            "sql",
            "SELECT kind, count(*) AS n FROM events GROUP BY ALL ORDER BY n DESC",
            "--format",
            "json",
            "--db",
            db,
        ).stdout
    )
    return {
        "system": path.parent.name,
        "format": src["format"],
        "lines": src["lines"],
        "parsed": src["lines_parsed"],
        "rejected": src["lines_rejected"],
        "reconciles": src["lines"] == src["lines_parsed"] + src["lines_rejected"],
        "ts_share": float(row["ts_share"]) if row["ts_share"] is not None else 0.0,
        "index_lines": row["idx_lines"],
        "events": src["events"],
        "kinds": ", ".join(f"{k['kind']} {k['n']}" for k in kinds[:3]),
        "first_ts": str(src["first_ts"])[:19],
        "last_ts": str(src["last_ts"])[:19],
        "seconds": secs,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default="/work/shared/corpora/loghub")
    ap.add_argument("--md", help="also write the table here")
    ap.add_argument("--json", help="also write raw rows here")
    a = ap.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pmortem-loghub-") as tmp:
        for s in SYSTEMS:
            p = Path(a.root) / s / f"{s}_2k.log"
            if not p.exists():
                rows.append({"system": s, "error": "missing"})
                continue
            rows.append(one(p, Path(tmp)))
            print(f"{s}: done", file=sys.stderr)
    out = [
        "| system | format | lines | parsed | rejected | lines = parsed + rejected | lines with ts | events (top kinds) | first ts .. last ts |",
        "| --- | --- | ---: | ---: | ---: | --- | ---: | --- | --- |",
    ]
    bad = 0
    for r in rows:
        if "error" in r:
            bad += 1
            out.append(f"| {r['system']} | FAILED: {r['error']} | | | | | | | |")
            continue
        bad += not r["reconciles"]
        out.append(
            f"| {r['system']} | {r['format']} | {r['lines']:,} | {r['parsed']:,} | {r['rejected']:,} | {'yes' if r['reconciles'] else '**NO**'} | "
            f"{100 * r['ts_share']:.1f} % | {r['events']:,} ({r['kinds']}) | {r['first_ts']} .. {r['last_ts']} |"
        )
    ok = [r for r in rows if "error" not in r]
    if ok:
        tot = sum(r["lines"] for r in ok)
        with_ts = sum(r["ts_share"] * r["index_lines"] for r in ok if r["index_lines"])
        idx = sum(r["index_lines"] or 0 for r in ok)
        out.append(
            f"| **all** | | {tot:,} | {sum(r['parsed'] for r in ok):,} | {sum(r['rejected'] for r in ok):,} | "
            f"{sum(r['reconciles'] for r in ok)}/{len(ok)} | {100 * with_ts / idx:.1f} % | | |"
        )
    md = "\n".join(out) + "\n"
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=2, default=str))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
