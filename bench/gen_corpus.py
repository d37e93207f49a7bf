#!/usr/bin/env python3
"""Deterministic generator of a mixed `kubectl logs --prefix --timestamps` corpus.

    python bench/gen_corpus.py --size 1GB --out bench/out/corpus.log [--seed 1]

Every line is `[pod/<pod>/<container>] <RFC3339Nano UTC> <payload>` (Go's
RFC3339Nano: trailing zeros of the fraction trimmed, no fraction at all when it
is zero), timestamps strictly increasing. Payloads mix pino JSON (bulk: plain
`msg` lines; rare pino-http `request completed` lines), Node console lines and
Java logback lines, some ERROR ones with multi-line stack traces (`\\tat ...`,
`Caused by: ...`, `\\t... N more`).

About 1.5 % of the records are "interesting" events, written with the exact
phrasings pmortem's catalogue classifies:

    cpu_count          Number of CPUs: 16
    worker_exit        Worker fragment (pid: 4242) died (code: null, signal: SIGKILL), restarting
    worker_start       Worker 4243 started
    response_closed    java.lang.IllegalStateException: Response is closed   (under an ERROR logback line)
    context_cancelled  pino error `msg` ending in `context cancelled`
    event_loop_lag     Event loop lag: 387 ms

The exact count of each is written to `<out>.truth.json` (ground truth).
Output is generated in vectorised blocks (numpy + polars) and streamed to disk:
memory stays bounded (~200 MB) whatever the size; 1 GB takes ~15-25 s here.
Same --seed and --size give byte-identical output.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np
import polars as pl

BLOCK_RECORDS = 200_000
T0_NS = 1_649_448_000 * 1_000_000_000  # 2022-04-08T20:00:00Z

NODE_PODS = [
    ("campaign-api-7d9f8b6c4d-x2k9p", "api"),
    ("campaign-api-7d9f8b6c4d-q8w3z", "api"),
    ("campaign-api-7d9f8b6c4d-m4n7t", "api"),
    ("fragment-renderer-6b8c9d7f5-k2j4h", "renderer"),
]
JAVA_PODS = [
    ("billing-svc-5c6d7f8b9-h7g6f", "billing"),
    ("billing-svc-5c6d7f8b9-r5t4y", "billing"),
]

# record type -> (weight, family). Interesting kinds are named after the event they make.
TYPES: list[tuple[str, float, str]] = [
    ("pino_info", 0.440, "node"),
    ("pino_debug", 0.050, "node"),
    ("pino_warn", 0.010, "node"),
    ("pino_error", 0.002, "node"),
    ("pino_http", 0.002, "node"),  # pino-http: pmortem makes an http_request event of each
    ("console", 0.200, "node"),
    ("java_info", 0.180, "java"),
    ("java_debug", 0.080, "java"),
    ("java_warn", 0.0155, "java"),
    ("java_error_trace", 0.0025, "java"),
    # interesting
    ("cpu_count", 0.0005, "node"),
    ("worker_exit", 0.0015, "node"),
    ("worker_start", 0.0015, "node"),
    ("context_cancelled", 0.0035, "node"),
    ("event_loop_lag", 0.0050, "node"),
    ("response_closed", 0.0030, "java"),
]
# request lines (`--requests P`: P of the records, in place of the default 0.2 % pino_http):
# pino-http `request completed` JSON, ingress-nginx combined access lines with request and
# upstream times, a Java request-log line (logback, `GET /path 200 45ms`)
REQUEST_TYPES: list[tuple[str, float, str]] = [
    ("req_pino", 0.4, "node"),
    ("req_nginx", 0.4, "ingress"),
    ("req_java", 0.2, "java"),
]
INGRESS_PODS = [("ingress-nginx-controller-7c9f8d6b5-p4z8x", "controller")]
FAMILIES = {"node": 0, "java": 1, "ingress": 2}
# raw files (no kubectl envelope): which record types each holds
RAW_TYPES = {
    "nginx": ["req_nginx"],
    "pino": ["pino_info", "pino_debug", "pino_warn", "pino_error", "context_cancelled", "req_pino"],
}
ROUTES = [
    "/api/campaigns/{a}",
    "/api/campaigns/{a}/fragments/{b}",
    "/health",
    "/api/invoices/{h}",
    "/api/users/{a}/cart",
]
# status by draw, per mille: 5xx 0.6 %, 504 0.2 %, 401/403 0.8 %, 404 3 %, 304 5 %, 201 5 %, else 200
STATUS_PM = [(6, 500), (8, 503), (10, 504), (14, 401), (18, 403), (48, 404), (98, 304), (148, 201)]
# latency, per mille of requests: 4 take 1000-4999 ms, 46 take 400-999 ms, 250 100-399 ms, the rest 1-99 ms
LATENCY_PM = [(4, 1000, 4000), (50, 400, 600), (300, 100, 300)]
INTERESTING = [
    "cpu_count",
    "worker_exit",
    "worker_start",
    "response_closed",
    "context_cancelled",
    "event_loop_lag",
]
# how pmortem stores each: (events.kind, events.error_class)
EXPECTED_KIND = {
    "cpu_count": ("cpu_count", None),
    "worker_exit": ("worker_exit", None),
    "worker_start": ("worker_start", None),
    "response_closed": ("error", "response_closed"),
    "context_cancelled": ("error", "context_cancelled"),
    "event_loop_lag": ("event_loop_lag", None),
}

PINO_INFO_MSGS = [
    "cache hit",
    "cache miss",
    "session refreshed",
    "campaign loaded",
    "template rendered",
    "queue message acked",
    "feature flags synced",
]
PINO_DEBUG_MSGS = ["lookup key", "render step", "db query ok", "queue poll"]
PINO_WARN_MSGS = ["slow query", "retrying campaign fetch", "stale cache entry served"]
PINO_ERROR_MSGS = ["campaign payload failed validation", "template compile failed", "unknown campaign id"]
CONSOLE_FMTS = [
    "processed batch {a} ({b} items) in {c}ms",
    "heartbeat seq={a} ok",
    "flushed {b} metrics to statsd",
    "session store size={a}",
    "rendered fragment campaign-{a} in {c}ms",
]
JAVA_INFO = [
    ("c.e.billing.InvoiceService", "invoice {a} computed in {c} ms"),
    ("c.e.billing.LedgerSync", "synced {b} ledger entries"),
    ("c.e.billing.PaymentGateway", "payment {a} authorised"),
    ("o.s.web.servlet.DispatcherServlet", "Completed initialization in {c} ms"),
]
JAVA_DEBUG = [
    ("c.e.billing.PriceCache", "price cache lookup sku={a}"),
    ("c.e.billing.TaxRules", "tax rule {b} applied"),
]
JAVA_WARN = [
    ("c.e.billing.RetryPolicy", "retrying ledger call attempt={b}"),
    ("c.e.billing.PriceCache", "price cache stale for sku={a}"),
]
THREADS = ["http-nio-8080-exec-{t}", "scheduling-1", "ledger-pool-{t}"]

JAVA_TRACES = [
    "invoice {a} could not be parsed\n"
    'java.lang.NumberFormatException: For input string: "x{a}"\n'
    "\tat java.base/java.lang.NumberFormatException.forInputString(NumberFormatException.java:67)\n"
    "\tat java.base/java.lang.Integer.parseInt(Integer.java:668)\n"
    "\tat com.example.billing.InvoiceParser.parse(InvoiceParser.java:42)\n"
    "\tat com.example.billing.InvoiceController.get(InvoiceController.java:88)",
    "ledger sync failed for account {a}\n"
    "com.example.billing.LedgerException: ledger sync failed\n"
    "\tat com.example.billing.LedgerClient.sync(LedgerClient.java:120)\n"
    "\tat com.example.billing.LedgerJob.run(LedgerJob.java:55)\n"
    "\tat java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)\n"
    "Caused by: java.io.EOFException: unexpected end of stream\n"
    "\tat com.example.billing.LedgerCodec.read(LedgerCodec.java:77)\n"
    "\tat com.example.billing.LedgerClient.sync(LedgerClient.java:114)\n"
    "\t... {b} more",
]
RESPONSE_CLOSED = (
    "Servlet.service() for servlet [dispatcherServlet] threw exception\n"
    "java.lang.IllegalStateException: Response is closed\n"
    "\tat org.eclipse.jetty.server.Response.getWriter(Response.java:812)\n"
    "\tat com.example.billing.ExportController.stream(ExportController.java:64)\n"
    "\tat jakarta.servlet.http.HttpServlet.service(HttpServlet.java:590)\n"
    "\t... {b} more"
)


def parse_size(s: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*", s, re.I)
    if not m:
        raise SystemExit(f"bad size {s!r} (e.g. 1GB, 500MB, 2GiB)")
    n, unit = float(m.group(1)), (m.group(2) or "B").upper().rstrip("B")
    mult = {
        "": 1,
        "K": 10**3,
        "M": 10**6,
        "G": 10**9,
        "T": 10**12,
        "KI": 2**10,
        "MI": 2**20,
        "GI": 2**30,
        "TI": 2**40,
    }[unit]
    return int(n * mult)


def _fill(fmt: str, cols: dict[str, pl.Expr]) -> pl.Expr:
    """'a {x} b' with {x} -> column expr, as one concat_str expression."""
    exprs: list[pl.Expr] = []
    for part in re.split(r"(\{\w+\})", fmt):
        if not part:
            continue
        if part.startswith("{") and part.endswith("}"):
            exprs.append(cols[part[1:-1]])
        else:
            exprs.append(pl.lit(part))
    return pl.concat_str(exprs)


def _choose(options: list[str], idx: pl.Expr) -> pl.Expr:
    return pl.lit(pl.Series(options)).gather(idx % len(options))


def _payloads(df: pl.DataFrame) -> pl.Series:
    """Payload text (may hold '\\n' for multi-line records) for one record type's rows."""
    t = df.get_column("tname")[0]
    if t.startswith("req_"):
        return _request_payloads(t, df)
    a, b, c = pl.col("a").cast(pl.String), pl.col("b").cast(pl.String), pl.col("c").cast(pl.String)
    cols = {"a": a, "b": b, "c": c}
    ms = (pl.col("ts") // 1_000_000).cast(pl.String)
    host = pl.col("pod")
    head = pl.concat_str(
        [
            pl.lit('{"level":'),
            pl.col("lvl"),
            pl.lit(',"time":'),
            ms,
            pl.lit(',"pid":1,"hostname":"'),
            host,
            pl.lit('"'),
        ]
    )
    jtime = pl.from_epoch(pl.col("ts") // 1000, time_unit="us").dt.strftime("%H:%M:%S%.3f")
    thread = pl.concat_str([pl.lit("http-nio-8080-exec-"), (pl.col("b") % 10 + 1).cast(pl.String)])
    if t in ("pino_info", "pino_debug", "pino_warn", "pino_error"):
        msgs, lvl = {
            "pino_info": (PINO_INFO_MSGS, "30"),
            "pino_debug": (PINO_DEBUG_MSGS, "20"),
            "pino_warn": (PINO_WARN_MSGS, "40"),
            "pino_error": (PINO_ERROR_MSGS, "50"),
        }[t]
        e = pl.concat_str(
            [
                head,
                pl.lit(',"msg":"'),
                _choose(msgs, pl.col("choice")),
                pl.lit('","key":"campaign:'),
                a,
                pl.lit('"}'),
            ]
        )
        return df.with_columns(lvl=pl.lit(lvl)).select(e).to_series()
    if t == "pino_http":
        e = pl.concat_str(
            [
                head,
                pl.lit(',"req":{"id":'),
                a,
                pl.lit(',"method":"GET","url":"/api/campaigns/'),
                b,
                pl.lit('"},"res":{"statusCode":200},"responseTime":'),
                c,
                pl.lit(',"msg":"request completed"}'),
            ]
        )
        return df.with_columns(lvl=pl.lit("30")).select(e).to_series()
    if t == "context_cancelled":
        e = pl.concat_str(
            [head, pl.lit(',"msg":"fetch campaign '), a, pl.lit(' failed: context cancelled"}')]
        )
        return df.with_columns(lvl=pl.lit("50")).select(e).to_series()
    if t == "console":
        e = pl.lit(None, pl.String)
        for i, fmt in enumerate(CONSOLE_FMTS):
            e = pl.when(pl.col("choice") % len(CONSOLE_FMTS) == i).then(_fill(fmt, cols)).otherwise(e)
        return df.select(e).to_series()
    if t == "cpu_count":
        return df.select(
            pl.concat_str([pl.lit("Number of CPUs: "), _choose(["16", "2", "64", "8"], pl.col("choice"))])
        ).to_series()
    if t == "worker_exit":
        return df.select(
            pl.concat_str(
                [
                    pl.lit("Worker fragment (pid: "),
                    (pl.col("a") % 30000 + 100).cast(pl.String),
                    pl.lit(") died (code: null, signal: SIGKILL), restarting"),
                ]
            )
        ).to_series()
    if t == "worker_start":
        return df.select(
            pl.concat_str(
                [pl.lit("Worker "), (pl.col("a") % 30000 + 100).cast(pl.String), pl.lit(" started")]
            )
        ).to_series()
    if t == "event_loop_lag":
        return df.select(
            pl.concat_str([pl.lit("Event loop lag: "), (pl.col("c") + 50).cast(pl.String), pl.lit(" ms")])
        ).to_series()
    if t in ("java_info", "java_debug", "java_warn"):
        table, lvl = {
            "java_info": (JAVA_INFO, "INFO "),
            "java_debug": (JAVA_DEBUG, "DEBUG"),
            "java_warn": (JAVA_WARN, "WARN "),
        }[t]
        e = pl.lit(None, pl.String)
        for i, (logger, fmt) in enumerate(table):
            line = pl.concat_str(
                [jtime, pl.lit(" ["), thread, pl.lit(f"] {lvl} {logger} - "), _fill(fmt, cols)]
            )
            e = pl.when(pl.col("choice") % len(table) == i).then(line).otherwise(e)
        return df.select(e).to_series()
    if t == "java_error_trace":
        e = pl.lit(None, pl.String)
        loggers = ["c.e.billing.InvoiceController", "c.e.billing.LedgerClient"]
        for i, fmt in enumerate(JAVA_TRACES):
            line = pl.concat_str(
                [
                    jtime,
                    pl.lit(" ["),
                    thread,
                    pl.lit(f"] ERROR {loggers[i]} - "),
                    _fill(fmt, {**cols, "b": (pl.col("b") % 40 + 3).cast(pl.String)}),
                ]
            )
            e = pl.when(pl.col("choice") % len(JAVA_TRACES) == i).then(line).otherwise(e)
        return df.select(e).to_series()
    if t == "response_closed":
        line = pl.concat_str(
            [
                jtime,
                pl.lit(" ["),
                thread,
                pl.lit("] ERROR o.a.c.c.C.[.[.[/].[dispatcherServlet] - "),
                _fill(RESPONSE_CLOSED, {**cols, "b": (pl.col("b") % 40 + 3).cast(pl.String)}),
            ]
        )
        return df.select(line).to_series()
    raise AssertionError(t)


def _status() -> pl.Expr:
    d = (pl.col("choice") // 1024) % 1000
    e = pl.lit(200)
    for lim, st in reversed(STATUS_PM):
        e = pl.when(d < lim).then(pl.lit(st)).otherwise(e)
    return e.cast(pl.Int32)


def _duration_ms() -> pl.Expr:
    """Latency in ms, long-tailed (LATENCY_PM)."""
    d = (pl.col("choice") // (1 << 20)) % 1000
    e = pl.col("c") % 99 + 1
    for lim, lo, span in reversed(LATENCY_PM):
        e = pl.when(d < lim).then(lo + pl.col("a") % span).otherwise(e)
    return e.cast(pl.Int64)


def _route() -> pl.Expr:
    """A path with ids in it (numbers, hex ids), and a query string now and then."""
    h = (pl.col("a") * 2654435761 % (1 << 32)).cast(pl.UInt32).map_batches(lambda s: s.cast(pl.Int64), return_dtype=pl.Int64)
    cols = {"a": pl.col("a").cast(pl.String), "b": pl.col("b").cast(pl.String),
            "h": pl.concat_str([pl.lit("5f"), h.cast(pl.String).str.zfill(10), pl.lit("e9a1c3")])}
    e = pl.lit(None, pl.String)
    k = (pl.col("choice") // 32) % len(ROUTES)
    for i, fmt in enumerate(ROUTES):
        e = pl.when(k == i).then(_fill(fmt, cols)).otherwise(e)
    q = pl.when(pl.col("b") % 7 == 0).then(pl.lit("?page=2")).otherwise(pl.lit(""))
    return e + q


def _request_payloads(t: str, df: pl.DataFrame) -> pl.Series:
    st, dur, route = _status(), _duration_ms(), _route()
    method = pl.when(pl.col("b") % 5 == 0).then(pl.lit("POST")).otherwise(pl.lit("GET"))
    ms = (pl.col("ts") // 1_000_000).cast(pl.String)
    ip = pl.concat_str([pl.lit("10.2."), (pl.col("b") % 250).cast(pl.String), pl.lit("."), (pl.col("c") % 250 + 1).cast(pl.String)])
    if t == "req_pino":
        err = st >= 500
        e = pl.concat_str([
            pl.lit('{"level":'), pl.when(err).then(pl.lit("50")).otherwise(pl.lit("30")),
            pl.lit(',"time":'), ms, pl.lit(',"pid":1,"hostname":"'), pl.col("pod"),
            pl.lit('","req":{"id":'), pl.col("a").cast(pl.String), pl.lit(',"method":"'), method,
            pl.lit('","url":"'), route, pl.lit('","remoteAddress":"'), ip,
            pl.lit('"},"res":{"statusCode":'), st.cast(pl.String), pl.lit('},"responseTime":'), dur.cast(pl.String),
            pl.lit(',"msg":"'), pl.when(err).then(pl.lit("request errored")).otherwise(pl.lit("request completed")), pl.lit('"}'),
        ])
    elif t == "req_nginx":
        when = pl.from_epoch(pl.col("ts") // 1_000_000_000, time_unit="s").dt.strftime("%d/%b/%Y:%H:%M:%S +0000")
        secs = (dur.cast(pl.Float64) / 1000).round(3)
        s3 = pl.format("{}", secs)  # e.g. 0.027
        up_secs = ((dur - 1).clip(0).cast(pl.Float64) / 1000).round(3)
        e = pl.concat_str([
            ip, pl.lit(" - - ["), when, pl.lit('] "'), method, pl.lit(" "), route, pl.lit(' HTTP/1.1" '), st.cast(pl.String),
            pl.lit(" "), (pl.col("b") * 7).cast(pl.String), pl.lit(' "-" "Mozilla/5.0 (X11; Linux x86_64) campaign-web/2.3" '),
            _fixed3(s3), pl.lit(" "), _fixed3(pl.format("{}", up_secs)),
        ])
    elif t == "req_java":
        jtime = pl.from_epoch(pl.col("ts") // 1000, time_unit="us").dt.strftime("%H:%M:%S%.3f")
        thread = pl.concat_str([pl.lit("http-nio-8080-exec-"), (pl.col("b") % 10 + 1).cast(pl.String)])
        lvl = pl.when(st >= 500).then(pl.lit("ERROR")).otherwise(pl.lit("INFO "))
        e = pl.concat_str([
            jtime, pl.lit(" ["), thread, pl.lit("] "), lvl, pl.lit(" c.e.billing.web.RequestLog - "),
            method, pl.lit(" "), route, pl.lit(" "), st.cast(pl.String), pl.lit(" "), dur.cast(pl.String), pl.lit("ms"),
        ])
    else:
        raise AssertionError(t)
    return df.select(e).to_series()


def _fixed3(s: pl.Expr) -> pl.Expr:
    """'0.5' -> '0.500' (nginx prints three decimals)."""
    frac = s.str.split(".").list.get(1, null_on_oob=True).fill_null("")
    return pl.concat_str([s.str.split(".").list.first(), pl.lit("."), frac.str.pad_end(3, "0")])


def rfc3339nano(ns: pl.Expr) -> pl.Expr:
    """Go time.RFC3339Nano in UTC: fraction with trailing zeros trimmed, none when zero."""
    base = pl.from_epoch(ns // 1_000_000_000, time_unit="s").dt.strftime("%Y-%m-%dT%H:%M:%S")
    frac = (ns % 1_000_000_000).cast(pl.String).str.zfill(9).str.strip_chars_end("0")
    return (
        pl.when(frac == "")
        .then(base + pl.lit("Z"))
        .otherwise(pl.concat_str([base, pl.lit("."), frac, pl.lit("Z")]))
    )


def mix(requests: float | None = None, raw: str | None = None) -> list[tuple[str, float, str]]:
    """The record types and weights of a corpus. `requests` None: the default corpus (0.2 %
    pino_http); else that share of the records are request lines (REQUEST_TYPES) and the
    rest keep their proportions. `raw`: only the record types of that raw file."""
    if raw is not None:
        keep = RAW_TYPES[raw]
        req = [t for t in REQUEST_TYPES if t[0] in keep]
        other = [t for t in TYPES if t[0] in keep]
        share = 1.0 if not other else (0.75 if requests is None else requests)
    elif requests is None:
        return list(TYPES)
    else:
        req, other, share = list(REQUEST_TYPES), [t for t in TYPES if t[0] != "pino_http"], requests
    rw = sum(w for _, w, _ in req) or 1.0
    ow = sum(w for _, w, _ in other) or 1.0
    return [(n, w / ow * (1 - share), f) for n, w, f in other] + [(n, w / rw * share, f) for n, w, f in req if share > 0]


def generate(size: int, out: str, seed: int = 1, quiet: bool = False, requests: float | None = None,
             raw: str | None = None) -> dict:
    t_start = time.monotonic()
    types = mix(requests, raw)
    names = [t[0] for t in types]
    weights = np.array([t[1] for t in types])
    weights /= weights.sum()
    family = np.array([FAMILIES[t[2]] for t in types])
    pods = NODE_PODS + JAVA_PODS + INGRESS_PODS
    pod_names = pl.Series([p for p, _ in pods])
    containers = pl.Series([c for _, c in pods])
    counts = dict.fromkeys([t[0] for t in TYPES + REQUEST_TYPES], 0)
    req_status: dict[str, dict[int, int]] = {}
    req_lines = 0
    n_lines = 0
    written = 0
    last_ts = T0_NS
    rec_base = 0
    os.makedirs(os.path.dirname(os.path.abspath(out)) or ".", exist_ok=True)
    tmp = out + ".tmp"
    block_no = 0
    with open(tmp, "wb") as fh:
        while written < size:
            rng = np.random.Generator(np.random.PCG64([seed, block_no]))
            block_no += 1
            n = BLOCK_RECORDS
            typ = rng.choice(len(names), size=n, p=weights)
            fam = family[typ]
            pod_idx = np.where(
                fam == FAMILIES["java"],
                len(NODE_PODS) + rng.integers(0, len(JAVA_PODS), n),
                rng.integers(0, len(NODE_PODS), n),
            )
            pod_idx = np.where(fam == FAMILIES["ingress"], len(NODE_PODS) + len(JAVA_PODS), pod_idx)
            inc = rng.integers(2_000_000, 7_000_000, n)  # 2..7 ms between records
            ts = last_ts + np.cumsum(inc)
            # Vary the fraction's precision so trimming is exercised: 30 % whole microseconds, 20 % whole milliseconds
            r = rng.random(n)
            ts = np.where(r < 0.3, ts - ts % 1000, np.where(r < 0.5, ts - ts % 1_000_000, ts))
            df = pl.DataFrame(
                {
                    "rec": np.arange(rec_base, rec_base + n, dtype=np.int64),
                    "typ": typ.astype(np.int16),
                    "pod_idx": pod_idx.astype(np.int32),
                    "ts": ts.astype(np.int64),
                    "a": rng.integers(1000, 99999, n),
                    "b": rng.integers(1, 500, n),
                    "c": rng.integers(1, 900, n),
                    "choice": rng.integers(0, 1 << 30, n),
                }
            )
            df = df.with_columns(
                pl.col("typ")
                .replace_strict(list(range(len(names))), names, return_dtype=pl.String)
                .alias("tname"),
                pl.lit(pod_names).gather(pl.col("pod_idx")).alias("pod"),
                pl.lit(containers).gather(pl.col("pod_idx")).alias("container"),
            )
            parts = []
            for _, sub in df.group_by("tname"):
                parts.append(sub.select("rec").with_columns(_payloads(sub).alias("payload")))
            pay = pl.concat(parts).sort("rec")
            df = df.join(pay, on="rec", how="left", maintain_order="left")
            lines = (
                df.with_columns(pl.col("payload").str.split("\n"))
                .explode("payload")
                .with_columns(pl.int_range(pl.len()).over("rec").cast(pl.Int64).alias("k"))
                .with_columns((pl.col("ts") + pl.col("k") * 1000).alias("lts"))  # trace lines 1 us apart
                .with_columns(
                    pl.col("payload").alias("line") if raw else pl.concat_str(
                        [
                            pl.lit("[pod/"),
                            pl.col("pod"),
                            pl.lit("/"),
                            pl.col("container"),
                            pl.lit("] "),
                            rfc3339nano(pl.col("lts")),
                            pl.lit(" "),
                            pl.col("payload"),
                        ]
                    ).alias("line")
                )
                .with_columns((pl.col("line").str.len_bytes() + 1).cum_sum().alias("end"))
            )
            remaining = size - written
            if lines.get_column("end")[-1] > remaining:
                rec_end = lines.group_by("rec").agg(pl.col("end").max().alias("rec_end"))
                keep = rec_end.filter(pl.col("rec_end") <= remaining).get_column("rec")
                lines = lines.filter(pl.col("rec").is_in(keep.implode()))
                df = df.filter(pl.col("rec").is_in(keep.implode()))
                if lines.height == 0:
                    break
            text = lines.select(pl.col("line").str.join("\n")).item() + "\n"
            data = text.encode()
            fh.write(data)
            written += len(data)
            n_lines += lines.height
            for name, cnt in df.group_by("tname").len().iter_rows():
                counts[name] += cnt
            rq = df.filter(pl.col("tname").str.starts_with("req_"))
            req_lines += rq.height
            for name, st, cnt in rq.group_by("tname", _status().alias("st")).len().iter_rows():
                d = req_status.setdefault(name, {})
                d[st] = d.get(st, 0) + cnt
            last_ts = int(df.get_column("ts").max())
            rec_base += n
            if df.height < n:
                break
            if not quiet:
                el = time.monotonic() - t_start
                sys.stderr.write(
                    f"\r{written / 1e6:,.0f}/{size / 1e6:,.0f} MB {written / 1e6 / max(el, 1e-6):,.0f} MB/s"
                )
    os.replace(tmp, out)
    truth = {
        "file": os.path.basename(out),
        "bytes": written,
        "lines": n_lines,
        "records": sum(counts.values()),
        "seed": seed,
        "size_requested": size,
        "records_by_type": counts,
        "requests": req_lines,  # request lines (one line per request record)
        "request_share_of_lines": round(req_lines / max(n_lines, 1), 4),
        "requests_by_status": {k: {str(s): c for s, c in sorted(v.items())} for k, v in sorted(req_status.items())},
        "envelope": None if raw else "kubectl_prefix",
        "raw": raw,
        "requests_arg": requests,
        "events": {k: counts[k] for k in INTERESTING},
        "expected_pmortem": {
            k: {"kind": EXPECTED_KIND[k][0], "error_class": EXPECTED_KIND[k][1], "count": counts[k]}
            for k in INTERESTING
        },
        "seconds": round(time.monotonic() - t_start, 2),
    }
    with open(out + ".truth.json", "w") as fh:
        json.dump(truth, fh, indent=2)
    if not quiet:
        sys.stderr.write(f"\rwrote {written:,} bytes, {n_lines:,} lines in {truth['seconds']}s -> {out}\n")
    return truth


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--size",
        default="1GB",
        help="target size (1GB = 10^9 bytes; GiB = 2^30); output stops at the last whole record under it",
    )
    ap.add_argument("--out", default="bench/out/corpus.log")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--requests", type=float, help="share of records that are request lines (0..1); default: the 0.2 %% corpus")
    ap.add_argument("--raw", choices=sorted(RAW_TYPES), help="a raw file with no kubectl envelope: nginx access lines or pino JSON")
    a = ap.parse_args(argv)
    t = generate(parse_size(a.size), a.out, a.seed, a.quiet, a.requests, a.raw)
    print(json.dumps(t["events"]))


if __name__ == "__main__":
    main()
