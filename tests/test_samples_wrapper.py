"""Envelope formats written by samples/repro/wrap.py, checked on a real capture.

A tiny Python program is really run through samples/repro/capture.py; its raw
capture is then wrapped and every envelope is checked against the real tool's
format.
"""
import gzip  # noqa: F401
import json
import os
import re
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPRO = os.path.join(ROOT, "samples", "repro")
sys.path.insert(0, REPRO)

import capture  # noqa: E402
import wrap  # noqa: E402

PROGRAM = (
    "import sys, time\n"
    "print('Number of CPUs: 48', flush=True)\n"
    "time.sleep(0.01)\n"
    "print('x' * 300 + ' <tag> & end', flush=True)\n"
    "print('warn\\there', file=sys.stderr, flush=True)\n"
    "time.sleep(0.01)\n"
    "print('Worker 4243 started', flush=True)\n"
)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    out = tmp_path_factory.mktemp("cap") / "raw.jsonl"
    cap = capture.Capture([sys.executable, "-c", PROGRAM], str(out)).start()
    assert cap.wait() == 0
    recs = wrap.load_capture(str(out))
    assert [r["line"] for r in recs if r["stream"] == "stdout"][0] == "Number of CPUs: 48"
    assert len(recs) == 4
    for ln in open(out):
        r = json.loads(ln)
        assert set(r) == {"ts_ns", "stream", "line"} and isinstance(r["ts_ns"], int)
    return recs


START = "2022-04-08T20:55:00Z"
START_NS = 1649451300 * 10**9


def test_time_shift_exact(records):
    off = wrap.offset_ns(START, records[0]["ts_ns"])
    sh = wrap.shift(records, off)
    assert sh[0]["ts_ns"] == START_NS
    for a, b in zip(records, sh, strict=True):
        assert b["ts_ns"] - a["ts_ns"] == off
    assert wrap.parse_rfc3339(START) == START_NS
    assert wrap.parse_rfc3339("2022-04-08T22:55:00+02:00") == START_NS


def test_time_formats():
    ns = START_NS + 120_000_000
    assert wrap.fmt_fixed9(ns) == "2022-04-08T20:55:00.120000000Z"
    assert wrap.fmt_go_nano(ns) == "2022-04-08T20:55:00.12Z"
    assert wrap.fmt_go_nano(START_NS) == "2022-04-08T20:55:00Z"
    assert wrap.fmt_go_nano(START_NS + 1) == "2022-04-08T20:55:00.000000001Z"
    assert wrap.fmt_millis(ns + 999_999) == "2022-04-08T20:55:00.120Z"


CRI_RE = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (P|F) (.*)\n$", re.S)


def test_cri(records):
    sh = wrap.shift(records, wrap.offset_ns(START, records[0]["ts_ns"]))
    lines = wrap.cri_lines(sh)
    assert len(lines) == 4
    for ln in lines:
        m = CRI_RE.match(ln)
        assert m and m.group(2) == b"F"
    assert lines[0].startswith(b"2022-04-08T20:55:00.000000000Z stdout F Number of CPUs: 48")
    # small max line: P pieces + final F, reassembling to the original
    split = wrap.cri_lines(sh, max_line=64)
    tags = [CRI_RE.match(x).group(2) for x in split]
    assert tags.count(b"P") >= 4
    for ln in split:
        m = CRI_RE.match(ln)
        if m.group(2) == b"P":
            assert len(m.group(3)) == 64
    back = wrap.parse_cri(split)
    assert [(s, line) for _, s, line in back] == [(r["stream"], r["line"]) for r in sh]
    assert all(ts.endswith("Z") and len(ts.split(".")[1]) == 10 for ts, _, _ in back)


KUBECTL_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z (.*)\n$")


def test_kubectl(records):
    sh = wrap.shift(records, wrap.offset_ns(START, records[0]["ts_ns"]))
    plain = wrap.kubectl_lines(sh)
    assert plain[0] == "2022-04-08T20:55:00Z Number of CPUs: 48\n"
    for ln, r in zip(plain, sh, strict=True):
        m = KUBECTL_RE.match(ln)
        assert m and m.group(2) == r["line"]
    pre = wrap.kubectl_lines(sh, "campaign-7f9c6d5b8-x2k9p", "campaign")
    for ln, p in zip(pre, plain, strict=True):
        assert ln == "[pod/campaign-7f9c6d5b8-x2k9p/campaign] " + p


def test_docker(records):
    lines = wrap.docker_lines(records)
    for ln, r in zip(lines, records, strict=True):
        assert ln.startswith('{"log":') and ln.endswith("}\n")
        obj = json.loads(ln)
        assert list(obj) == ["log", "stream", "time"]
        assert obj["log"] == r["line"] + "\n"
        assert obj["stream"] == r["stream"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", obj["time"])
        assert wrap.parse_rfc3339(obj["time"]) == r["ts_ns"]
    tagged = [x for x in lines if "tag" in x][0]
    assert "\\u003ctag\\u003e \\u0026 end\\n" in tagged
    tabbed = [x for x in lines if "warn" in x][0]
    assert "warn\\u0009here\\n" in tabbed
    # a line over the limit is split; only the last piece ends in "\n"
    # stdout and stderr arrive in either order: take the long line by length, not position
    longest = max(records, key=lambda r: len(r["line"]))
    assert len(longest["line"].encode()) > 100
    big = wrap.docker_lines([dict(longest)], max_line=100)
    logs = [json.loads(x)["log"] for x in big]
    assert len(logs) > 1 and all(not x.endswith("\n") for x in logs[:-1]) and logs[-1].endswith("\n")
    assert "".join(logs) == longest["line"] + "\n"


def test_logcli(records):
    labels = {"pod": "p", "namespace": "campaign", "app": "campaign"}
    lines = wrap.logcli_lines([(labels, records)])
    ts = []
    for ln in lines:
        assert ln.startswith('{"labels":{"app":"campaign","namespace":"campaign","pod":"p"},"line":')
        obj = json.loads(ln)
        assert list(obj) == ["labels", "line", "timestamp"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", obj["timestamp"])
        ts.append(wrap.parse_rfc3339(obj["timestamp"]))
    assert ts == sorted(ts, reverse=True)  # newest first
    assert json.loads(lines[-1])["line"] == records[0]["line"]
    fwd = wrap.logcli_lines([(labels, records)], forward=True)
    assert fwd == list(reversed(lines)) or [json.loads(x)["timestamp"] for x in fwd] == sorted(
        json.loads(x)["timestamp"] for x in fwd)
    assert any("\\u003ctag\\u003e" in x for x in lines)


def test_filebeat(records):
    docs = [json.loads(x) for x in wrap.filebeat_docs(records, "p", "campaign", "campaign", "ip-10-0-3-17",
                                                        "uid-1", "c" * 64)]
    off = 0
    for d, r in zip(docs, records, strict=True):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", d["@timestamp"])
        assert d["message"] == r["line"]
        assert d["kubernetes"]["pod"]["name"] == "p"
        assert d["kubernetes"]["namespace"] == "campaign"
        assert d["kubernetes"]["node"]["name"] == "ip-10-0-3-17"
        assert d["kubernetes"]["container"]["name"] == "campaign"
        assert d["log"]["offset"] == off
        off += len(wrap.cri_lines([r])[0])


def test_logback_and_span_shift():
    off = 3_600_000_000_000 + 5_000_000
    assert (wrap.shift_logback_line("2022-04-08 19:55:00.100 [main] INFO  c.z.t.X - hi", off)
            == "2022-04-08 20:55:00.105 [main] INFO  c.z.t.X - hi")
    assert wrap.shift_logback_line("\tat a.b.C.d(C.java:1)", off) == "\tat a.b.C.d(C.java:1)"
    s = {"startTimeUnixNano": "10", "endTimeUnixNano": "20", "attributes": {"a": 1}}
    t = wrap.shift_span(s, 5, {"k8s.pod.name": "p"})
    assert (t["startTimeUnixNano"], t["endTimeUnixNano"]) == ("15", "25")
    assert t["attributes"] == {"a": 1, "k8s.pod.name": "p"}


def test_shift_pino_time_moves_the_json_clock_with_the_envelope():
    recs = [
        {"ts_ns": 1_795_764_176_124_000_000, "stream": "stdout", "line": '{"level":30,"time":1795764176124,"msg":"x"}'},
        {"ts_ns": 1_795_764_176_200_000_000, "stream": "stdout", "line": "plain text"},
    ]
    off = wrap.offset_ns(START, recs[0]["ts_ns"])
    out = wrap.shift_pino_time(wrap.shift(recs, off), off)
    assert json.loads(out[0]["line"])["time"] == START_NS // 1_000_000
    assert out[0]["ts_ns"] == START_NS and out[1]["line"] == "plain text"
