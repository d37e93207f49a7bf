#!/usr/bin/env python3
"""Grouping accuracy and speed of the template miner (analyzer/templates.py) on the 16 Loghub 2k samples.

    python bench/loghub_templates.py [--root ../shared/corpora/loghub] [--drain] [--md FILE]

Input: the `Content` column of each `<System>/<System>_2k.log_structured.csv` (the message after
the system's header, as in the Loghub benchmark); truth: its `EventId`.
Group Accuracy (Zhu et al., ICSE-SEIP 2019): a line counts as correct when the set of lines in its
predicted group is exactly the set of lines in its ground-truth group; GA = correct / lines.
Speed: the 16 samples' contents concatenated and repeated to >= 1M lines, mined in one call with
POLARS_MAX_THREADS=1 (set before polars loads), best of 3; lines/s = lines / CPU seconds of this
process (time.process_time: with one polars thread that is one core's time, and it does not
count the time other processes take the core away on a loaded machine).
`--drain`: also Drain (drain3, if installed: `pip install drain3`) with its default configuration
and no masking, timed the same way on the 2k samples.

Loghub data: https://github.com/logpai/loghub (Zhu et al., ISSRE 2023); its LICENSE asks
that the repository be cited in any use of the data sets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import polars as pl  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pmortem.analyzer.templates import group_accuracy, mine  # noqa: E402

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
DEFAULT_ROOT = REPO.parent / "shared" / "corpora" / "loghub"


def load(root: Path, system: str) -> pl.DataFrame:
    p = root / system / f"{system}_2k.log_structured.csv"
    return pl.read_csv(p, columns=["Content", "EventId"], infer_schema=False)


def accuracy(root: Path) -> dict[str, float]:
    out = {}
    for s in SYSTEMS:
        d = load(root, s)
        out[s] = group_accuracy(
            mine(d.get_column("Content")).get_column("template_id"), d.get_column("EventId")
        )
    return out


def speed(root: Path, target: int = 1_000_000, runs: int = 3) -> dict[str, tuple[int, float]]:
    """Seconds to mine >= `target` lines, best of `runs`, for two inputs made of the 32,000 lines:
    `verbatim` (copies repeat exactly: the miner masks each distinct text once, a best case) and
    `renumbered` (copy k appends k to every whole number, so a line with a number never repeats
    across copies: the honest figure for logs whose lines differ in ids and counters)."""
    allc = pl.concat([load(root, s).get_column("Content") for s in SYSTEMS])
    reps = -(-target // allc.len())
    inputs = {
        "verbatim": pl.concat([allc] * reps),
        "renumbered": pl.concat([allc.str.replace_all(r"\b\d+\b", "${0}" + str(k)) for k in range(reps)]),
    }
    out = {}
    for name, big in inputs.items():
        best = float("inf")
        for _ in range(runs):
            t0 = time.process_time()
            mine(big)
            best = min(best, time.process_time() - t0)
        out[name] = (big.len(), best)
    return out


def drain(root: Path) -> tuple[dict[str, float], float]:
    from drain3 import TemplateMiner
    from drain3.template_miner_config import TemplateMinerConfig

    out, lines, secs = {}, 0, 0.0
    for s in SYSTEMS:
        d = load(root, s)
        cfg = TemplateMinerConfig()
        cfg.profiling_enabled = False
        tm = TemplateMiner(config=cfg)
        t0 = time.process_time()
        ids = [tm.add_log_message(c)["cluster_id"] for c in d.get_column("Content").to_list()]
        secs += time.process_time() - t0
        lines += d.height
        # a cluster's id is stable but its template may generalise later: group by final cluster id
        out[s] = group_accuracy(pl.Series(ids), d.get_column("EventId"))
    return out, lines / secs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    ap.add_argument("--drain", action="store_true", help="also measure drain3 (must be installed)")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--md", help="also write the table here")
    a = ap.parse_args(argv)
    acc = accuracy(a.root)
    dr, dspeed = drain(a.root) if a.drain else ({}, None)
    head = "| system | pmortem GA |" + (" Drain (drain3, default config) GA |" if dr else "")
    out = [head, "| --- | ---: |" + (" ---: |" if dr else "")]
    for s in SYSTEMS:
        out.append(f"| {s} | {acc[s]:.3f} |" + (f" {dr[s]:.3f} |" if dr else ""))
    avg = sum(acc.values()) / len(acc)
    out.append(
        f"| **average** | **{avg:.3f}** |" + (f" **{sum(dr.values()) / len(dr):.3f}** |" if dr else "")
    )
    if not a.no_speed:
        out.append("")
        for name, (n, secs) in speed(a.root).items():
            out.append(
                f"pmortem miner, {name}: {n:,} lines in {secs:.2f} CPU s, one thread = {n / secs:,.0f} lines/s  "
            )
    if dspeed:
        out.append(f"drain3: {dspeed:,.0f} lines/s (CPU time, the 32,000 lines, one Python thread)")
    md = "\n".join(out) + "\n"
    print(md)
    if a.md:
        Path(a.md).write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
