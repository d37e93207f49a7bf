"""The canonical event: one Arrow schema every parser produces and `events` stores.

Parsers are pure functions that return polars frames with (a subset of) these
columns; `conform()` adds the missing ones as nulls in this order, so every
batch handed to DuckDB has exactly this shape.
"""

from __future__ import annotations

import polars as pl

UTC_US = pl.Datetime("us", "UTC")

# name -> polars dtype. Typed columns (cpu_count .. peer) hold the catalogue's
# common fields so detectors stay plain SQL; anything else goes to `attrs` (JSON text).
EVENT_COLUMNS: dict[str, pl.DataType] = {
    "ts": UTC_US,  # event time in UTC, microseconds
    "ts_text": pl.String,  # the timestamp exactly as written in the log
    "line_no": pl.Int64,  # 1-based line number in the decompressed source
    "byte_offset": pl.Int64,  # offset of that line in the decompressed source
    "line_count": pl.Int32,  # lines this event spans (stack traces, CRI partials, documents)
    "service": pl.String,
    "namespace": pl.String,
    "pod": pl.String,
    "container": pl.String,
    "host": pl.String,  # node / host name
    "pid": pl.Int64,  # the process the event is about (the worker, for worker_* kinds)
    "stream": pl.String,  # stdout | stderr where the envelope says
    "level": pl.String,  # trace | debug | info | warn | error | fatal
    "kind": pl.String,  # catalogue kind: cpu_count, worker_start, worker_exit, error, ...
    "message": pl.String,  # the payload's message (whole multi-line event for folded ones)
    "attrs": pl.String,  # JSON object with the kind's other fields
    "trace_id": pl.String,
    "span_id": pl.String,
    "cpu_count": pl.Int32,  # cpu_count events: CPUs the process saw
    "exit_code": pl.Int32,  # worker_exit / container_terminated
    "signal": pl.String,  # worker_exit: SIGKILL, SIGTERM, ...
    "error_class": pl.String,  # error events: response_closed, context_cancelled, ...
    "status": pl.Int32,  # http status, or span status code (0 unset, 1 ok, 2 error)
    "duration_ms": pl.Float64,  # request / span duration
    "route": pl.String,  # http route or span name
    "peer": pl.String,  # the other side: dependency, client address or remote service
    "entity_source": pl.String,  # JSON {field: envelope|payload|path|flag|config}
}


def empty_events() -> pl.DataFrame:
    return pl.DataFrame(schema=EVENT_COLUMNS)


def conform(df: pl.DataFrame) -> pl.DataFrame:
    """Cast to the canonical schema, adding missing columns as nulls, dropping extras."""
    exprs = []
    for name, dtype in EVENT_COLUMNS.items():
        if name in df.columns:
            exprs.append(pl.col(name).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(exprs)
