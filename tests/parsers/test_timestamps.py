"""Tests for the vectorised leading-timestamp extractor."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

try:
    from pmortem.parsers.timestamps import FORMATS, extract_timestamps
except ImportError:  # repo checkout without `pip install -e .`
    from parsers.timestamps import FORMATS, extract_timestamps

LOGHUB = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "loghub"


def utc(*a: int) -> datetime:
    return datetime(*a, tzinfo=UTC)


def one(line: str | None, **kw) -> dict:
    df = extract_timestamps(pl.Series([line], dtype=pl.String), **kw)
    assert df.schema == pl.Schema(
        {"ts": pl.Datetime("us", "UTC"), "ts_text": pl.String, "ts_end": pl.Int32, "fmt": pl.String}
    )
    return df.row(0, named=True)


# line, expected ts, ts_text, rest of line (line[ts_end:]), fmt   (tz=UTC, default_year=2020)
CASES = [
    ("2022-04-08T20:59:51.101234567Z hello", utc(2022, 4, 8, 20, 59, 51, 101234),
     "2022-04-08T20:59:51.101234567Z", "hello", "iso8601"),
    ("2022-04-08T20:59:51Z", utc(2022, 4, 8, 20, 59, 51), "2022-04-08T20:59:51Z", "", "iso8601"),
    ("2022-04-08 20:59:51.5+00:00 x", utc(2022, 4, 8, 20, 59, 51, 500000),
     "2022-04-08 20:59:51.5+00:00", "x", "iso8601"),
    ("2022-04-08T20:59:51+0000 x", utc(2022, 4, 8, 20, 59, 51), "2022-04-08T20:59:51+0000", "x", "iso8601"),
    ("2022-04-08 20:59:51.101 [main] INFO a.B - hi", utc(2022, 4, 8, 20, 59, 51, 101000),
     "2022-04-08 20:59:51.101", "[main] INFO a.B - hi", "iso8601"),
    ("2022-04-08 20:59:51,101 INFO x", utc(2022, 4, 8, 20, 59, 51, 101000),
     "2022-04-08 20:59:51,101", "INFO x", "iso8601"),
    ("[2022-04-08 20:59:51,101] WARN x", utc(2022, 4, 8, 20, 59, 51, 101000),
     "2022-04-08 20:59:51,101", "WARN x", "iso8601"),
    ("2016-09-28 04:30:30, Info   CBS", utc(2016, 9, 28, 4, 30, 30), "2016-09-28 04:30:30",
     "Info   CBS", "iso8601"),
    ("2015-07-29 17:41:44,747 - INFO  [Q]", utc(2015, 7, 29, 17, 41, 44, 747000),
     "2015-07-29 17:41:44,747", "- INFO  [Q]", "iso8601"),
    ("2017/02/03 16:36:10 [error] 1#1: x", utc(2017, 2, 3, 16, 36, 10), "2017/02/03 16:36:10",
     "[error] 1#1: x", "ymd_slash"),
    ('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.0" 200', utc(2000, 10, 10, 20, 55, 36),
     "10/Oct/2000:13:55:36 -0700", '"GET / HTTP/1.0" 200', "clf"),
    ("höst.例え - - [01/Feb/2024:00:00:00 +0000] x", utc(2024, 2, 1), "01/Feb/2024:00:00:00 +0000", "x", "clf"),
    ("[Sun Dec 04 04:47:44 2005] [notice] ok", utc(2005, 12, 4, 4, 47, 44), "Sun Dec 04 04:47:44 2005",
     "[notice] ok", "apache_error"),
    ("Jun 14 15:16:01 combo sshd[1]: x", utc(2020, 6, 14, 15, 16, 1), "Jun 14 15:16:01",
     "combo sshd[1]: x", "syslog"),
    ("Jul  1 09:00:55 calvisitor kernel[0]: x", utc(2020, 7, 1, 9, 0, 55), "Jul  1 09:00:55",
     "calvisitor kernel[0]: x", "syslog"),
    ("<34>Oct 11 22:14:15 mymachine su: x", utc(2020, 10, 11, 22, 14, 15), "Oct 11 22:14:15",
     "mymachine su: x", "syslog"),
    ("<34>1 2003-10-11T22:14:15.003Z host su - ID47 - x", utc(2003, 10, 11, 22, 14, 15, 3000),
     "2003-10-11T22:14:15.003Z", "host su - ID47 - x", "rfc5424"),
    ("1117838570 foo", utc(2005, 6, 3, 22, 42, 50), "1117838570", "foo", "epoch_s"),
    ("1117838570.25 foo", utc(2005, 6, 3, 22, 42, 50, 250000), "1117838570.25", "foo", "epoch_s"),
    ("1117838570123 foo", utc(2005, 6, 3, 22, 42, 50, 123000), "1117838570123", "foo", "epoch_ms"),
    ("081109 203615 148 INFO dfs.DataNode: x", utc(2008, 11, 9, 20, 36, 15), "081109 203615",
     "148 INFO dfs.DataNode: x", "yymmdd_hhmmss"),
    ("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.363779 R02 RAS KERNEL INFO x",
     utc(2005, 6, 3, 15, 42, 50, 363779), "2005-06-03-15.42.50.363779", "R02 RAS KERNEL INFO x", "bgl"),
    ("134681 node-246 unix.hw state_change.unavailable 1077804742 1 Component x",
     utc(2004, 2, 26, 14, 12, 22), "1077804742", "1 Component x", "hpc"),
    ("- 1131566461 2005.11.09 dn228 Nov 9 12:01:01 dn228/dn228 crond[2916]: x",
     utc(2005, 11, 9, 12, 1, 1), "Nov 9 12:01:01", "dn228/dn228 crond[2916]: x", "thunderbird"),
    ("17/06/09 20:10:40 INFO spark.X: y", utc(2017, 6, 9, 20, 10, 40), "17/06/09 20:10:40",
     "INFO spark.X: y", "spark"),
    ("20171223-22:15:29:606|Step_LSC|30002312|x", utc(2017, 12, 23, 22, 15, 29, 606000),
     "20171223-22:15:29:606", "Step_LSC|30002312|x", "healthapp"),
    ("20171224-0:0:0:25|Step_LSC|1|x", utc(2017, 12, 24, 0, 0, 0, 25000), "20171224-0:0:0:25",
     "Step_LSC|1|x", "healthapp"),
    ("nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 25746 INFO nova",
     utc(2017, 5, 16, 0, 0, 0, 8000), "2017-05-16 00:00:00.008", "25746 INFO nova", "openstack"),
    ("[10.30 16:49:06] chrome.exe - x", utc(2020, 10, 30, 16, 49, 6), "10.30 16:49:06",
     "chrome.exe - x", "proxifier"),
    ("03-17 16:13:38.811  1702  2395 D WindowManager: x", utc(2020, 3, 17, 16, 13, 38, 811000),
     "03-17 16:13:38.811", "1702  2395 D WindowManager: x", "android"),
    # Java %d{HH:mm:ss.SSS}: no date, so no ts -- but the text is located and named
    ("20:59:51.101 [main] INFO x", None, "20:59:51.101", "[main] INFO x", "time_only"),
]


@pytest.mark.parametrize("line,ts,text,rest,fmt", CASES, ids=[c[4] + str(i) for i, c in enumerate(CASES)])
def test_formats(line, ts, text, rest, fmt):
    r = one(line, default_year=2020)
    assert (r["ts"], r["ts_text"], r["fmt"]) == (ts, text, fmt)
    assert line[r["ts_end"]:] == rest
    assert fmt in FORMATS


def test_all_formats_covered():
    assert {c[4] for c in CASES} == set(FORMATS)


def test_vectorised_batch_matches_single_rows():
    lines = [c[0] for c in CASES]
    df = extract_timestamps(pl.Series(lines), default_year=2020)
    assert df.height == len(CASES)
    assert df["ts"].to_list() == [c[1] for c in CASES]
    assert df["fmt"].to_list() == [c[4] for c in CASES]


@pytest.mark.parametrize("line", [
    "garbage", "", None, "   ", "INFO 2022-04-08 20:59:51 not at start", "11178385701 eleven digits",
    "123456789 nine digits", "2022-13-08 20:59:51 month 13", "2022-02-30 10:00:00 feb 30",
    "Jun 14 25:16:01 hour 25", "Zookeeper", "Jun 2022", "99:99:99 nope", "123456 654321",
    "[99.99 16:49:06] x", "1117838570abc",
])
def test_garbage_is_null(line):
    assert one(line) == {"ts": None, "ts_text": None, "ts_end": 0, "fmt": None}


def test_empty_series():
    df = extract_timestamps(pl.Series([], dtype=pl.String))
    assert df.height == 0 and df.columns == ["ts", "ts_text", "ts_end", "fmt"]


def test_zoneless_in_tz_converted_to_utc():
    berlin = {"tz": "Europe/Berlin", "default_year": 2022}
    assert one("2022-04-08 20:59:51,101 x", **berlin)["ts"] == utc(2022, 4, 8, 18, 59, 51, 101000)  # CEST
    assert one("2022-01-08 20:59:51 x", **berlin)["ts"] == utc(2022, 1, 8, 19, 59, 51)  # CET
    assert one("Jan  8 20:59:51 host x", **berlin)["ts"] == utc(2022, 1, 8, 19, 59, 51)
    assert one("[10.30 16:49:06] x", **berlin)["ts"] == utc(2022, 10, 30, 15, 49, 6)  # after DST end
    # ambiguous wall time (DST end) -> earliest; non-existent (DST gap) -> null ts, text kept
    assert one("2024-10-27 02:30:00 x", **berlin)["ts"] == utc(2024, 10, 27, 0, 30)
    gap = one("2024-03-31 02:30:00 x", **berlin)
    assert gap["ts"] is None and gap["fmt"] == "iso8601" and gap["ts_text"] == "2024-03-31 02:30:00"


def test_explicit_offsets_ignore_tz():
    for tz in ("UTC", "Europe/Berlin", "America/New_York"):
        assert one("2022-04-08T20:59:51+02:00 x", tz=tz)["ts"] == utc(2022, 4, 8, 18, 59, 51)
        assert one("2022-04-08T20:59:51-0130 x", tz=tz)["ts"] == utc(2022, 4, 8, 22, 29, 51)
        assert one("2022-04-08T20:59:51.000001Z x", tz=tz)["ts"] == utc(2022, 4, 8, 20, 59, 51, 1)
        assert one("1.2.3.4 - - [10/Oct/2000:13:55:36 +0530] x", tz=tz)["ts"] == utc(2000, 10, 10, 8, 25, 36)
        assert one("1117838570 x", tz=tz)["ts"] == utc(2005, 6, 3, 22, 42, 50)


def test_default_year():
    assert one("Jun 14 15:16:01 h x", default_year=1999)["ts"] == utc(1999, 6, 14, 15, 16, 1)
    assert one("Jun 14 15:16:01 h x")["ts"].year == date.today().year
    assert one("02-29 00:00:00.000 1 2 D x", default_year=2023)["ts"] is None  # no Feb 29 in 2023


# --- Loghub corpus -----------------------------------------------------------------------------

# system -> (fmt every line must get, minimum share of lines with a parsed ts).  Every line of all
# 16 Loghub 2k samples carries a timestamp, and all of them parse (measured share 1.0).
SYSTEMS = {
    "Android": "android", "Apache": "apache_error", "BGL": "bgl", "HDFS": "yymmdd_hhmmss",
    "HPC": "hpc", "Hadoop": "iso8601", "HealthApp": "healthapp", "Linux": "syslog", "Mac": "syslog",
    "OpenSSH": "syslog", "OpenStack": "openstack", "Proxifier": "proxifier", "Spark": "spark",
    "Thunderbird": "thunderbird", "Windows": "iso8601", "Zookeeper": "iso8601",
}
FLOOR = {name: 1.0 for name in SYSTEMS}
YEAR = 2005  # year-less samples (Linux 2005, others unknown): any fixed year will do for cross-checks


def _healthapp(t: str) -> datetime:  # '20171224-0:0:0:25' -- unpadded, integer milliseconds
    d, h, m, s, ms = t.replace("-", ":").split(":")
    return datetime.strptime(d, "%Y%m%d") + timedelta(hours=int(h), minutes=int(m), seconds=int(s),
                                                       milliseconds=int(ms))


def _p(fmt: str, *cols: str):
    return lambda r: datetime.strptime(" ".join(r[c] for c in cols), fmt)


def _py(fmt: str, *cols: str):  # year-less formats: default_year=YEAR
    return lambda r: datetime.strptime(" ".join([str(YEAR)] + [r[c] for c in cols]), "%Y " + fmt)


# Expected naive (tz=UTC) datetime from the structured CSV's Date/Time columns.
EXPECTED = {
    "Android": _py("%m-%d %H:%M:%S.%f", "Date", "Time"),
    "Apache": _p("%a %b %d %H:%M:%S %Y", "Time"),
    "BGL": _p("%Y-%m-%d-%H.%M.%S.%f", "Time"),
    "HDFS": _p("%y%m%d %H%M%S", "Date", "Time"),
    "HPC": lambda r: datetime.fromtimestamp(int(r["Time"]), UTC).replace(tzinfo=None),
    "Hadoop": _p("%Y-%m-%d %H:%M:%S,%f", "Date", "Time"),
    "HealthApp": lambda r: _healthapp(r["Time"]),
    "Linux": _py("%b %d %H:%M:%S", "Month", "Date", "Time"),
    "Mac": _py("%b %d %H:%M:%S", "Month", "Date", "Time"),
    "OpenSSH": _py("%b %d %H:%M:%S", "Date", "Day", "Time"),
    "OpenStack": _p("%Y-%m-%d %H:%M:%S.%f", "Date", "Time"),
    "Proxifier": _py("%m.%d %H:%M:%S", "Time"),
    "Spark": _p("%y/%m/%d %H:%M:%S", "Date", "Time"),
    "Thunderbird": _p("%Y.%m.%d %H:%M:%S", "Date", "Time"),
    "Windows": _p("%Y-%m-%d %H:%M:%S", "Date", "Time"),
    "Zookeeper": _p("%Y-%m-%d %H:%M:%S,%f", "Date", "Time"),
}


def _lines(system: str) -> pl.Series:
    path = LOGHUB / system / f"{system}_2k.log"
    return pl.Series(path.read_text(encoding="utf-8", errors="replace").splitlines(), dtype=pl.String)


needs_corpus = pytest.mark.skipif(not LOGHUB.is_dir(), reason=f"Loghub corpus not found at {LOGHUB}")


@needs_corpus
@pytest.mark.parametrize("system", sorted(SYSTEMS))
def test_loghub_share_and_values(system):
    lines = _lines(system)
    df = extract_timestamps(lines, default_year=YEAR)
    assert df.height == lines.len() == 2000
    assert df["ts"].is_not_null().mean() >= FLOOR[system]
    assert df["fmt"].drop_nulls().unique().to_list() == [SYSTEMS[system]]
    # the rest of the line never starts with whitespace and the text sits right before ts_end
    rest = lines.str.slice(df["ts_end"])
    assert not rest.str.contains(r"^\s").any()
    assert (lines.str.slice(0, df["ts_end"]).str.strip_chars_end("]|, ").str.ends_with(df["ts_text"])).all()

    csv = pl.read_csv(LOGHUB / system / f"{system}_2k.log_structured.csv", infer_schema=False)
    assert csv.height == 2000
    want = [EXPECTED[system](r) for r in csv.iter_rows(named=True)]
    got = [t.replace(tzinfo=None) if t else None for t in df["ts"].to_list()]
    assert got == want


@needs_corpus
@pytest.mark.parametrize("system", ["BGL", "Thunderbird"])
def test_loghub_local_fields_match_epoch_in_pacific_time(system):
    # BGL/Thunderbird lines carry an epoch (field 2) and a US-Pacific wall-clock time; we parse the
    # latter, so with the right tz the two must agree exactly (to the second).
    lines = _lines(system)
    df = extract_timestamps(lines, tz="America/Los_Angeles")
    epoch = lines.str.extract(r"^\S+ (\d{10}) ", 1).cast(pl.Int64)
    assert (df["ts"].dt.epoch("s") == epoch).all()


def test_performance_smoke():
    lines = pl.Series([c[0] for c in CASES] * 2000)
    df = extract_timestamps(lines, tz="Europe/Berlin", default_year=2020)
    assert df["fmt"].null_count() == 0
