"""Property-based tests (hypothesis) of the native scanner against the polars reference.

Generated line-envelope text (kubectl with and without --prefix, CRI) built from the
shapes the regexes care about: timestamps with 0 to 30 fraction digits, leap seconds,
zones with and without a colon, bad dates; pod/container prefixes; level words, JSON,
stack frames, Unicode spaces and digits. Properties (fuzz/differential.py):

* per line, the scanner's decisions equal the reference's regexes' (and the two-thread
  scan equals the one-thread scan);
* the native chunk parser equals the reference chunk by chunk, cut anywhere;
* any cut of the bytes into chunks gives the same events as the whole, on both paths;
* an envelope time is parsed as polars parses it: fraction truncated to microseconds
  whatever its length, :60 is the next minute's :00.

A few dozen examples each here (a few seconds); `make fuzz` runs the profile "fuzz"
(PMORTEM_HYPOTHESIS_PROFILE=fuzz) with PMORTEM_HYPOTHESIS_EXAMPLES (300) each.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pmortem.parsers import native
from pmortem.parsers.pipeline import parse_chunk_reference
from pmortem.parsers.readers import Chunk

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))
import differential as diff  # noqa: E402

pytestmark = pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))

_common = {"deadline": None, "database": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("default", max_examples=20, **_common)
settings.register_profile("fuzz", max_examples=int(os.environ.get("PMORTEM_HYPOTHESIS_EXAMPLES", "300")), **_common)
settings.load_profile(os.environ.get("PMORTEM_HYPOTHESIS_PROFILE", "default"))

# ---------------------------------------------------------------- strategies
digits = st.text("0123456789", min_size=1, max_size=30)
zone = st.sampled_from(["Z", "+00:00", "-01:00", "+0130", "+05:30", "-0800", "+23:59", "+24:00", "+05:75", "-00:60", "z", "+1", ""])


@st.composite
def timestamps(draw) -> str:
    y = draw(st.sampled_from([1, 1970, 1999, 2000, 2023, 2024, 2100, 9999]))
    mo = draw(st.integers(0, 13))
    d = draw(st.integers(0, 32))
    h = draw(st.integers(0, 24))
    mi = draw(st.integers(0, 60))
    s = draw(st.integers(0, 61))
    frac = draw(st.one_of(st.just(""), st.just("."), digits.map(lambda x: "." + x)))
    sep = draw(st.sampled_from(["T"] * 8 + [" ", "t"]))
    return f"{y:04d}-{mo:02d}-{d:02d}{sep}{h:02d}:{mi:02d}:{s:02d}{frac}{draw(zone)}"


TOKENS = [
    "ERROR", "WARN", "warning", "INFO", "info", "debug", "FATAL", "panic", "CRITICAL", "notice", "SEVERE", "TRACE", "errors",
    " ", "  ", "\t", "[", "]", "|", ":", ",", ".", "-", "0", "42",
    "\tat com.x.Y.run(Y.java:1)", "at ", "... 3 more", "Caused by: ", "java.lang.IllegalStateException: closed",
    "<--- JS stacktrace --->", " 1: 0xabc12 node::Abort()", "2017/02/03 16:36:10 [error] 7588#7588: ",
    '{"level":30,"msg":"hi"}', '{"level":"ERROR","msg":"x"}', '{"severity" : "warning"}', '{"level":50', "{", "}",
    "Worker 42 died (signal SIGKILL)", "OOMKilled", "context canceled", "connection refused", "Response is closed",
    "\u00a0", "\u2003", "\u0663", "é", "日本", "\r",
]
payloads = st.lists(st.sampled_from(TOKENS), max_size=8).map("".join)
prefixes = st.sampled_from(["", "", "[pod/a-1/c] ", "[pod/api-7d9f8b6c4-qx2lp/api] ", "[pod/b/d/e] ", "[pod/é/c] ", "[pod/x/y]", "[pod//c] "])


@st.composite
def lines(draw, envelope: str) -> bytes:
    ts = draw(timestamps())
    if envelope == "cri":
        head = f"{ts} {draw(st.sampled_from(['stdout', 'stderr', 'stdin']))} {draw(st.sampled_from(['F', 'F', 'P', 'F:x', 'X']))}"
    else:
        head = (draw(prefixes) if envelope == "kubectl_prefix" else "") + ts
    sep = draw(st.sampled_from([" ", " ", " ", "", "\t"]))
    line = head + sep + draw(payloads)
    if draw(st.integers(0, 30)) == 0:
        line = draw(payloads)  # no envelope: deferred to the reference
    raw = line.encode("utf-8")
    if draw(st.integers(0, 60)) == 0:
        raw += draw(st.sampled_from([b"\x00", b"\xff\xfe", b"\xc3"]))
    return raw


@st.composite
def logs(draw, min_lines: int = 1, max_lines: int = 25) -> tuple[str, bytes, list[int]]:
    envelope = draw(st.sampled_from(diff.ENVELOPES))
    body = draw(st.lists(lines(envelope), min_size=min_lines, max_size=max_lines))
    data = b"\n".join(body) + draw(st.sampled_from([b"\n", b""]))
    points = draw(st.lists(st.integers(0, len(data)), max_size=5))
    return envelope, data, diff.line_cuts(data, points)


# ---------------------------------------------------------------- properties
@given(logs())
def test_line_decisions_same_as_reference(case):
    envelope, data, _ = case
    diff.check_lines(data, envelope, split=True)


@given(logs())
def test_chunks_native_same_as_reference(case):
    envelope, data, cuts = case
    diff.check_chunks(data, envelope, cuts)


@given(logs(min_lines=2, max_lines=40))
def test_any_cut_into_chunks_gives_the_events_of_the_whole(case):
    envelope, data, cuts = case
    diff.check_handover(data, envelope, cuts)
    diff.check_handover(data, envelope, cuts, parse=parse_chunk_reference)


def _expected(y, mo, d, h, mi, s, frac: str, off_min: int) -> datetime:
    """What a timestamp means: the fraction truncated to microseconds, a leap second :60
    read as the next minute's :00 (as polars/chrono parse it)."""
    us = int((frac + "000000")[:6]) if frac else 0
    return datetime(y, mo, d, h, mi, tzinfo=UTC) + timedelta(seconds=s, microseconds=us) - timedelta(minutes=off_min)


@given(
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31)),
    st.one_of(st.just(""), digits),
    st.sampled_from([("Z", 0), ("+02:00", 120), ("-0530", -330), ("+00:00", 0), ("-23:59", -1439)]),
    st.booleans(),
)
def test_envelope_time_is_truncated_to_microseconds_whatever_the_fraction_length(t, frac, z, leap):
    s = 60 if leap else t.second
    text = f"{t:%Y-%m-%dT%H:%M}:{s:02d}" + (f".{frac}" if frac else "") + z[0]
    want = _expected(t.year, t.month, t.day, t.hour, t.minute, s, frac, z[1])
    data = f"[pod/a-1/c] {text} ERROR boom\n".encode()
    ctx = diff.context("kubectl_prefix")
    ref = parse_chunk_reference(Chunk(data, 1, 0), ctx, final=True)
    nat = native.parse_chunk_native(Chunk(data, 1, 0), ctx, final=True)
    for r in (ref, nat):
        assert r.first_ts == r.last_ts == want, (text, r.first_ts, want)
        assert r.events.get_column("ts").to_list() == [want]


# ---------------------------------------------------------------- found by fuzzing
D = datetime


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # 10 fraction digits: the native path said 10:00:00 (the start of the minute)
        ("2024-01-01T10:00:30.1234567891Z", D(2024, 1, 1, 10, 0, 30, 123456, tzinfo=UTC)),
        ("2024-01-01T10:00:30.123456789123456789123456+01:30", D(2024, 1, 1, 8, 30, 30, 123456, tzinfo=UTC)),
        ("2024-01-01T10:00:59.99999999999-0800", D(2024, 1, 1, 18, 0, 59, 999999, tzinfo=UTC)),
        # a leap second: the native path said 10:00:00, polars 10:01:00.5
        ("2024-01-01T10:00:60.5Z", D(2024, 1, 1, 10, 1, 0, 500000, tzinfo=UTC)),
        ("2024-12-31T23:59:60Z", D(2025, 1, 1, tzinfo=UTC)),
    ],
)
def test_first_and_last_ts_of_long_fractions_and_leap_seconds(text, want):
    data = f"[pod/a-1/c] {text} ERROR boom\n[pod/a-1/c] {text} INFO ok\n".encode()
    ref = diff.check_chunks(data, "kubectl_prefix", [])  # native == reference
    assert ref[0].first_ts == ref[0].last_ts == want
