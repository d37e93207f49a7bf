"""Capture app.js (Node.js 20) for real: errors as util.inspect and JSON.stringify(x, null, 2) print
them, over several lines (issue 12, item 5: the ingest's continuation rule).

Runs `node app.js` under `ulimit -n 64` (so fs.openSync really fails with EMFILE) with a closed port
for its dependency (so http.get really fails with ECONNREFUSED), records each stdout/stderr line with
its arrival time (capture.py), and writes it as `kubectl logs --timestamps` to
samples/inspect/<pod>.log. expected.json counts the events a reader sees: each error or info line
that heads a block, and the block's lines (stack frames, `  errno: -24,`, `  "code": ...`, a lone
`}` or `]`) that belong to it. No time shift.

    python samples/repro/inspect/make_inspect.py     # ~5 s
"""
from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import capture  # noqa: E402
import wrap  # noqa: E402

OUT = Path(os.environ.get("OUT_DIR", HERE.parent.parent / "inspect"))
POD = "exporter-5d7f8c9b6-q4w8n"
HEAD = re.compile(r"^(?:\d{4}-\d\d-\d\dT[\d:.]+Z (?:INFO|WARN|ERROR) |Error: )")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    raw = Path(tempfile.mkdtemp(prefix="pm12-inspect-")) / "raw.jsonl"
    app = Path("/tmp/exporter")  # a stable path for the stack frames, as a container's /app would be
    app.mkdir(exist_ok=True)
    shutil.copy(HERE / "app.js", app / "app.js")
    cap = capture.Capture(["bash", "-c", "ulimit -n 64 && exec node app.js"], str(raw), env={"TZ": "UTC"}, cwd=str(app))
    cap.start()
    rc = cap.wait()
    recs = wrap.load_capture(str(raw))
    (OUT / f"{POD}.log").write_text("".join(wrap.kubectl_lines(recs)))
    lines = [r["line"] for r in recs]
    heads = [ln for ln in lines if HEAD.match(ln)]
    truth = {
        "bundle": "inspect", "generated_by": "samples/repro/inspect/make_inspect.py", "exit_code": rc,
        "node": next(m.group(1) for ln in lines if (m := re.search(r"\(node (v[\d.]+)", ln))),
        "pod": POD, "file": f"{POD}.log", "lines": len(lines),
        "events": len(heads),
        "continuation_lines": len(lines) - len(heads),
        "emfile_errors": sum(1 for h in heads if "EMFILE" in h),
        "econnrefused_errors": sum(1 for i, ln in enumerate(lines) if "rates fetch failed" in ln),
        "job_failed": sum(1 for h in heads if "job failed" in h),
        "skipped_items": sum(1 for h in heads if "skipped items" in h),
        "info": sum(1 for h in heads if " INFO " in h),
        "two_space_lines": sum(1 for ln in lines if re.match(r"^  \S", ln)),
        "lone_closers": sum(1 for ln in lines if re.match(r"^\s*[}\]][)}\],;]*\s*$", ln)),
    }
    (OUT / "expected.json").write_text(json.dumps(truth, indent=2) + "\n")
    print(json.dumps(truth, indent=2))


if __name__ == "__main__":
    main()
