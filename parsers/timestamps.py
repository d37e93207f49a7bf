"""Vectorised leading-timestamp extraction for plain-text log lines.

Used when a line carries no envelope timestamp.  Everything is expressed as
polars expressions over Rust regexes: no per-line Python.

Strategy: an ordered table of formats (``_SPECS``).  Each format is a regex
``^(?<pre>PREFIX)(?<ts>BODY)(?<post>SEPARATOR)`` whose named groups inside
BODY/PREFIX carry the date parts:

    Y 4-digit year | y 2-digit year (20yy) | m month number | b month abbrev
    d day | H hour | M minute | S second | f decimal fraction (any length,
    truncated to microseconds) | ms integer milliseconds (HealthApp, unpadded)
    z zone (``Z`` / ``+hh:mm`` / ``+hhmm``) | e epoch seconds or milliseconds

The parts are normalised into ``YYYY-MM-DD HH:MM:SS.ffffff`` and parsed with a
single strptime format.  The first format (in table order) that yields a valid
datetime wins; a regex match with an impossible date (month 13, Feb 30) falls
through to the next format.  Formats are tried one vectorised pass each (a loop
over the ~18 formats, never over lines), each pass only on the rows no earlier
format claimed: a capture-free ``is_match`` selects candidates, and captures and
parsing run on those rows alone.  Only the first 256 chars of a line are read.

Semantics worth knowing:
* zone-less values are wall-clock time in ``tz`` (ambiguous DST -> earliest,
  non-existent DST-gap time -> ts null while ts_text/fmt stay set);
* formats without a year use ``default_year`` (current year when None), so a
  syslog file spanning New Year gets the wrong year for one side;
* ``time_only`` (``HH:mm:ss.SSS`` at line start, Java ``%d{HH:mm:ss.SSS}``)
  has no date: ts is null, but ts_text/ts_end/fmt are set so callers can
  still strip it or combine it with a date from elsewhere;
* BGL / Thunderbird: the local-time field is used (not the epoch column); those
  clusters logged US Pacific time, so ``tz="America/Los_Angeles"`` reproduces
  the epoch exactly.  HPC only has an epoch (5th field) and uses it;
* two-digit years are 20yy; ``yy/mm/dd`` (Spark/log4j) is assumed, so a US
  ``mm/dd/yy HH:MM:SS`` line would be misread;
* a leading 10- or 13-digit number is taken as epoch s / ms;
* access-log ``[10/Oct/2000:13:55:36 -0700]`` is searched for within the first
  100 characters (it follows the client IP); everything else is anchored at
  line start (modulo the small fixed prefixes listed in the table).
"""

from __future__ import annotations

import datetime as _dt
import re

import polars as pl

__all__ = ["extract_timestamps", "FORMATS"]

_SCAN = 256  # every format is found within this many leading characters
_MON = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
_MONTHS = {m: f"{i:02d}" for i, m in enumerate(_MON.split("|"), 1)}
_HMS = r"(?<H>\d\d):(?<M>\d\d):(?<S>\d\d)"
_FRAC = r"(?:[.,](?<f>\d+))?"
_ISO = (
    r"(?<Y>\d{4})-(?<m>\d\d)-(?<d>\d\d)[T ]" + _HMS + _FRAC
    + r"(?<z>Z|\s?[+-]\d\d:?\d\d)?\b"
)
_POST = r"\]?[,|]?\s*"

# (fmt name, prefix regex, timestamp-body regex, trailing-separator regex)
_SPECS: list[tuple[str, str, str, str]] = [
    ("rfc5424", r"<\d{1,3}>\d{1,2} ", _ISO, r"\s*"),
    ("iso8601", r"\[?", _ISO, _POST),  # also logback '...51,101', Windows
    # BGL: '- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.363779'
    ("bgl", r"\S+ \d{10} \d{4}\.\d\d\.\d\d \S+ ",
     r"(?<Y>\d{4})-(?<m>\d\d)-(?<d>\d\d)-(?<H>\d\d)\.(?<M>\d\d)\.(?<S>\d\d)\.(?<f>\d+)",
     r"\s*"),
    # Thunderbird: '- 1131566461 2005.11.09 dn228 Nov 9 12:01:01' (year from field 3)
    ("thunderbird", r"\S+ \d{10} (?<Y>\d{4})\.(?<m>\d\d)\.(?<d>\d\d) \S+ ",
     rf"(?:{_MON}) +\d{{1,2}} " + _HMS, r"\s*"),
    # HPC: '134681 node-246 unix.hw state_change.unavailable 1077804742 1 ...'
    ("hpc", r"\d+ \S+ \S+ \S+ ", r"(?<e>\d{10})", r" +"),
    ("epoch_ms", "", r"(?<e>\d{13})(?:\.(?<f>\d+))?\b", r"\s*"),
    ("epoch_s", "", r"(?<e>\d{10})(?:\.(?<f>\d+))?\b", r"\s*"),
    # HDFS: '081109 203615 148 INFO'
    ("yymmdd_hhmmss", "",
     r"(?<y>\d\d)(?<m>\d\d)(?<d>\d\d) (?<H>\d\d)(?<M>\d\d)(?<S>\d\d)\b", r"\s*"),
    ("spark", "", r"(?<y>\d\d)/(?<m>\d\d)/(?<d>\d\d) " + _HMS + _FRAC, r"\s*"),
    ("ymd_slash", r"\[?", r"(?<Y>\d{4})/(?<m>\d\d?)/(?<d>\d\d?)[ :]" + _HMS + _FRAC,
     _POST),  # nginx error log
    # HealthApp: '20171223-22:15:29:606', fields unpadded ('20171224-0:0:0:25')
    ("healthapp", "",
     r"(?<Y>\d{4})(?<m>\d\d)(?<d>\d\d)-(?<H>\d\d?):(?<M>\d\d?):(?<S>\d\d?):(?<ms>\d{1,3})",
     r"[|,]?\s*"),
    ("apache_error", r"\[",
     rf"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?<b>{_MON}) (?<d>\d\d) " + _HMS + _FRAC
     + r" (?<Y>\d{4})", r"\]\s*"),
    ("syslog", r"(?:<\d{1,3}>)?", rf"(?<b>{_MON}) +(?<d>\d\d?) " + _HMS + _FRAC,
     r"\s*"),
    ("android", "", r"(?<m>\d\d)-(?<d>\d\d) " + _HMS + _FRAC, r"\s*"),
    ("proxifier", r"\[", r"(?<m>\d\d)\.(?<d>\d\d) " + _HMS, r"\]\s*"),
    # OpenStack: 'nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008'
    ("openstack", r"[A-Za-z0-9_.-]{1,80}\.log[A-Za-z0-9_.:-]* ", _ISO, r"\s*"),
    # access log (apache/nginx combined) anywhere in the first 100 chars
    ("clf", r".{0,100}?\[",
     rf"(?<d>\d\d)/(?<b>{_MON})/(?<Y>\d{{4}}):" + _HMS + r"(?: (?<z>[+-]\d{4}))?",
     r"\]\s*"),
    ("time_only", r"\[?", _HMS + _FRAC + r"\b", _POST),
]
FORMATS = [s[0] for s in _SPECS]
# cheap unanchored pre-checks for the formats whose own regex is costly to reject
_GUARDS = {"clf": r"\[\d\d/"}


def _spec_columns(name: str, pre: str, body: str, post: str, year: str):
    """Expressions (naive datetime, zone offset minutes, text, end, ok) for one spec."""
    g = pl.col("_g")
    groups = set(re.findall(r"\(\?<(\w+)>", pre + body))
    f = g.struct.field

    def pad(k: str, n: int = 2) -> pl.Expr:
        return f(k).str.zfill(n)

    text = f("ts")
    end = (f("pre").str.len_chars() + text.str.len_chars()
           + f("post").str.len_chars()).cast(pl.Int32)
    frac = (f("f").str.slice(0, 6).str.pad_end(6, "0").fill_null("000000")
            if "f" in groups else pl.lit("000000"))
    if "e" in groups:
        digits = f("e")
        scale = 1000 if name == "epoch_ms" else 1_000_000
        fdig = 3 if name == "epoch_ms" else 6
        sub = (f("f").str.slice(0, fdig).str.pad_end(fdig, "0").cast(pl.Int64).fill_null(0)
               if "f" in groups else pl.lit(0, pl.Int64))
        naive = (digits.cast(pl.Int64) * scale + sub).cast(pl.Datetime("us"))
        return naive, pl.lit(0, pl.Int32), text, end, naive.is_not_null()
    y = (f("Y") if "Y" in groups
         else pl.lit("20") + f("y") if "y" in groups else pl.lit(year))
    m = (pad("m") if "m" in groups else pl.lit("01") if name == "time_only"
         else f("b").replace_strict(_MONTHS, default=None, return_dtype=pl.String))
    if "ms" in groups:
        frac = pad("ms", 3) + pl.lit("000")
    day = pad("d") if "d" in groups else pl.lit("01")
    stamp = pl.concat_str([y, pl.lit("-"), m, pl.lit("-"), day, pl.lit(" "),
                           pad("H"), pl.lit(":"), pad("M"), pl.lit(":"), pad("S"),
                           pl.lit("."), frac])
    naive = stamp.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", strict=False)
    if name == "time_only":  # clock validated (on a dummy date), but there is no ts
        return pl.lit(None, pl.Datetime("us")), pl.lit(None, pl.Int32), text, end, naive.is_not_null()
    off = pl.lit(None, pl.Int32)
    if "z" in groups:
        z = f("z").str.strip_chars().str.replace(":", "", literal=True)
        sign = pl.when(z.str.starts_with("-")).then(-1).otherwise(1)
        mins = (z.str.slice(1, 2).cast(pl.Int32, strict=False) * 60
                + z.str.slice(3, 2).cast(pl.Int32, strict=False))
        off = (pl.when(z.is_null()).then(None)
               .when(z == "Z").then(0).otherwise(sign * mins).cast(pl.Int32))
    return naive, off, text, end, naive.is_not_null()


def extract_timestamps(
    lines: pl.Series, *, tz: str = "UTC", default_year: int | None = None
) -> pl.DataFrame:
    """For each line: ts (pl.Datetime('us','UTC'), null when no timestamp found),
    ts_text (the exact timestamp text as written, null when none), ts_end (Int32
    char offset in the line just after the timestamp text and any closing
    bracket/separator whitespace, so line[ts_end:] is the rest; 0 when none),
    fmt (short name of the matched format, null when none; see ``FORMATS``).

    Zone-less timestamps are wall-clock time in ``tz`` (IANA name) converted to
    UTC; explicit offsets / ``Z`` win.  Year-less formats use ``default_year``
    (current year if None).  ``fmt == 'time_only'`` rows have ts null.
    """
    year = str(default_year if default_year is not None else _dt.date.today().year)
    n = len(lines)
    remaining = pl.DataFrame(
        {"_row": pl.int_range(n, dtype=pl.UInt32, eager=True),
         "line": lines.cast(pl.String).str.slice(0, _SCAN)}
    ).filter(pl.col("line").is_not_null())
    found = []
    # One vectorised pass per format over the rows no earlier format claimed:
    # cheap is_match first, captures + parsing only on the candidate rows.
    for name, pre, body, post in _SPECS:
        if remaining.height == 0:
            break
        pat = f"^(?<pre>{pre})(?<ts>{body})(?<post>{post})"
        line = pl.col("line")
        if name in _GUARDS:
            line = pl.when(line.str.contains(_GUARDS[name])).then(line)
        hit = line.str.contains(pat).fill_null(False)
        cand = remaining.filter(hit)
        if cand.height == 0:
            continue
        naive, off, text, end, ok = _spec_columns(name, pre, body, post, year)
        parsed = cand.select(
            "_row", "line", pl.col("line").str.extract_groups(pat).alias("_g")
        ).select("_row", "line", naive.alias("naive"), off.alias("off"),
                 text.alias("ts_text"), end.alias("ts_end"),
                 pl.lit(name).alias("fmt"), ok.alias("_ok"))
        found.append(parsed.filter("_ok").drop("line", "_ok"))
        # impossible dates (month 13 ...) fall through to later formats
        remaining = pl.concat([remaining.filter(~hit),
                               parsed.filter(~pl.col("_ok")).select("_row", "line")])
    schema = {"_row": pl.UInt32, "naive": pl.Datetime("us"), "off": pl.Int32,
              "ts_text": pl.String, "ts_end": pl.Int32, "fmt": pl.String}
    hits = pl.concat([pl.DataFrame(schema=schema)]
                     + [f.cast(schema) for f in found])  # type: ignore[arg-type]
    naive = pl.col("naive")
    if tz == "UTC":
        local = naive.dt.replace_time_zone("UTC")
    else:
        local = (naive.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
                 .dt.convert_time_zone("UTC"))
    fixed = naive.dt.replace_time_zone("UTC") - pl.duration(minutes=pl.col("off"))
    ts = pl.when(pl.col("off").is_null()).then(local).otherwise(fixed)
    out = (pl.DataFrame({"_row": pl.int_range(n, dtype=pl.UInt32, eager=True)})
           .join(hits, on="_row", how="left", maintain_order="left"))
    return out.select(ts.alias("ts"), "ts_text",
                      pl.col("ts_end").fill_null(0), "fmt")
