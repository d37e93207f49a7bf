"""The native scanner (parsers/_scan.c + parsers/native.py) against the polars reference path.

`parse_chunk_reference` is the specification. Every test here feeds the same bytes through
both paths, chunk by chunk with the same tail hand-over the ingest loop does, and requires
identical events, line index, rejects, counts and time spans. Inputs: the sample bundles'
line-envelope files, all 16 Loghub systems wrapped in kubectl and CRI envelopes (real,
varied payloads), Loghub unwrapped under a line envelope (every line deferred to the
reference), and seeded random lines built from the tokens the regexes care about
(level words, delimiters, Unicode spaces and digits, stack-frame shapes, bad timestamps).
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from pmortem.parsers import native
from pmortem.parsers.catalogue import load_catalogue
from pmortem.parsers.detect import detect_format
from pmortem.parsers.entities import path_labels
from pmortem.parsers.pipeline import SourceContext, parse_chunk_reference
from pmortem.parsers.readers import Chunk, iter_chunks
from pmortem.parsers.requests import split_requests
from polars.testing import assert_frame_equal

REPO = Path(__file__).resolve().parents[2]
LOGHUB = REPO.parent / "shared" / "corpora" / "loghub"
SYSTEMS = sorted(p.name for p in LOGHUB.iterdir() if (p / f"{p.name}_2k.log").exists())
CAT = load_catalogue()

pytestmark = pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))


def _run(parse, chunks: list[Chunk], ctx: SourceContext):
    """The ingest loop's hand-over of an unfinished last event to the next chunk."""
    out = []
    pending, pend_line, pend_off = b"", None, None
    for ch in chunks:
        data = pending + ch.data if pending else ch.data
        chunk = Chunk(data, pend_line if pending else ch.first_line, pend_off if pending else ch.offset)
        res = parse(chunk, ctx, final=False)
        out.append(res)
        if res.tail_offset is not None:
            cut = res.tail_offset - chunk.offset
            pending, pend_line, pend_off = data[cut:], res.tail_line, res.tail_offset
        else:
            pending = b""
    if pending:
        out.append(parse(Chunk(pending, pend_line, pend_off), ctx, final=True))
    return out


def _chunks(data: bytes, size: int) -> list[Chunk]:
    out, off, line = [], 0, 1
    while off < len(data):
        end = data.find(b"\n", min(off + size, len(data)) - 1)
        end = len(data) if end < 0 else end + 1
        piece = data[off:end]
        out.append(Chunk(piece, line, off))
        line += piece.count(b"\n") + (0 if piece.endswith(b"\n") else 1)
        off = end
    return out


def _sorted(df: pl.DataFrame, *keys: str) -> pl.DataFrame:
    return df.sort([k for k in keys if k in df.columns], nulls_last=True)


def assert_same(chunks: list[Chunk], envelope: str, labels: dict | None = None) -> dict:
    ctx = SourceContext(source_id=1, envelope=envelope, catalogue=CAT, labels=labels or {},
                        reference_time=datetime(2026, 11, 27, tzinfo=UTC))
    # as the ingest stores them: request events rolled up (the native scanner leaves the request
    # lines no event is kept for out of the events and hands them over as rollup rows)
    ref = [split_requests(r, CAT.slow_request_ms) for r in _run(parse_chunk_reference, chunks, ctx)]
    nat = [split_requests(r, CAT.slow_request_ms) for r in _run(native.parse_chunk_native, chunks, ctx)]
    assert len(ref) == len(nat)
    totals = {"lines": 0, "events": 0, "rejected": 0, "folded": 0, "kinds": set(), "requests": 0}
    for r, n in zip(ref, nat, strict=True):
        for f in ("n_lines", "n_rejected", "n_folded", "n_generic", "n_events", "tail_offset", "tail_line", "first_ts", "last_ts"):
            assert getattr(r, f) == getattr(n, f), (f, getattr(r, f), getattr(n, f))
        assert_frame_equal(_sorted(r.events, "line_no"), _sorted(n.events, "line_no"))
        assert (r.requests is None) == (n.requests is None)
        if r.requests is not None:
            assert_frame_equal(r.requests, n.requests)
            totals["requests"] += r.requests.get_column("requests").sum()
        keys = ("minute", "service", "pod", "container", "level", "first_line")
        assert_frame_equal(_sorted(r.index, *keys), _sorted(n.index, *keys), check_dtypes=True)
        assert_frame_equal(r.rejects, n.rejects)
        totals["lines"] += r.n_lines
        totals["events"] += r.n_events
        totals["rejected"] += r.n_rejected
        totals["folded"] += r.n_folded
        totals["kinds"] |= set(r.events.get_column("kind").drop_nulls().to_list())
    return totals


# ---------------------------------------------------------------- the sample bundles
def _sample_files() -> list[Path]:
    out = []
    for p in sorted((REPO / "samples").rglob("*")):
        if "repro" in p.parts or not p.is_file() or p.name.startswith(".") or p.suffix in (".md", ".json") and not p.name.endswith("-json.log"):
            continue
        if detect_format(str(p)) in native.ENVELOPE_CODES:
            out.append(p)
    return out


SAMPLE_FILES = _sample_files()


def test_the_samples_hold_line_envelope_files():
    assert len(SAMPLE_FILES) >= 8, SAMPLE_FILES
    assert {detect_format(str(p)) for p in SAMPLE_FILES} >= {"kubectl_prefix", "kubectl", "cri"}


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: str(p.relative_to(REPO / "samples")))
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 4096])
def test_sample_file_same_as_reference(path: Path, chunk_bytes: int):
    chunks = list(iter_chunks(str(path), chunk_bytes=chunk_bytes))
    fmt = detect_format(str(path))
    t = assert_same(chunks, fmt, path_labels(str(path)))
    # (plain files, on the native path since issue 18.3, include ones with nothing to report)
    assert t["lines"] > 0 and (t["events"] > 0 or fmt == "plain")


# ---------------------------------------------------------------- Loghub, wrapped and bare
def _loghub_lines(system: str) -> list[bytes]:
    return (LOGHUB / system / f"{system}_2k.log").read_bytes().splitlines()


def _wrap_kubectl(lines: list[bytes], seed: int) -> bytes:
    rnd = random.Random(seed)
    t = datetime(2022, 4, 7, 23, 58, 30, tzinfo=UTC)
    pods = [b"[pod/api-7d9f8b6c4-qx2lp/api] ", b"[pod/api-7d9f8b6c4-zz9kk/sidecar] ", b""]
    out = []
    for ln in lines:
        t += timedelta(microseconds=rnd.randrange(0, 3_000_000))
        frac = rnd.choice(["", ".5", f".{rnd.randrange(10**9):09d}", f".{rnd.randrange(10**6):06d}"])
        zone = rnd.choice(["Z", "Z", "+02:00", "-0530"])
        local = t + (timedelta(hours=2) if zone == "+02:00" else -timedelta(hours=5, minutes=30) if zone == "-0530" else timedelta())
        ts = local.strftime("%Y-%m-%dT%H:%M:%S").encode() + frac.encode() + zone.encode()
        out.append(rnd.choice(pods) + ts + b" " + ln)
    return b"\n".join(out) + b"\n"


def _wrap_cri(lines: list[bytes], seed: int) -> bytes:
    rnd = random.Random(seed)
    t = datetime(2022, 12, 31, 23, 59, 0, tzinfo=UTC)
    out = []
    for ln in lines:
        t += timedelta(milliseconds=rnd.randrange(0, 900))
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.%f").encode() + b"123Z"
        stream = rnd.choice([b"stdout", b"stderr"])
        # split a long line into P pieces as the runtime does at its buffer size
        while len(ln) > 40 and rnd.random() < 0.3:
            cut = rnd.randrange(1, len(ln))
            out.append(ts + b" " + stream + b" P " + ln[:cut])
            ln = ln[cut:]
        out.append(ts + b" " + stream + rnd.choice([b" F ", b" F:tag "]) + ln)
    return b"\n".join(out) + b"\n"


@pytest.mark.parametrize("system", SYSTEMS)
def test_loghub_wrapped_in_kubectl_same_as_reference(system: str):
    data = _wrap_kubectl(_loghub_lines(system), seed=len(system))
    t = assert_same(_chunks(data, 64 * 1024), "kubectl_prefix")
    assert t["lines"] == 2000


@pytest.mark.parametrize("system", SYSTEMS)
def test_loghub_wrapped_in_cri_same_as_reference(system: str):
    data = _wrap_cri(_loghub_lines(system), seed=len(system))
    t = assert_same(_chunks(data, 48 * 1024), "cri")
    assert t["lines"] >= 2000


@pytest.mark.parametrize("system", ["Linux", "Apache", "Android", "HDFS"])
def test_loghub_bare_lines_under_a_line_envelope_go_to_the_reference(system: str):
    """No line fits the envelope: every one is deferred, timestamps come from the payload."""
    data = b"\n".join(_loghub_lines(system)) + b"\n"
    t = assert_same(_chunks(data, 64 * 1024), "kubectl")
    assert t["lines"] == 2000


# ---------------------------------------------------------------- generated edge cases
TOKENS = [
    "ERROR", "ERR", "WARN", "WARNING", "INFO", "info", "Info", "debug", "FATAL", "fatal", "panic", "CRITICAL", "alert",
    "emerg", "notice", "NOTICE", "FINE", "fine", "SEVERE", "TRACE", "crit", "errors", "INFORMATION",
    " ", " ", " ", "\t", "[", "]", "|", ":", ",", ".", "-",
    "at ", "\tat com.x.Y.run(Y.java:1)", "... 3 more", "... 12 common frames omitted", "Caused by: ", "Suppressed: ",
    "java.lang.IllegalStateException", "java.lang.IllegalStateException: Response is closed", "a.B.CError",
    "x.yThrowable", "com.x.Éxception", "_a.$B.FooException", "<--- JS stacktrace --->", "----- Native stack trace -----",
    " 1: 0xabc12 node::Abort()", "[123:0x5a1b2c3]     1234 ms: Mark-sweep", "FATAL ERROR: Reached heap limit JavaScript heap out of memory",
    "2017/02/03 16:36:10 [error] 7588#7588: ", "2017/02/03 16:36:10 [xyz] 1#1: ",
    '{"level":30,"msg":"hi"}', '{"level":"ERROR","msg":"x"}', '{"severity" : "warning"}', '{"log.level":"fatal"}',
    '{"levelname":"INFO"}', '{"level": "information"}', '{"msg":"no level"}', '{"level":50', "{", "}",
    "Worker 42 died (signal SIGKILL)", "Number of CPUs: 48", "context cancel", "EMFILE", "Response is closed",
    "GET /x HTTP/1.1", "0", "42", "    ", "\r",
]
# where a regex tests a Unicode class (\s \d \w): the scanner must defer these to the reference
UNICODE_TOKENS = ["\u00a0", "\u2003", "\u0663", "é", "日本", "com.x.Éxception", '{"level":\u00a0"error"}', '{"level":"\u0663"}', "\u0663\u0664"]


def _random_payload(rnd: random.Random) -> str:
    return "".join(rnd.choice(UNICODE_TOKENS if rnd.random() < 0.04 else TOKENS) for _ in range(rnd.randrange(0, 9)))


def _random_lines(seed: int, n: int, envelope: str) -> bytes:
    rnd = random.Random(seed)
    t = datetime(2024, 2, 28, 23, 59, 0, tzinfo=UTC)
    out = []
    for _ in range(n):
        t += timedelta(milliseconds=rnd.randrange(0, 400))
        ts = t.strftime("%Y-%m-%dT%H:%M:%S") + rnd.choice(["Z", ".123Z", ".123456789Z", "+00:00", "-01:00", "+0130"])
        r = rnd.random()
        if r < 0.02:
            ts = rnd.choice(["2024-02-30T10:00:00Z", "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T10:00:00+24:00",
                             "2024-01-01T10:00:00.Z", "2024-01-01 10:00:00Z", "2024-01-01T10:00:00+05:75", "2024-01-01T10:00:00"])
        payload = _random_payload(rnd)
        if envelope == "cri":
            head = f"{ts} {rnd.choice(['stdout', 'stderr'] * 5 + ['stdin'])} {rnd.choice(['F', 'F', 'F', 'P', 'F:x', 'X'])}"
        else:
            pre = rnd.choice(["", "", "[pod/a-1/c] ", "[pod/a-1/c] ", "[pod/b/d/e] ", "[pod/é/c] ", "[pod/x/y]", "[pod//c] "])
            head = pre + ts
        sep = rnd.choice([" "] * 12 + ["", "\t"])
        line = head + sep + payload if rnd.random() > 0.03 else payload
        if rnd.random() < 0.01:
            line = line.replace(" ", "\x00", 1)
        raw = line.encode("utf-8")
        if rnd.random() < 0.01:
            raw += b"\xff\xfe"
        out.append(raw)
    data = b"\n".join(out)
    return data + (b"\n" if rnd.random() < 0.5 else b"")


@pytest.mark.parametrize("envelope", ["kubectl_prefix", "cri"])
@pytest.mark.parametrize("seed", range(6))
def test_random_edge_lines_same_as_reference(envelope: str, seed: int):
    data = _random_lines(seed, 3000, envelope)
    t = assert_same(_chunks(data, 16 * 1024), envelope)
    assert t["lines"] == data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    assert t["rejected"] > 0 and t["events"] > 0


def test_bom_long_lines_and_crlf_same_as_reference():
    lines = [
        b"\xef\xbb\xbf[pod/a-1/c] 2024-01-01T10:00:00Z ERROR first line after a byte-order mark",
        b"[pod/a-1/c] 2024-01-01T10:00:01Z " + b"x" * (1024 * 1024 + 5),
        b"[pod/a-1/c] 2024-01-01T10:00:02Z " + "é".encode() * 600_000,
        b"[pod/a-1/c] 2024-01-01T10:00:03Z WARN windows line\r",
        b"[pod/a-1/c] 2024-01-01T10:00:04Z worker died\r",
        b"\tat x.Y.z(Y.java:3)\r",
    ]
    data = b"\n".join(lines) + b"\n"
    t = assert_same([Chunk(data, 1, 0)], "kubectl_prefix")
    assert t["rejected"] == 2


def test_native_path_is_what_parse_chunk_uses(monkeypatch):
    from pmortem.parsers import pipeline

    ctx = SourceContext(source_id=1, envelope="kubectl_prefix", catalogue=CAT)
    assert native.eligible(ctx)
    called = []
    monkeypatch.setattr(native, "parse_chunk_native", lambda *a, **k: called.append(1) or parse_chunk_reference(*a, **k))
    pipeline.parse_chunk(Chunk(b"[pod/a/b] 2024-01-01T00:00:00Z hi\n", 1, 0), ctx, final=True)
    assert called
    monkeypatch.setenv("PMORTEM_NATIVE", "0")
    assert not native.eligible(ctx)
    assert not native.eligible(SourceContext(source_id=1, envelope="plain", catalogue=CAT))


def test_user_rules_without_literals_and_with_odd_ones_same_as_reference(monkeypatch):
    """A rule with no literals makes every line a candidate; literals with regex metacharacters
    are matched as text by Hyperscan, as polars matches them."""
    from pmortem.parsers.catalogue import Catalogue, Rule

    rules = [
        Rule("u.any", "user_any", r"(?i)progress of taskattempt (?P<route>\S+) is"),
        Rule("u.meta", "user_meta", r"\(code: null", literals=["(code: null", "a.b*c", "[x]"]),
        *CAT.rules,
    ]
    monkeypatch.setattr(sys.modules[__name__], "CAT", Catalogue(rules))
    data = _wrap_kubectl(_loghub_lines("Hadoop") + _loghub_lines("Spark"), seed=3)
    data += b"[pod/a-1/c] 2024-01-01T00:00:00Z Worker 7 died (code: null, signal: SIGKILL)\n"
    t = assert_same(_chunks(data, 64 * 1024), "kubectl_prefix")
    assert t["events"] > 0 and t["kinds"] >= {"user_any", "user_meta"}


# ---------------------------------------------------------------- the scan on two threads
def _many_pods(seed: int, n: int) -> bytes:
    """kubectl --prefix lines of 60 pod/container pairs: some only in the first half, some
    only in the second, the rest in both in another order (entity ids are by first
    appearance in the chunk, whichever thread saw the line)."""
    rnd = random.Random(seed)
    pods = [f"svc-{i % 7}-5d8f9c7b4-{i:05x}/{'app' if i % 3 else 'sidecar'}".encode() for i in range(60)]
    first, second, both = pods[:15], pods[15:30], pods[30:]
    t = datetime(2024, 3, 1, 10, 0, tzinfo=UTC)
    out = []
    payloads = [*_loghub_lines("Hadoop")[:200], *_loghub_lines("Spark")[:200], b'{"level":50,"msg":"x failed: context cancelled"}']
    for i in range(n):
        t += timedelta(microseconds=rnd.randrange(0, 40_000))
        pool = (first if i < n // 2 else second) + both
        out.append(b"[pod/" + rnd.choice(pool) + b"] " + t.strftime("%Y-%m-%dT%H:%M:%S.%fZ").encode() + b" " + rnd.choice(payloads))
    return b"\n".join(out) + b"\n"


def _scan_both(data: bytes, envelope: str, bom: int = 0):
    lits = native.literal_search(CAT.literals + native.BUILDER_LITERALS).compiled
    whole = native._scan.scan(data, native.ENVELOPE_CODES[envelope], bom, lits, 0)
    split = native._scan.scan(data, native.ENVELOPE_CODES[envelope], bom, lits, 1)
    return whole, split


@pytest.mark.parametrize(
    ("name", "envelope"),
    [("many pods", "kubectl_prefix"), ("loghub kubectl", "kubectl"), ("loghub cri", "cri"), ("bom", "kubectl_prefix"),
     ("no final newline", "kubectl_prefix")],
)
def test_a_chunk_scanned_on_two_threads_gives_what_one_thread_gives(name, envelope):
    bom = 0
    if name == "many pods":
        data = _many_pods(7, 20_000)
    elif name == "loghub kubectl":
        data = b"".join(_wrap_kubectl(_loghub_lines(s), seed=i) for i, s in enumerate(SYSTEMS))
    elif name == "loghub cri":
        data = b"".join(_wrap_cri(_loghub_lines(s), seed=i) for i, s in enumerate(SYSTEMS))
    elif name == "bom":
        data, bom = b"\xef\xbb\xbf" + _many_pods(8, 3000), 1
    else:
        data = _many_pods(9, 3000).rstrip(b"\n")
    whole, split = _scan_both(data, envelope, bom)
    assert whole["n"] > 1000
    assert split["ents"] == whole["ents"]
    for key in whole:
        assert split[key] == whole[key], key
    if name == "many pods":
        assert len(whole["ents"]) == 60


def test_the_pipelined_ingest_splits_its_scans(tmp_path, monkeypatch):
    """The ingest asks for the split (and gets the same events as without: the sample and
    Loghub checks above run unsplit, through parse_chunk)."""
    from pmortem.ingest import IngestOptions, ingest

    seen = []
    real = native._scan.scan

    def spy(data, envelope, bom, lits, split_min=0, *plan):
        seen.append((len(data), split_min))
        return real(data, envelope, bom, lits, split_min, *plan)

    monkeypatch.setattr(native._scan, "scan", spy)
    log = tmp_path / "pods.log"
    log.write_bytes(_many_pods(3, 30_000))
    ingest([str(log)], str(tmp_path / "a.duckdb"), IngestOptions(), progress=False)
    assert seen and all(s == native.SPLIT_MIN for _, s in seen)
    monkeypatch.setattr(native._scan, "scan", real)
    one = tmp_path / "b.duckdb"
    ingest([str(log)], str(one), IngestOptions(threads=1), progress=False)
    import duckdb

    q = "SELECT count(*), hash(string_agg(pod || message, '|' ORDER BY line_no, kind)) FROM events"
    a = duckdb.connect(str(tmp_path / "a.duckdb"), read_only=True).execute(q).fetchone()
    b = duckdb.connect(str(one), read_only=True).execute(q).fetchone()
    assert a == b and a[0] > 0
