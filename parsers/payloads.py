"""Inner formats: what the application wrote (JSON loggers, Java, nginx, Node, syslog).

All functions here are vectorised polars expressions over a `payload` column:
level, JSON logger fields, whether a line continues the previous event
(stack traces, Node's fatal-OOM block), and the payload's own timestamp.
"""

from __future__ import annotations

import polars as pl

PINO_LEVELS = {"10": "trace", "20": "debug", "30": "info", "40": "warn", "50": "error", "60": "fatal"}
TEXT_LEVELS = {
    "trace": "trace",
    "debug": "debug",
    "fine": "debug",
    "info": "info",
    "notice": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "severe": "error",
    "crit": "fatal",
    "critical": "fatal",
    "fatal": "fatal",
    "alert": "fatal",
    "emerg": "fatal",
    "panic": "fatal",
}

JSON_LEVEL_RE = r'"(?:level|severity|log\.level|levelname)"\s*:\s*"?([A-Za-z]+|\d+)'
TEXT_LEVEL_RE = (
    r"(?:^|[\s\[|:])(TRACE|DEBUG|FINE|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|CRIT|CRITICAL|FATAL|PANIC|"
    r"trace|debug|info|notice|warn|warning|error|fatal|panic|crit|alert|emerg)(?:$|[\s\]|:,]|/[A-Za-z][A-Za-z0-9_-]*\])"
)
# (`LEVEL/process]`: Celery's `[2026-12-04 13:20:31,958: ERROR/MainProcess] ...`)
# nginx error log: 2017/02/03 16:36:10 [error] 7588#7588: ...
NGINX_ERROR_LEVEL_RE = r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(\w+)\]"

# Lines that continue the event above them rather than start one. Node's fatal-OOM block
# starts at "<--- Last few GCs --->" (an event of its own) and folds everything below it.
# A line indented by two or more spaces (stack frames, Python's `  File ...`, util.inspect's
# `  errno: -24,`, pretty-printed JSON's `  "code": ...`) and a lone closing bracket (`}`, `]`,
# `},`: the tail of a printed object) continue the line that heads them. parsers/_scan.c's
# continuation() is the same rule in C (tests/parsers/test_native.py holds them equal).
CONTINUATION_RE = (
    r"^(?:\s+at |\tat |\s*\.\.\. \d+ (?:more|common frames omitted)|Caused by: |Suppressed: |\s+\.\.\. |"
    r"(?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)(?::|$)|"
    r"<--- JS stacktrace --->|----- Native stack trace -----|\s*\d+: 0x[0-9a-f]+ |"
    r"\[\d+:0x[0-9a-f]+\]\s+\d+ ms: |\s{2,}\S|\s*[}\]][)}\],;]*\s*$|FATAL ERROR: .*JavaScript heap out of memory|\s*$)"
)

JSON_TIME_RE = r'"(?:time|timestamp|@timestamp|ts|date)"\s*:\s*"?([0-9][0-9T:.\-+Z ]*)'


def level_expr(payload: pl.Expr, is_json: pl.Expr) -> pl.Expr:
    """Normalised level (trace..fatal) or null."""
    j = payload.str.extract(JSON_LEVEL_RE, 1)
    head = payload.str.slice(0, 160)
    t = pl.coalesce(head.str.extract(NGINX_ERROR_LEVEL_RE, 1), head.str.extract(TEXT_LEVEL_RE, 1))
    raw = pl.when(is_json).then(j).otherwise(t).str.to_lowercase()
    return raw.replace_strict({**PINO_LEVELS, **TEXT_LEVELS}, default=None, return_dtype=pl.String)


def json_field(payload: pl.Expr, *names: str) -> pl.Expr:
    """First present top-level string/number field among `names` (no full JSON decode)."""
    return pl.coalesce([payload.str.json_path_match(f"$['{n}']") for n in names])


def parse_json_time(text: pl.Expr) -> pl.Expr:
    """pino/bunyan/winston `time`: epoch ms, epoch s (with fraction), or ISO 8601."""
    num = text.str.contains(r"^\d{9,}(?:\.\d+)?$")
    as_float = text.cast(pl.Float64, strict=False)
    epoch_us = (
        pl.when(as_float > 1e17)
        .then(as_float / 1000.0)  # ns
        .when(as_float > 1e14)
        .then(as_float)  # us
        .when(as_float > 1e11)
        .then(as_float * 1000.0)  # ms
        .otherwise(as_float * 1e6)  # s
    )
    from_epoch = pl.from_epoch(epoch_us.round(0).cast(pl.Int64), time_unit="us").dt.replace_time_zone("UTC")
    iso = text.str.replace(" ", "T").str.to_datetime(time_zone="UTC", time_unit="us", strict=False)
    return pl.when(num).then(from_epoch).otherwise(iso)


def parse_rfc3339(text: pl.Expr) -> pl.Expr:
    return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%#z", time_zone="UTC", time_unit="us", strict=False)
