"""The ingest's continuation rule (issue 12): a line indented by two or more spaces and a lone
closing bracket (`}`, `]`, `},`) continue the event that heads them, as stack frames do: Node's
util.inspect prints an error's own properties as `  errno: -24,` lines and a lone `}`, and
JSON.stringify(x, null, 2) ends with one. samples/inspect is a real Node.js 20 run
(samples/repro/inspect/app.js: real EMFILE under `ulimit -n 64`, real ECONNREFUSED). The native
scanner and the reference path must agree on every such line."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from conftest import SAMPLES, require
from pmortem.parsers import native
from pmortem.parsers.catalogue import load_catalogue
from pmortem.parsers.payloads import CONTINUATION_RE
from pmortem.parsers.pipeline import SourceContext, parse_chunk_reference
from pmortem.parsers.readers import Chunk
from polars.testing import assert_frame_equal

BUNDLE = SAMPLES / "inspect"


def blocks() -> dict[int, int]:
    """Independent of pmortem: line number of each head -> lines in its block. A head is a line whose
    payload (after kubectl's timestamp) neither starts with whitespace nor is a lone closing bracket."""
    exp = json.loads(require(BUNDLE / "expected.json").read_text())
    payloads = [ln.split(" ", 1)[1] for ln in (BUNDLE / exp["file"]).read_text().splitlines()]
    out: dict[int, int] = {}
    head = None
    for i, p in enumerate(payloads, 1):
        if p[:1].isspace() or re.fullmatch(r"[}\]][)}\],;]*\s*", p):
            out[head] += 1
        else:
            head = i
            out[head] = 1
    return out


def test_inspect_output_folds_into_its_error(cli):
    exp = json.loads(require(BUNDLE / "expected.json").read_text())
    cli.ok("ingest", str(BUNDLE), "-q")
    rows = cli.sql("SELECT line_no, line_count, kind, error_class, message FROM events ORDER BY line_no")
    b = blocks()
    assert len(b) == exp["events"] and sum(b.values()) == exp["lines"]
    for line_no, line_count, _kind, _cls, msg in rows:
        assert line_no in b, (line_no, msg[:80])           # every event starts at a head, never at a fragment
        assert line_count == b[line_no], (line_no, line_count, b[line_no], msg[:80])
        assert not re.match(r"\s|[}\]]", msg), msg[:80]
    by: dict = {}
    for *_, cls, _msg in rows:
        by[cls] = by.get(cls, 0) + 1
    # one error per failure: 20 EMFILE failures, 6 job failures whose detail names EMFILE, 12 refused calls
    assert by.get("emfile") == exp["emfile_errors"] + exp["job_failed"] == 26
    assert by.get("econnrefused") == exp["econnrefused_errors"] == 12
    # the refused call is classified by its printed object (`  code: 'ECONNREFUSED',` is part of it)
    refused = [m for *_, cls, m in rows if cls == "econnrefused"]
    assert all("rates fetch failed {" in m.split("\n")[0] and m.endswith("\n}") for m in refused)


def test_the_rule_itself():
    rx = re.compile(CONTINUATION_RE)
    cont = ["  errno: -24,", "  code: 'EMFILE',", '  "job": "export-1000",', "}", "]", "},", "  },", "})", "];", "   x",
            "\t\tat x", "  File \"/app/x.py\", line 3, in <module>", "    at main (/app/a.js:1:1)", ""]
    heads = ["Error: EMFILE: too many open files", "{ code: 'EMFILE',", "[1, 2]", "} else {", "]x", " x", "INFO ok",
             "2026-12-04T03:20:13.545Z ERROR rates fetch failed {"]
    assert [ln for ln in cont if not rx.match(ln)] == []
    assert [ln for ln in heads if rx.match(ln)] == []


@pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))
@pytest.mark.parametrize("envelope", ["kubectl", "cri"])
def test_native_and_reference_agree_on_the_new_shapes(envelope):
    payloads = ["Error: boom", "  errno: -24,", "   code: 'X',", "}", "]", "},", " }", "\t]", "}\u00a0", "}\u00a0x", "]\u2003",
                "  \u00a0x", " \u00a0x", "}x", "} else {", "])", "{ a: 1,", "  b: 2 }", "ok", "\u00a0\u00a0}", " ] ,", "]]];"]
    lines = []
    for i, p in enumerate(payloads * 3):
        ts = f"2026-12-04T03:20:{i % 60:02d}.{i:06d}Z"
        lines.append(f"{ts} stderr F {p}" if envelope == "cri" else f"{ts} {p}")
    data = ("\n".join(lines) + "\n").encode()
    ctx = SourceContext(source_id=1, envelope=envelope, catalogue=load_catalogue(), labels={"pod": "exporter-5d7f8c9b6-q4w8n"},
                        reference_time=datetime(2026, 12, 4, tzinfo=UTC))
    ref = parse_chunk_reference(Chunk(data, 1, 0), ctx, final=True)
    nat = native.parse_chunk_native(Chunk(data, 1, 0), ctx, final=True)
    for f in ("n_lines", "n_rejected", "n_folded", "n_events"):
        assert getattr(ref, f) == getattr(nat, f), f
    assert_frame_equal(ref.events.sort("line_no"), nat.events.sort("line_no"))
    # every line but the heads folds: "Error: boom", "}\u00a0x", "}x", "} else {", "{ a: 1,", "ok", " ] ,"
    assert ref.n_folded == 3 * (len(payloads) - 7), ref.n_folded
