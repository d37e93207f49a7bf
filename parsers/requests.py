"""Requests as rollups, not rows.

Request lines (nginx / ingress access lines, pino-http `request completed`, Java request
logs: every event the builder names `http_request`) are most of the bytes of production logs,
while the detectors need request counts and latencies per entity, route and status over time.
Each chunk's request events become rows of the `requests` table, one per

    (service, pod, pid, second, method, route template, status, upstream)

with the number of requests, the latency sum and maximum, counts per fixed latency bucket
(`BUCKETS_MS`), the latencies themselves (`latencies_ms`: exact quantiles over any set of rows,
one number per request instead of an event row; queries/uneven_worker_load.sql reads them) and
the exact times of the row's first and last request. Every request is counted there. Only the requests worth quoting stay events
(`notable`): 5xx, timeouts (408, 504), aborted ones (no status: pino-http's `statusCode: null`,
nginx's 499), 401/403, and slow ones (latency at or over the catalogue's `slow_request_ms`).

Route templates: the path without its query, each segment that is a number, a UUID or a hex id
(6+ hex digits with a digit among them) replaced by `:id`. Vectorised (two regex passes: a
replacement consumes the `/` after its segment, so a second pass catches the id next to it).

The upstream is the address a proxy forwarded to when the line names one (attrs `upstream` /
`upstream_addr`); a client address (`peer` of an access line) is not a key: one row per client
per second would make the rollup as large as the lines it replaces.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

# latency buckets, upper bounds in ms (a request falls into the first bound it does not exceed;
# `gt_10000ms` counts the rest). Prometheus' default histogram bounds, in milliseconds.
BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
BUCKET_COLUMNS = tuple(f"le_{b}ms" for b in BUCKETS_MS) + ("gt_10000ms",)
# Requests at or over this latency stay events. 400 ms = 0.8 x the report's default event-loop
# block (500 ms): the event-loop-block detector looks for the request that held the loop among
# request events taking at least 80 % of the block (queries/event_loop_blocks.sql).
SLOW_REQUEST_MS = 400.0
NOTABLE_STATUS = (401, 403, 408, 499, 504)
KEY = ("service", "pod", "pid", "second", "method", "route", "status", "upstream")

SCHEMA = {
    "service": pl.String,
    "pod": pl.String,
    "pid": pl.Int64,
    "second": pl.Datetime("us", "UTC"),
    "method": pl.String,
    "route": pl.String,
    "status": pl.Int32,
    "upstream": pl.String,
    "requests": pl.Int64,
    "latency_n": pl.Int64,
    "latency_sum_ms": pl.Float64,
    "latency_max_ms": pl.Float64,
    **dict.fromkeys(BUCKET_COLUMNS, pl.Int64),
    "latencies_ms": pl.List(pl.Float64),
    "first_ts": pl.Datetime("us", "UTC"),
    "last_ts": pl.Datetime("us", "UTC"),
    "first_line": pl.Int64,
    "last_line": pl.Int64,
}

_H = "[0-9a-fA-F]"
# a path segment that is an id: digits, a UUID, or 6+ hex digits with a digit among them
# (the digit's position spelled out: RE2 has no look-ahead to ask for both at once)
_HEX_ID = "|".join(f"{_H}{{{a}}}\\d{_H}{{{max(5 - a, 0)},}}" for a in range(6)) + f"|{_H}{{6,}}\\d{_H}*"
_UUID = f"{_H}{{8}}-{_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}"
_ID_SEGMENT = rf"/(?:\d+|{_UUID}|{_HEX_ID})(/|$)"


def route_template(route: pl.Expr) -> pl.Expr:
    """`/api/users/123/cart?x=1` -> `/api/users/:id/cart` (see the module's docstring)."""
    path = route.str.split_exact("?", 1).struct.field("field_0")
    # a replacement consumes the "/" after its segment: the second pass takes the id next to it
    return path.str.replace_all(_ID_SEGMENT, "/:id$1").str.replace_all(_ID_SEGMENT, "/:id$1")


def notable(slow_ms: float) -> pl.Expr:
    """The requests that stay events: failed, refused, timed out, aborted or slow, and those
    naming a session (a session's successes and denials across worker PIDs are what
    queries/session_loss.sql follows, line by line)."""
    st = pl.col("status")
    return (
        st.is_null()
        | (st >= 500)
        | st.is_in(list(NOTABLE_STATUS))
        | (pl.col("duration_ms") >= slow_ms).fill_null(False)
        | pl.col("attrs").str.contains('"session_id":"', literal=True).fill_null(False)
    )


def _bucket(dur: pl.Expr) -> pl.Expr:
    """Index into BUCKET_COLUMNS: how many bounds the latency exceeds (null stays null)."""
    n = pl.lit(0, pl.Int32)
    for b in BUCKETS_MS:
        n = n + (dur > b).cast(pl.Int32)
    return n


# one row per request, before the rollup (`keyed` from request events, parsers/native.py's
# `request_rows` from the request lines the scanner parsed itself)
# (the texts as categoricals: 4 bytes a row while a batch of chunks' requests waits for the
# rollup, instead of a string each; the rollup casts them back)
KEYED = {
    "service": pl.Categorical,
    "pod": pl.Categorical,
    "pid": pl.Int64,
    "second": pl.Datetime("us", "UTC"),
    "method": pl.Categorical,
    "route": pl.Categorical,
    "status": pl.Int32,
    "upstream": pl.Categorical,
    "duration_ms": pl.Float64,
    "_b": pl.Int32,
    "ts": pl.Datetime("us", "UTC"),
    "line_no": pl.Int64,
}


def keyed(req: pl.DataFrame) -> pl.DataFrame:
    """One KEYED row per request event `req` (the event builder's columns)."""
    attrs = pl.col("attrs")
    return keyed_from(
        req,
        method=attrs.str.extract(r'"method":"([A-Z]+)"', 1),
        upstream=pl.coalesce(attrs.str.extract(r'"upstream_addr":"([^"]+)"', 1), attrs.str.extract(r'"upstream":"([^"]+)"', 1)),
    )


def keyed_from(df: pl.DataFrame, *, method: pl.Expr, upstream: pl.Expr, route: pl.Expr | None = None) -> pl.DataFrame:
    """KEYED rows of a frame with service, pod, pid, ts, route, status, duration_ms, line_no
    (`route`: the route template when the caller made it)."""
    dur = pl.col("duration_ms")
    return df.select(
        "service",
        "pod",
        "pid",
        pl.col("ts").dt.truncate("1s").alias("second"),
        method.alias("method"),
        (route_template(pl.col("route")) if route is None else route).alias("route"),
        pl.col("status").cast(pl.Int32),
        upstream.alias("upstream"),
        dur,
        # bucket index: how many bounds the latency exceeds (null latency: no bucket)
        _bucket(dur).alias("_b"),
        "ts",
        "line_no",
    ).cast(KEYED)


def aggregate(rows: pl.DataFrame) -> pl.DataFrame:
    """The rollup (SCHEMA) of KEYED rows, in line order."""
    if rows.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    dur = pl.col("duration_ms")
    aggs = [
        pl.len().cast(pl.Int64).alias("requests"),
        dur.count().cast(pl.Int64).alias("latency_n"),
        dur.sum().alias("latency_sum_ms"),
        dur.max().alias("latency_max_ms"),
        *[(pl.col("_b") == i).sum().cast(pl.Int64).alias(c) for i, c in enumerate(BUCKET_COLUMNS)],
        dur.drop_nulls().alias("latencies_ms"),
        pl.col("ts").min().alias("first_ts"),
        pl.col("ts").max().alias("last_ts"),
        pl.col("line_no").min().alias("first_line"),
        pl.col("line_no").max().alias("last_line"),
    ]
    out = rows.group_by(list(KEY), maintain_order=True).agg(aggs)
    return out.with_columns(pl.when(pl.col("latency_n") > 0).then(pl.col("latency_sum_ms")).alias("latency_sum_ms")).cast(SCHEMA)


def rollup(req: pl.DataFrame) -> pl.DataFrame:
    """One row per KEY of the request events `req` (the event builder's columns)."""
    if req.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    return aggregate(keyed(req))


def split_requests(res, slow_ms: float | None = SLOW_REQUEST_MS, *, keep_all: bool = False):
    """A chunk's result with its request events rolled up: every request counted in
    `res.requests`, only the notable ones (`keep_all`: all of them) left among the events.
    The lines of the others count as generic lines (in the line index, not events).

    `res.request_rows`: request lines the native scanner parsed itself (KEYED rows: requests
    that are not notable and so never became events); they join the rollup in line order."""
    ev = res.events
    native = res.request_rows if res.request_rows is not None and res.request_rows.height else None
    is_req = pl.col("kind") == "http_request"
    req = ev.filter(is_req) if ev.height else ev
    if req.height == 0 and native is None:
        return replace(res, request_rows=None) if res.request_rows is not None else res
    parts = ([keyed(req)] if req.height else []) + ([native] if native is not None else [])
    rows = parts[0] if len(parts) == 1 else pl.concat(parts).sort("line_no", maintain_order=True)
    roll = aggregate(rows)
    if keep_all or req.height == 0:
        return replace(res, requests=roll, request_rows=None)
    keep = ev.filter(~is_req | notable(SLOW_REQUEST_MS if slow_ms is None else slow_ms))
    n_drop = ev.height - keep.height
    # a request event spans one line, or more when continuation lines folded into it: those
    # stay folded lines, its first line becomes a generic one
    return replace(
        res, events=keep, requests=roll, request_rows=None, n_events=res.n_events - n_drop, n_generic=res.n_generic + n_drop
    )
