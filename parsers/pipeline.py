"""Bytes -> lines -> envelope -> payload -> events, one chunk at a time.

`parse_chunk` is pure: it takes a chunk of whole lines and the source's context
and returns frames (events, per-minute line index, rejects) plus counts that
reconcile: lines = parsed + rejected, parsed = events + generic + folded.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import polars as pl

from .catalogue import BUILDER_LITERALS, Catalogue, classify_frame
from .envelopes import ENV_COLUMNS, split_envelope
from .payloads import CONTINUATION_RE, JSON_TIME_RE, level_expr, parse_json_time, parse_rfc3339
from .readers import MAX_LINE_BYTES, Chunk
from .schema import EVENT_COLUMNS, UTC_US, conform

ENTITY_FIELDS = ("service", "namespace", "pod", "container", "host")
SYSLOG_HEAD_RE = (
    r"^(?:<\d{1,3}>)?(?:1 )?(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) "
    r"([\w.-]+) ([^\s\[:]+)(?:\[(\d+)\])?: "
)
NGINX_ERROR_PID_RE = r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[\w+\] (\d+)#\d+: "
YEARLESS_FORMATS = ("syslog", "android", "proxifier")
REQUIRES_TS = {"cri", "kubectl", "kubectl_prefix", "docker", "loki", "es_ndjson", "otel_span_ndjson"}
PY_ENVELOPES = {"es_ndjson", "otel_span_ndjson"}


@dataclass
class SourceContext:
    source_id: int
    envelope: str
    catalogue: Catalogue
    tz: str = "UTC"
    # field -> (value, origin) from the path, CLI flags or config, in that order of trust
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)
    store_lines: bool = False
    default_year: int | None = None
    # when the file was last written: year-less timestamps (syslog, Android) take its year,
    # and one that would lie after it belongs to the year before (a log spanning New Year)
    reference_time: datetime | None = None


@dataclass
class ChunkResult:
    events: pl.DataFrame
    index: pl.DataFrame
    rejects: pl.DataFrame
    lines: pl.DataFrame | None
    n_lines: int = 0
    n_rejected: int = 0
    n_folded: int = 0
    n_generic: int = 0
    n_events: int = 0
    # when set, bytes from this decompressed offset (line number tail_line) were not
    # consumed: the last event may continue in the next chunk
    tail_offset: int | None = None
    tail_line: int | None = None
    first_ts: datetime | None = None
    last_ts: datetime | None = None


REJECT_SCHEMA = {"line_no": pl.Int64, "byte_offset": pl.Int64, "reason": pl.String, "sample": pl.String}
INDEX_SCHEMA = {
    "minute": pl.Datetime("us", "UTC"),
    "service": pl.String,
    "pod": pl.String,
    "container": pl.String,
    "level": pl.String,
    "lines": pl.Int64,
    "first_line": pl.Int64,
    "last_line": pl.Int64,
    "first_offset": pl.Int64,
    "end_offset": pl.Int64,
}


# ---------------------------------------------------------------- lines
def split_lines(chunk: Chunk) -> pl.DataFrame:
    """line, line_no, byte_offset, line_len (bytes, without newline), reject."""
    df = _split_lines(chunk)
    if chunk.offset == 0 and chunk.data.startswith(b"\xef\xbb\xbf") and df.height:
        # a UTF-8 byte-order mark belongs to the file, not to its first line's text
        df = df.with_columns(
            pl.when(pl.int_range(pl.len()) == 0).then(pl.col("line").str.strip_prefix("\ufeff")).otherwise(pl.col("line")).alias("line")
        )
    return df


def _split_lines(chunk: Chunk) -> pl.DataFrame:
    data = chunk.data
    if not data:
        return pl.DataFrame(schema={"line": pl.String, "line_no": pl.Int64, "byte_offset": pl.Int64, "line_len": pl.Int64, "reject": pl.String})
    if b"\x00" not in data and b"\r" not in data:
        try:
            df = pl.read_csv(
                io.BytesIO(data),
                has_header=False,
                separator="\x00",
                quote_char=None,
                new_columns=["line"],
                infer_schema=False,
                encoding="utf8",
            )
            if df.width == 1:
                n = df.height
                df = df.with_columns(pl.col("line").fill_null(""))
                # the CSV reader drops a leading UTF-8 BOM; its 3 bytes still belong to line 1
                bom = 3 if chunk.offset == 0 and data.startswith(b"\xef\xbb\xbf") else 0
                df = df.with_columns(
                    line_len=pl.col("line").str.len_bytes().cast(pl.Int64) + pl.when(pl.int_range(pl.len()) == 0).then(bom).otherwise(0)
                )
                df = df.with_columns(
                    line_no=pl.int_range(chunk.first_line, chunk.first_line + n, dtype=pl.Int64),
                    byte_offset=(pl.col("line_len") + 1).cum_sum().shift(1, fill_value=0) + chunk.offset,
                    reject=pl.when(pl.col("line_len") > MAX_LINE_BYTES)
                    .then(pl.lit(f"line too long (over {MAX_LINE_BYTES} bytes)"))
                    .otherwise(None),
                )
                return df.with_columns(pl.when(pl.col("reject").is_null()).then(pl.col("line")).otherwise(pl.col("line").str.slice(0, 200)))
        except Exception:  # noqa: BLE001 - any CSV reader complaint sends us to the exact slow path
            pass
    return _split_lines_slow(chunk)


def long_line_sample(body: bytes) -> str:
    """The first 200 characters of an over-long line (as the fast CSV path keeps them)."""
    return body[:800].decode("utf-8", "replace")[:200]


def _split_lines_slow(chunk: Chunk) -> pl.DataFrame:
    parts = chunk.data.split(b"\n")
    if chunk.data.endswith(b"\n"):
        parts.pop()
    lines, lens, rejects = [], [], []
    for raw in parts:
        lens.append(len(raw))
        body = raw[:-1] if raw.endswith(b"\r") else raw
        if len(raw) > MAX_LINE_BYTES:
            lines.append(long_line_sample(body))
            rejects.append(f"line too long (over {MAX_LINE_BYTES} bytes)")
        elif b"\x00" in body:
            lines.append(body[:200].decode("utf-8", "replace").replace("\x00", "\\0"))
            rejects.append("binary data (NUL bytes)")
        else:
            try:
                lines.append(body.decode("utf-8"))
                rejects.append(None)
            except UnicodeDecodeError:
                lines.append(body[:200].decode("utf-8", "replace"))
                rejects.append("undecodable bytes (not UTF-8)")
    n = len(lines)
    df = pl.DataFrame(
        {"line": lines, "line_len": lens, "reject": rejects},
        schema={"line": pl.String, "line_len": pl.Int64, "reject": pl.String},
    )
    return df.with_columns(
        line_no=pl.int_range(chunk.first_line, chunk.first_line + n, dtype=pl.Int64),
        byte_offset=(pl.col("line_len") + 1).cum_sum().shift(1, fill_value=0) + chunk.offset,
    )


# ---------------------------------------------------------------- python-decoded envelopes
def _split_python_envelope(df: pl.DataFrame, envelope: str) -> pl.DataFrame:
    """Elasticsearch/OpenSearch `_source` NDJSON: decode each record (these exports are small)."""
    from .documents import es_entities, es_timestamp

    cols: dict[str, list] = {k: [] for k in ENV_COLUMNS}
    for line in df.get_column("line").to_list():
        try:
            doc = orjson.loads(line) if line.strip() else None
        except orjson.JSONDecodeError:
            doc = None
        if isinstance(doc, dict) and "_source" in doc and isinstance(doc["_source"], dict):
            doc = doc["_source"]
        if not isinstance(doc, dict):
            for k in ENV_COLUMNS:
                cols[k].append(None)
            cols["payload"][-1] = line
            cols["env_ok"][-1] = False
            cols["env_json"][-1] = True
            cols["partial"][-1] = False
            continue
        ent = es_entities(doc)
        msg = doc.get("message")
        if msg is None and isinstance(doc.get("log"), dict):
            msg = doc["log"].get("original")
        if msg is None:
            msg = doc.get("log") if isinstance(doc.get("log"), str) else ""
        cols["payload"].append(str(msg).rstrip("\n"))
        ts = es_timestamp(doc)
        cols["env_ts_text"].append(str(ts) if ts is not None else None)
        cols["stream"].append(doc.get("stream"))
        cols["partial"].append(False)
        cols["env_pod"].append(ent.get("pod"))
        cols["env_container"].append(ent.get("container"))
        cols["env_namespace"].append(ent.get("namespace"))
        cols["env_host"].append(ent.get("host"))
        cols["env_service"].append(ent.get("service"))
        cols["env_ok"].append(True)
        cols["env_json"].append(True)
    env = pl.DataFrame(cols, schema=ENV_COLUMNS)
    return pl.concat([df, env], how="horizontal")


def _span_events(df: pl.DataFrame) -> tuple[pl.DataFrame, list[tuple[int, int, str]]]:
    """One span per line (flat OTel JSON). Returns canonical events and rejects."""
    from .documents import span_from_record

    rows, rejects = [], []
    for line, no, off in df.select("line", "line_no", "byte_offset").iter_rows():
        try:
            rec = orjson.loads(line)
            if not isinstance(rec, dict):
                raise ValueError("not an object")
            ev = span_from_record(rec)
        except (orjson.JSONDecodeError, ValueError, TypeError, KeyError) as exc:
            reason = "bad JSON" if isinstance(exc, orjson.JSONDecodeError) else f"not a span record ({exc})"
            rejects.append((no, off, reason))
            continue
        if ev.get("ts") is None:
            rejects.append((no, off, "no timestamp (startTimeUnixNano missing)"))
            continue
        ev["line_no"], ev["byte_offset"], ev["line_count"] = no, off, 1
        if isinstance(ev.get("attrs"), dict):
            ev["attrs"] = orjson.dumps(ev["attrs"], default=str).decode()
        rows.append(ev)
    if rows:
        events = conform(pl.DataFrame(rows, infer_schema_length=None, strict=False))
    else:
        events = pl.DataFrame(schema=EVENT_COLUMNS)
    return events, rejects


# ---------------------------------------------------------------- the chunk

def annotate(good: pl.DataFrame, ctx: SourceContext) -> pl.DataFrame:
    """Per line: the envelope's columns, is_json, level, minute, ts / ts_text, cont_text.

    The polars reference for what the native scanner (`_scan.c`) computes; the native
    path also sends the lines it cannot decide through here.
    """
    if ctx.envelope in PY_ENVELOPES:
        df = _split_python_envelope(good, ctx.envelope)
    else:
        df = split_envelope(good, ctx.envelope)

    payload = pl.col("payload")
    is_json = payload.str.starts_with("{")
    # timestamps: the envelope's when there is one, else the payload's own. Envelope times are
    # bucketed per minute from their text (one parse per distinct minute, not per line); the
    # full timestamp is parsed only for the events that are kept.
    df = df.with_columns(
        is_json.alias("is_json"),
        level_expr(payload, is_json).alias("level"),
        _minute_key(pl.col("env_ts_text")).alias("_mkey"),
        pl.col("env_ts_text").alias("ts_text"),
        pl.lit(None, UTC_US).alias("ts"),
        pl.lit(None, pl.String).alias("ts_text_payload"),
    )
    df = df.with_columns(_minutes_from_keys(df.get_column("_mkey")).alias("minute")).drop("_mkey")
    need = df.get_column("env_ts_text").is_null()
    if need.any():
        df = _payload_timestamps(df, need, ctx)
        df = df.with_columns(pl.coalesce("minute", pl.col("ts").dt.truncate("1m")).alias("minute"))
    payload = pl.col("payload")
    cont = ~pl.col("is_json") & pl.col("ts_text_payload").is_null() & payload.str.contains(CONTINUATION_RE)
    return df.with_columns(cont.alias("cont_text"))


def parse_chunk(chunk: Chunk, ctx: SourceContext, *, final: bool) -> ChunkResult:
    from . import native

    if native.eligible(ctx):
        return native.parse_chunk_native(chunk, ctx, final=final)
    return parse_chunk_reference(chunk, ctx, final=final)


# A continuation line (stack frame, CRI piece) joins its partition's open event only when
# that partition's previous line is at most this many lines before it: the cut between
# chunks keeps every event a later line could still join, and this bounds how far back.
FOLD_WINDOW = 1000


def parse_chunk_reference(chunk: Chunk, ctx: SourceContext, *, final: bool) -> ChunkResult:
    """The polars path: every envelope, and the reference the native scanner is tested against."""
    if not isinstance(chunk.data, bytes):
        chunk = Chunk(bytes(chunk.data), chunk.first_line, chunk.offset)
    lines = split_lines(chunk)
    n_total = lines.height
    if ctx.envelope == "otel_span_ndjson":
        return _parse_span_chunk(lines, ctx)

    good = lines.filter(pl.col("reject").is_null())
    df = annotate(good, ctx)
    payload = pl.col("payload")

    # continuation: stack traces and friends, and pieces of runtime-split lines
    part = ["env_pod", "env_container", "stream"]
    cont_text = pl.col("cont_text")
    prev_partial = pl.col("partial").shift(1).over(part).fill_null(False)
    df = df.with_columns(prev_partial.alias("cont_partial"))
    df = df.with_columns((cont_text | pl.col("cont_partial")).alias("cont"))
    # a line that fits no envelope in a format that needs one, and has no timestamp of its own
    reason = (
        pl.when(pl.col("env_json") & ~pl.col("env_ok"))
        .then(pl.lit("bad JSON or not a " + ctx.envelope + " record"))
        .when(pl.lit(ctx.envelope in REQUIRES_TS) & ~pl.col("env_ok") & pl.col("minute").is_null() & ~pl.col("cont"))
        .then(pl.lit("no timestamp (not a " + ctx.envelope + " line)"))
        .when(pl.col("env_ok") & pl.col("env_ts_text").is_not_null() & pl.col("minute").is_null())
        .then(pl.lit("bad timestamp"))
        .when(pl.lit(ctx.envelope == "plain") & pl.col("is_json") & ~payload.str.strip_chars_end().str.ends_with("}"))
        .then(pl.lit("bad JSON (truncated or malformed object)"))
    )
    df = df.with_columns(reason.alias("reject"))
    late_rej = df.filter(pl.col("reject").is_not_null())
    df = df.filter(pl.col("reject").is_null())

    # events: a start row and the continuation rows that follow it in its partition, up to
    # FOLD_WINDOW lines after that partition's previous line (further on, a line that looks
    # like a continuation starts an event of its own)
    df = df.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    prev_line = pl.col("line_no").shift(1).over(part)
    start = ~pl.col("cont") | (pl.col("line_no") - prev_line > FOLD_WINDOW).fill_null(False)
    df = df.with_columns(
        pl.when(start).then(pl.col("_row")).otherwise(None).forward_fill().over(part).fill_null(pl.col("_row")).alias("evt"),
    )
    # defer the last event: it may continue in the next chunk
    tail_offset = tail_line = None
    if not final and df.height:
        # The cut: the last event start with no line after it belonging to an earlier event
        # (streams and pods interleave: a stack frame or CRI piece after the cut would lose its
        # event), not after a stream whose last piece is a runtime-split (partial) line, and
        # not after the open event of a partition that a later line could still continue
        # (its last line within FOLD_WINDOW lines of the chunk's end).
        # When that leaves nothing to store (one partition's open event fills the chunk: only
        # with chunks far smaller than the default), the open partitions are not waited for.
        last = df.group_by(part).agg(pl.col("partial").last(), pl.col("evt").last(), pl.col("line_no").last())
        open_partial = last.filter("partial").get_column("evt").min()
        open_active = last.filter(chunk.first_line + n_total - pl.col("line_no") <= FOLD_WINDOW).get_column("evt").min()
        suffix_min = pl.col("evt").reverse().cum_min().reverse()
        ok = (pl.col("evt") == pl.col("_row")) & (suffix_min >= pl.col("_row"))
        if open_partial is not None:
            ok = ok & (pl.col("_row") <= open_partial)
        last_start = None
        if open_active is not None:
            last_start = df.filter(ok & (pl.col("_row") <= open_active)).select(pl.col("_row").max()).item()
        if not last_start:
            last_start = df.filter(ok).select(pl.col("_row").max()).item()
        if last_start is not None and last_start > 0:
            row = df.row(last_start, named=True)
            tail_offset, tail_line = row["byte_offset"], row["line_no"]
            df = df.filter(pl.col("line_no") < tail_line)
            late_rej = late_rej.filter(pl.col("line_no") < tail_line)
            lines = lines.filter(pl.col("line_no") < tail_line)
            n_total = lines.height
    early_rej = lines.filter(pl.col("reject").is_not_null())

    df = df.with_columns(
        pl.col("level").first().over("evt").alias("ev_level"),
        pl.coalesce("minute", pl.col("minute").first().over("evt")).alias("row_minute"),
    )

    # entities: envelope first, then the path / flags / config labels (payload ones come with events)
    for f in ENTITY_FIELDS:
        lab = ctx.labels.get(f)
        col = f"env_{f}"
        df = df.with_columns(pl.coalesce(pl.col(col), pl.lit(lab[0] if lab else None, pl.String)).alias(f"_{f}"))
    # the pod-name rule runs once per distinct pod, not once per line
    pods = df.get_column("_pod").drop_nulls().unique()
    if len(pods):
        mapping = pl.DataFrame({"p": pods}).with_columns(_service_from_pod(pl.col("p")).alias("s"))
        svc = pl.col("_pod").replace_strict(mapping.get_column("p"), mapping.get_column("s"), default=None, return_dtype=pl.String)
        df = df.with_columns(pl.coalesce("_service", svc).alias("_service"))

    index = _line_index(df)
    events, n_events = _build_events(df, ctx)
    n_rows = df.height
    n_starts = df.filter(pl.col("evt") == pl.col("_row")).height
    rej = pl.concat(
        [
            early_rej.select("line_no", "byte_offset", pl.col("reject").alias("reason"), pl.col("line").str.slice(0, 200).alias("sample")),
            late_rej.select("line_no", "byte_offset", pl.col("reject").alias("reason"), pl.col("line").str.slice(0, 200).alias("sample")),
        ]
    ).sort("line_no")
    stored = None
    if ctx.store_lines:
        stored = df.select(
            "line_no", "byte_offset", pl.coalesce("ts", _parse_env_ts(pl.col("env_ts_text"))).alias("ts"), pl.col("_service").alias("service"),
            pl.col("_pod").alias("pod"), pl.col("_container").alias("container"), pl.col("ev_level").alias("level"), "line",
        )
    first_ts, last_ts = _span_of(df)
    res = ChunkResult(
        events=events,
        index=index,
        rejects=rej,
        lines=stored,
        n_lines=n_total,
        n_rejected=rej.height,
        n_folded=n_rows - n_starts,
        n_generic=n_starts - n_events,
        n_events=n_events,
        tail_offset=tail_offset,
        tail_line=tail_line,
        first_ts=first_ts,
        last_ts=last_ts,
    )
    assert res.n_lines == res.n_rejected + res.n_folded + res.n_generic + res.n_events, (
        "line accounting broke",
        res.n_lines, res.n_rejected, res.n_folded, res.n_generic, res.n_events,
    )
    return res


def _minute_key(t: pl.Expr) -> pl.Expr:
    """'2022-04-08T20:59' + zone for RFC 3339 text; the text itself for epoch nanoseconds."""
    epoch = t.str.slice(4, 1) != "-"
    zone = pl.when(t.str.ends_with("Z")).then(pl.lit("Z")).otherwise(t.str.slice(-6))
    return pl.when(epoch).then(t.str.slice(0, 10)).otherwise(t.str.slice(0, 16) + zone)


def _minutes_from_keys(keys: pl.Series) -> pl.Series:
    uniq = keys.drop_nulls().unique().to_list()
    parsed = []
    for k in uniq:
        try:
            if k[:10].isdigit() and len(k) == 10:
                parsed.append(datetime.fromtimestamp(int(k) // 60 * 60, UTC))  # epoch seconds prefix of ns text
                continue
            zone = k[16:]
            if zone != "Z" and ":" not in zone:
                zone = zone[-5:-2] + ":" + zone[-2:]
            d = datetime.fromisoformat(k[:16] + ":00" + zone).astimezone(UTC)
            parsed.append(d.replace(second=0, microsecond=0))
        except ValueError:
            parsed.append(None)
    if not uniq:
        return pl.Series("minute", [None] * len(keys), UTC_US)
    m = pl.DataFrame({"k": uniq, "v": parsed}, schema={"k": pl.String, "v": UTC_US})
    return keys.replace_strict(m.get_column("k"), m.get_column("v"), default=None, return_dtype=UTC_US)


def _parse_env_ts(t: pl.Expr) -> pl.Expr:
    """RFC 3339 text, or epoch digits (Loki nanoseconds, Elasticsearch milliseconds, seconds)."""
    epoch = t.str.slice(4, 1) != "-"
    digits = t.str.len_chars()
    n = t.cast(pl.Float64, strict=False)
    us = pl.when(digits >= 18).then(n / 1000).when(digits >= 15).then(n).when(digits >= 12).then(n * 1000).otherwise(n * 1e6)
    return pl.when(epoch).then(
        pl.from_epoch(us.round(0).cast(pl.Int64, strict=False), time_unit="us").dt.replace_time_zone("UTC")
    ).otherwise(parse_rfc3339(t))


def _span_of(df: pl.DataFrame) -> tuple[datetime | None, datetime | None]:
    """First and last timestamp: parse only the lines of the first and the last minute."""
    if df.height == 0:
        return None, None
    mins = df.get_column("row_minute")
    lo, hi = mins.min(), mins.max()
    if lo is None:
        return None, None
    edge = df.filter(pl.col("row_minute").is_in([lo, hi])).select(
        pl.coalesce("ts", _parse_env_ts(pl.col("env_ts_text")), "row_minute").alias("t")
    ).get_column("t")
    return edge.min(), edge.max()


# Kubernetes generates name suffixes from an alphabet without vowels (k8s.io/apimachinery
# rand.String), which tells a pod (`checkout-7d9f8b6c4-qx2lp`) from a word (`pino-epoch`).
K8S_SUFFIX = "[bcdfghjklmnpqrstvwxz2456789]"


def _service_from_pod(pod: pl.Expr) -> pl.Expr:
    """Deployment pods are <deployment>-<replicaset hash>-<5 chars>; StatefulSets <name>-<n>."""
    sfx = K8S_SUFFIX
    return pl.coalesce(
        pod.str.extract(rf"^(.+?)-{sfx}{{6,10}}-{sfx}{{5}}$", 1),
        pod.str.extract(rf"^(.+?)-{sfx}{{5}}$", 1),
        pod.str.extract(r"^(.+?)-\d+$", 1),
    )


def _payload_timestamps(df: pl.DataFrame, need: pl.Series, ctx: SourceContext) -> pl.DataFrame:
    from .timestamps import extract_timestamps

    payload = df.get_column("payload")
    json_time = parse_json_time(pl.col("p").str.extract(JSON_TIME_RE, 1))
    jt = pl.DataFrame({"p": payload}).select(
        pl.when(pl.col("p").str.starts_with("{")).then(json_time).alias("jts"),
        pl.when(pl.col("p").str.starts_with("{")).then(pl.col("p").str.extract(JSON_TIME_RE, 1)).alias("jtext"),
    )
    ref = ctx.reference_time
    year = ctx.default_year or (ref.year if ref else None)
    tx = extract_timestamps(payload, tz=ctx.tz, default_year=year)
    if ref is not None and ctx.default_year is None:
        late = pl.col("fmt").is_in(list(YEARLESS_FORMATS)) & (pl.col("ts") > pl.lit(ref + timedelta(days=1)))
        tx = tx.with_columns(pl.when(late).then(pl.col("ts").dt.offset_by("-1y")).otherwise(pl.col("ts")).alias("ts"))
    ts = pl.coalesce(jt.get_column("jts"), tx.get_column("ts"))
    text = pl.coalesce(jt.get_column("jtext"), tx.get_column("ts_text"))
    return df.with_columns(
        pl.when(pl.Series(need)).then(ts).otherwise(pl.col("ts")).alias("ts"),
        pl.when(pl.Series(need)).then(text).otherwise(pl.col("ts_text")).alias("ts_text"),
        pl.when(pl.Series(need)).then(text).otherwise(None).alias("ts_text_payload"),
    )


def _line_index(df: pl.DataFrame) -> pl.DataFrame:
    if df.height == 0:
        return pl.DataFrame(schema=INDEX_SCHEMA)
    return (
        df.group_by(
            pl.col("row_minute").alias("minute"),
            pl.col("_service").alias("service"),
            pl.col("_pod").alias("pod"),
            pl.col("_container").alias("container"),
            pl.col("ev_level").alias("level"),
        )
        .agg(
            pl.len().cast(pl.Int64).alias("lines"),
            pl.col("line_no").min().alias("first_line"),
            pl.col("line_no").max().alias("last_line"),
            pl.col("byte_offset").min().alias("first_offset"),
            (pl.col("byte_offset") + pl.col("line_len") + 1).max().alias("end_offset"),
        )
        .select(list(INDEX_SCHEMA))
    )


def json_fields(text: str) -> dict:
    """Pull the logger fields out of a pino / bunyan / winston / ECS JSON payload."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {"_bad_json": True}
    if type(obj) is not dict:  # orjson makes plain dicts, lists, str, int, float, bool, None
        return {"_bad_json": True}
    get = obj.get
    out: dict = {}
    msg = get("msg", get("message", get("log")))
    parts = [str(msg)] if msg is not None else []
    err = get("err") or get("error")
    if type(err) is dict:
        for k in ("type", "message", "stack"):
            if err.get(k):
                parts.append(str(err[k]))
    elif type(err) is str:
        parts.append(err)
    out["message"] = "\n".join(parts) if parts else text
    v = get("hostname")
    if type(v) is str:
        out["payload_pod"] = v
    if isinstance(get("pid"), int):  # (a bool is an int here too, as before)
        out["payload_pid"] = obj["pid"]
    if not _SERVICE_KEYS.isdisjoint(obj):
        for k in ("name", "service", "service.name"):
            if type(get(k)) is str:
                out["payload_service"] = obj[k]
                break
    res, req = get("res"), get("req")
    if type(res) is dict and isinstance(res.get("statusCode"), int):
        out["status"] = res["statusCode"]
    elif isinstance(get("statusCode"), int):
        out["status"] = obj["statusCode"]
    rt = get("responseTime", get("duration_ms", get("elapsed_ms")))
    if isinstance(rt, int | float):
        out["duration_ms"] = float(rt)
    if type(req) is dict:
        if type(req.get("url")) is str:
            out["route"] = req["url"].split("?")[0]
        if type(req.get("method")) is str:
            out["method"] = req["method"]
        if type(req.get("remoteAddress")) is str:
            out["peer"] = req["remoteAddress"]
    if not _TRACE_KEYS.isdisjoint(obj):
        for k in ("trace_id", "traceId", "traceID", "trace.id"):
            if type(get(k)) is str:
                out["trace_id"] = obj[k]
                break
    if not _SPAN_KEYS.isdisjoint(obj):
        for k in ("span_id", "spanId", "spanID", "span.id"):
            if type(get(k)) is str:
                out["span_id"] = obj[k]
                break
    out["extra"] = {k: v for k, v in obj.items() if k not in _JSON_KNOWN and type(v) is not dict and type(v) is not list}
    return out


_SERVICE_KEYS = frozenset({"name", "service", "service.name"})
_TRACE_KEYS = frozenset({"trace_id", "traceId", "traceID", "trace.id"})
_SPAN_KEYS = frozenset({"span_id", "spanId", "spanID", "span.id"})
# logger fields json_fields reads itself (the rest go to attrs)
_JSON_KNOWN = frozenset({"msg", "message", "level", "time", "timestamp", "hostname", "pid", "v", "err", "error", "req", "res"})


# json_fields' keys -> the event builder's columns
_JSON_OUT: dict[str, tuple[str, pl.DataType]] = {
    "payload_pod": ("payload_pod", pl.String),
    "payload_service": ("payload_service", pl.String),
    "payload_pid": ("payload_pid", pl.Int64),
    "status": ("j_status", pl.Int32),
    "duration_ms": ("j_duration_ms", pl.Float64),
    "route": ("j_route", pl.String),
    "peer": ("j_peer", pl.String),
    "trace_id": ("j_trace_id", pl.String),
    "span_id": ("j_span_id", pl.String),
}


def group_events(sel: pl.DataFrame) -> pl.DataFrame:
    """The kept rows as one row per event: its first row's fields, `line_count` and `raw`,
    the rows' payloads joined (a "\n" before each row but the first and CRI partial
    continuations). The native path does the same in C (`_scan.join_events`)."""
    payload = pl.col("payload")
    piece = (
        pl.when(pl.col("evt") == pl.col("_row"))
        .then(payload)
        .when(pl.col("cont_partial"))
        .then(payload)
        .otherwise(pl.lit("\n") + payload)
    )
    return (
        sel.with_columns(piece.alias("_piece"))
        .group_by("evt", maintain_order=True)
        .agg(
            pl.col("line_no").first(),
            pl.col("byte_offset").first(),
            pl.len().cast(pl.Int32).alias("line_count"),
            pl.col("ts").first(),
            pl.col("ts_text").first(),
            pl.col("stream").first(),
            pl.col("ev_level").first().alias("level"),
            pl.col("is_json").first(),
            pl.col("_piece").str.join("").alias("raw"),
            *[pl.col(f"_{f}").first().alias(f"_{f}") for f in ENTITY_FIELDS],
            *[pl.col(f"env_{f}").first().alias(f"env_{f}") for f in ENTITY_FIELDS],
        )
    )


def _build_events(df: pl.DataFrame, ctx: SourceContext, *, selected: bool = False, grouped: bool = False) -> tuple[pl.DataFrame, int]:
    """Events from the rows of a chunk: those holding a prefilter literal, or error/fatal ones.

    `selected`: the caller (the native scanner) already kept exactly those events' rows;
    `grouped`: and made them one row per event (`group_events`).
    """
    lits = ctx.catalogue.literals
    payload = pl.col("payload")
    if selected:
        sel = df
    else:
        if lits is None:
            hit = pl.lit(True)
        else:
            hit = payload.str.contains_any(lits + BUILDER_LITERALS, ascii_case_insensitive=True)
        hit_evts = df.filter(hit).get_column("evt").unique()
        sel = df.filter(pl.col("evt").is_in(hit_evts.implode()) | pl.col("ev_level").is_in(["error", "fatal"]))
    if sel.height == 0:
        return pl.DataFrame(schema=EVENT_COLUMNS), 0
    ev = sel if grouped else group_events(sel)
    if ev.get_column("ts").null_count():
        ev = ev.with_columns(pl.coalesce("ts", _parse_env_ts(pl.col("ts_text"))).alias("ts"))
    # JSON payloads: decode the selected ones (one pass); only they become Python strings,
    # and their fields are spread back to the frame's rows (text rows keep their raw text)
    n = ev.height
    jidx = ev.get_column("is_json").arg_true()
    jraws = ev.get_column("raw").gather(jidx).to_list()
    m = len(jraws)
    jmsg: list[str | None] = [None] * m
    jcols: dict[str, list] = {k: [None] * m for k in _JSON_OUT}
    attrs: list[str | None] = [None] * m
    for j, raw in enumerate(jraws):
        jr = json_fields(raw)
        if not jr:
            continue
        jmsg[j] = jr.get("message", raw)
        for k in _JSON_OUT:
            v = jr.get(k)
            if v is not None:
                jcols[k][j] = v
        extra = jr.get("extra", {})
        if "method" in jr:
            extra = {**extra, "method": jr["method"]}
        attrs[j] = orjson.dumps(extra, default=str).decode()

    def spread(name: str, vals: list, dt: pl.DataType) -> pl.Series:
        return pl.repeat(None, n, dtype=dt, eager=True).alias(name).scatter(jidx, pl.Series(vals, dtype=dt))

    ev = ev.with_columns(
        pl.coalesce(spread("_jmsg", jmsg, pl.String), pl.col("raw")).alias("message"),
        *[spread(name, jcols[k], dt) for k, (name, dt) in _JSON_OUT.items()],
        spread("j_attrs", attrs, pl.String),
    ).with_row_index("_i")
    # process headers some text formats carry: syslog (host, program, pid), nginx error log (pid)
    head = pl.col("raw").str.slice(0, 200)
    sg = head.str.extract_groups(SYSLOG_HEAD_RE)
    ev = ev.with_columns(
        sg.struct.field("1").alias("hdr_host"),
        sg.struct.field("2").alias("hdr_service"),
        pl.coalesce(sg.struct.field("3"), head.str.extract(NGINX_ERROR_PID_RE, 1)).cast(pl.Int64, strict=False).alias("hdr_pid"),
    )
    ev = classify_frame(ev, ctx.catalogue, "message")
    for f in ("cpu_count", "pid", "exit_code", "signal", "status", "duration_ms", "route", "peer", "trace_id", "span_id", "error_class", "level"):
        if f"_f_{f}" not in ev.columns:
            ev = ev.with_columns(pl.lit(None).alias(f"_f_{f}"))
    if "rule_attrs" not in ev.columns:
        ev = ev.with_columns(pl.lit(None, pl.String).alias("rule_attrs"))
    kind = (
        pl.when(pl.col("kind").is_not_null())
        .then(pl.col("kind"))
        .when(pl.col("j_status").is_not_null())
        .then(pl.lit("http_request"))
        .otherwise(pl.lit("log"))
    )
    # entity resolution, in order of trust: envelope, payload, path/flags/config, pod name
    lab = ctx.labels

    def origin(f: str, *payload_cols: str | None) -> pl.Expr:
        e = pl.when(pl.col(f"env_{f}").is_not_null()).then(pl.lit("envelope"))
        for c in payload_cols:
            if c:
                e = e.when(pl.col(c).is_not_null()).then(pl.lit("payload"))
        if f in lab:
            e = e.when(pl.lit(True)).then(pl.lit(lab[f][1]))
        if f == "service":
            e = e.when(pl.col("_service").is_not_null()).then(pl.lit("pod_name"))
        return e.otherwise(None)

    pod = pl.coalesce("env_pod", "payload_pod", "_pod")
    # the pod-name rule once per distinct pod, not once per event
    pods = ev.select(pod.alias("p")).get_column("p").drop_nulls().unique()
    svc_map = pl.DataFrame({"p": pods}).with_columns(_service_from_pod(pl.col("p")).alias("s"))
    from_pod = pod.replace_strict(svc_map.get_column("p"), svc_map.get_column("s"), default=None, return_dtype=pl.String)
    service = pl.coalesce("env_service", "payload_service", "hdr_service", pl.lit(lab["service"][0]) if "service" in lab else pl.lit(None, pl.String), from_pod, "_service")
    out = ev.select(
        "ts",
        "ts_text",
        "line_no",
        "byte_offset",
        "line_count",
        service.alias("service"),
        pl.col("_namespace").alias("namespace"),
        pod.alias("pod"),
        pl.col("_container").alias("container"),
        pl.coalesce("env_host", "hdr_host", "_host").alias("host"),
        pl.coalesce(pl.col("_f_pid").cast(pl.Int64, strict=False), "payload_pid", "hdr_pid").alias("pid"),
        "stream",
        pl.coalesce("level", pl.col("_f_level").cast(pl.String)).alias("level"),  # the line's own level first
        kind.alias("kind"),
        "message",
        _merge_json(pl.col("j_attrs"), pl.col("rule_attrs"), pl.col("rule"), pl.col("payload_pid")).alias("attrs"),
        pl.coalesce(pl.col("_f_trace_id").cast(pl.String), "j_trace_id").alias("trace_id"),
        pl.coalesce(pl.col("_f_span_id").cast(pl.String), "j_span_id").alias("span_id"),
        pl.col("_f_cpu_count").cast(pl.Int32, strict=False).alias("cpu_count"),
        pl.col("_f_exit_code").cast(pl.Int32, strict=False).alias("exit_code"),
        pl.col("_f_signal").cast(pl.String).alias("signal"),
        pl.col("_f_error_class").cast(pl.String).alias("error_class"),
        pl.coalesce(pl.col("_f_status").cast(pl.Int32, strict=False), "j_status").alias("status"),
        pl.coalesce(pl.col("_f_duration_ms").cast(pl.Float64, strict=False), "j_duration_ms").alias("duration_ms"),
        pl.coalesce(pl.col("_f_route").cast(pl.String), "j_route").alias("route"),
        pl.coalesce(pl.col("_f_peer").cast(pl.String), "j_peer").alias("peer"),
        _json_object(
            service=origin("service", "payload_service", "hdr_service"),
            namespace=origin("namespace", None),
            pod=origin("pod", "payload_pod"),
            container=origin("container", None),
            host=origin("host", "hdr_host"),
        ).alias("entity_source"),
    )
    return conform(out), out.height


def _json_object(**fields: pl.Expr) -> pl.Expr:
    """{"k":"v",...} of string expressions (null -> null), as struct.json_encode writes it.

    The values here are fixed words (envelope, payload, path, ...), never text needing escapes."""
    parts: list[pl.Expr] = []
    for i, (k, e) in enumerate(fields.items()):
        sep = "{" if i == 0 else ","
        parts.append(pl.lit(f'{sep}"{k}":'))
        parts.append(pl.when(e.is_null()).then(pl.lit("null")).otherwise(pl.lit('"') + e + pl.lit('"')))
    parts.append(pl.lit("}"))
    return pl.concat_str(parts)


def _merge_json(a: pl.Expr, b: pl.Expr, rule: pl.Expr, logger_pid: pl.Expr) -> pl.Expr:
    """Concatenate two JSON objects' members (both may be null) and add the rule name."""
    inner_a = a.str.strip_prefix("{").str.strip_suffix("}")
    inner_b = b.str.strip_prefix("{").str.strip_suffix("}")
    rule_m = pl.when(rule.is_not_null()).then(pl.lit('"rule":"') + rule + pl.lit('"'))
    pid_m = pl.when(logger_pid.is_not_null()).then(pl.lit('"logger_pid":') + logger_pid.cast(pl.String))
    # the non-null members joined by "," (one string op instead of a list per row)
    members = pl.concat_str(
        [
            pl.when(inner_a.str.len_bytes() > 0).then(inner_a),
            pl.when(inner_b.str.len_bytes() > 0).then(inner_b),
            rule_m,
            pid_m,
        ],
        separator=",",
        ignore_nulls=True,
    )
    return pl.lit("{") + members.fill_null("") + pl.lit("}")


def _parse_span_chunk(lines: pl.DataFrame, ctx: SourceContext) -> ChunkResult:
    good = lines.filter(pl.col("reject").is_null())
    events, span_rej = _span_events(good)
    lab = ctx.labels
    for f in ENTITY_FIELDS:
        if f in lab:
            events = events.with_columns(pl.coalesce(f, pl.lit(lab[f][0])).alias(f))
    early = lines.filter(pl.col("reject").is_not_null()).select(
        "line_no", "byte_offset", pl.col("reject").alias("reason"), pl.col("line").str.slice(0, 200).alias("sample")
    )
    late = pl.DataFrame([(n, o, r, None) for n, o, r in span_rej], schema=REJECT_SCHEMA, orient="row")
    if late.height:
        late = late.join(lines.select("line_no", pl.col("line").str.slice(0, 200).alias("s")), on="line_no").with_columns(pl.col("s").alias("sample")).drop("s")
    rej = pl.concat([early, late]).sort("line_no")
    idx_src = events.with_columns(pl.lit(0, pl.Int64).alias("line_len"))
    index = (
        idx_src.group_by(pl.col("ts").dt.truncate("1m").alias("minute"), "service", "pod", "container", "level")
        .agg(
            pl.len().cast(pl.Int64).alias("lines"),
            pl.col("line_no").min().alias("first_line"),
            pl.col("line_no").max().alias("last_line"),
            pl.col("byte_offset").min().alias("first_offset"),
            pl.col("byte_offset").max().alias("end_offset"),
        )
        .select(list(INDEX_SCHEMA))
        if events.height
        else pl.DataFrame(schema=INDEX_SCHEMA)
    )
    ts = events.get_column("ts")
    return ChunkResult(
        events=events,
        index=index,
        rejects=rej,
        lines=None,
        n_lines=lines.height,
        n_rejected=rej.height,
        n_events=events.height,
        first_ts=ts.min() if events.height else None,
        last_ts=ts.max() if events.height else None,
    )



def payload_lines(chunk: Chunk, envelope: str, *, tz: str = "UTC") -> pl.DataFrame:
    """Every line of a chunk as line_no, ts, pod, container, level, payload: for re-reading an indexed window.

    No folding and no classification; lines that fit nothing keep their text as payload.
    """
    from .catalogue import Catalogue

    lines = split_lines(chunk).filter(pl.col("reject").is_null())
    if lines.height == 0:
        return pl.DataFrame(schema={"line_no": pl.Int64, "ts": UTC_US, "pod": pl.String, "container": pl.String, "level": pl.String, "payload": pl.String})
    df = _split_python_envelope(lines, envelope) if envelope in PY_ENVELOPES else split_envelope(lines, envelope)
    payload = pl.col("payload")
    df = df.with_columns(
        level_expr(payload, payload.str.starts_with("{")).alias("level"),
        _parse_env_ts(pl.col("env_ts_text")).alias("ts"),
        pl.col("env_ts_text").alias("ts_text"),
        pl.lit(None, pl.String).alias("ts_text_payload"),
    )
    need = df.get_column("env_ts_text").is_null()
    if need.any():
        ctx = SourceContext(source_id=0, envelope=envelope, catalogue=Catalogue([]), tz=tz)
        df = _payload_timestamps(df, need, ctx)
    if df.get_column("partial").any():
        # runtime-split lines: glue each P piece to the pieces that follow it in its stream
        prev = pl.col("partial").shift(1).over("stream").fill_null(False)
        df = (
            df.with_columns((~prev).cum_sum().over("stream").alias("_g"))
            .group_by("stream", "_g", maintain_order=True)
            .agg(pl.col("line_no").first(), pl.col("ts").first(), pl.col("env_pod").first(), pl.col("level").first(),
                 pl.col("env_container").first(), pl.col("payload").str.join(""), pl.col("ts_text_payload").first())
        )
    # continuation lines (stack frames, blank lines) belong to the event above them
    cont = pl.col("ts_text_payload").is_null() & ~payload.str.starts_with("{") & payload.str.contains(CONTINUATION_RE)
    return df.filter(~cont).select("line_no", "ts", pl.col("env_pod").alias("pod"), pl.col("env_container").alias("container"), "level", "payload")
