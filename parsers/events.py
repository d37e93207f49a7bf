"""What both chunk parsers share: the source's context, a chunk's result, and the event builder.

`pipeline.parse_chunk_reference` (polars, every envelope) and `native` (the C scanner for
kubectl / CRI lines) both end here: per-line annotation of what the scanner cannot decide
(`annotate`), one row per event (`group_events`), JSON logger fields (`json_fields`) and the
events themselves (`build_events`: classification and entity resolution). Neither of those
modules imports the other's internals: what they share lives here, under public names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson
import polars as pl

from .catalogue import BUILDER_LITERALS, Catalogue, classify_frame
from .envelopes import ENV_COLUMNS, split_envelope
from .payloads import CONTINUATION_RE, JSON_TIME_RE, level_expr, parse_json_time, parse_rfc3339
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
    # the chunk's requests as rollup rows (parsers/requests.py), set by split_requests
    requests: pl.DataFrame | None = None
    # request lines the native scanner parsed and left out of the events (requests.KEYED rows);
    # split_requests rolls them up with the request events
    request_rows: pl.DataFrame | None = None


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



# A continuation line (stack frame, CRI piece) joins its partition's open event only when
# that partition's previous line is at most this many lines before it: the cut between
# chunks keeps every event a later line could still join, and this bounds how far back.
FOLD_WINDOW = 1000


def long_line_sample(body: bytes) -> str:
    """The first 200 characters of an over-long line (as the fast CSV path keeps them)."""
    return body[:800].decode("utf-8", "replace")[:200]


# ---------------------------------------------------------------- python-decoded envelopes
def split_python_envelope(df: pl.DataFrame, envelope: str) -> pl.DataFrame:
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


# ---------------------------------------------------------------- the chunk

def annotate(good: pl.DataFrame, ctx: SourceContext) -> pl.DataFrame:
    """Per line: the envelope's columns, is_json, level, minute, ts / ts_text, cont_text.

    The polars reference for what the native scanner (`_scan.c`) computes; the native
    path also sends the lines it cannot decide through here.
    """
    if ctx.envelope in PY_ENVELOPES:
        df = split_python_envelope(good, ctx.envelope)
    else:
        df = split_envelope(good, ctx.envelope)
    return annotate_split(df, ctx)


def annotate_split(df: pl.DataFrame, ctx: SourceContext) -> pl.DataFrame:
    """`annotate` once the envelope's columns (ENV_COLUMNS) are there: also the entry for
    log messages that arrive without one (documents.logs: one document per line)."""
    payload = pl.col("payload")
    is_json = payload.str.starts_with("{")
    # timestamps: the envelope's when there is one, else the payload's own. Envelope times are
    # bucketed per minute from their text (one parse per distinct minute, not per line); the
    # full timestamp is parsed only for the events that are kept.
    df = df.with_columns(
        is_json.alias("is_json"),
        level_expr(payload, is_json).alias("level"),
        minute_key(pl.col("env_ts_text")).alias("_mkey"),
        pl.col("env_ts_text").alias("ts_text"),
        pl.lit(None, UTC_US).alias("ts"),
        pl.lit(None, pl.String).alias("ts_text_payload"),
    )
    df = df.with_columns(minutes_from_keys(df.get_column("_mkey")).alias("minute")).drop("_mkey")
    need = df.get_column("env_ts_text").is_null()
    if need.any():
        df = payload_timestamps(df, need, ctx)
        df = df.with_columns(pl.coalesce("minute", pl.col("ts").dt.truncate("1m")).alias("minute"))
    payload = pl.col("payload")
    cont = ~pl.col("is_json") & pl.col("ts_text_payload").is_null() & payload.str.contains(CONTINUATION_RE)
    return df.with_columns(cont.alias("cont_text"))


def minute_key(t: pl.Expr) -> pl.Expr:
    """'2022-04-08T20:59' + zone for RFC 3339 text; the text itself for epoch nanoseconds."""
    epoch = t.str.slice(4, 1) != "-"
    zone = pl.when(t.str.ends_with("Z")).then(pl.lit("Z")).otherwise(t.str.slice(-6))
    return pl.when(epoch).then(t.str.slice(0, 10)).otherwise(t.str.slice(0, 16) + zone)


def minutes_from_keys(keys: pl.Series) -> pl.Series:
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


def parse_env_ts(t: pl.Expr) -> pl.Expr:
    """RFC 3339 text, or epoch digits (Loki nanoseconds, Elasticsearch milliseconds, seconds)."""
    epoch = t.str.slice(4, 1) != "-"
    digits = t.str.len_chars()
    n = t.cast(pl.Float64, strict=False)
    us = pl.when(digits >= 18).then(n / 1000).when(digits >= 15).then(n).when(digits >= 12).then(n * 1000).otherwise(n * 1e6)
    return pl.when(epoch).then(
        pl.from_epoch(us.round(0).cast(pl.Int64, strict=False), time_unit="us").dt.replace_time_zone("UTC")
    ).otherwise(parse_rfc3339(t))


# ---------------------------------------------------------------- folding
# The partition a continuation line folds into: the same pod's container's stream.
FOLD_PARTITION = ["env_pod", "env_container", "stream"]


def mark_continuations(df: pl.DataFrame) -> pl.DataFrame:
    """`cont`: the row continues the event above it in its partition (a stack frame, or the
    next piece of a runtime-split line); `cont_partial`: by the runtime's split."""
    prev_partial = pl.col("partial").shift(1).over(FOLD_PARTITION).fill_null(False)
    df = df.with_columns(prev_partial.alias("cont_partial"))
    return df.with_columns((pl.col("cont_text") | pl.col("cont_partial")).alias("cont"))


def assign_events(df: pl.DataFrame) -> pl.DataFrame:
    """`_row` and `evt` (the `_row` of the event's first row): a start row and the continuation
    rows that follow it in its partition, up to FOLD_WINDOW lines after that partition's
    previous line (further on, a line that looks like a continuation starts an event of its own)."""
    df = df.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    prev_line = pl.col("line_no").shift(1).over(FOLD_PARTITION)
    start = ~pl.col("cont") | (pl.col("line_no") - prev_line > FOLD_WINDOW).fill_null(False)
    return df.with_columns(
        pl.when(start).then(pl.col("_row")).otherwise(None).forward_fill().over(FOLD_PARTITION).fill_null(pl.col("_row")).alias("evt"),
    )


def entity_columns(df: pl.DataFrame, ctx: SourceContext) -> pl.DataFrame:
    """`_service`, `_namespace`, `_pod`, `_container`, `_host` per row: the envelope's, then the
    source's labels (path / flags / config; the payload's come with the events), the service
    from a pod's name. `ev_level` and `row_minute`: the event's level and the row's minute."""
    df = df.with_columns(
        pl.col("level").first().over("evt").alias("ev_level"),
        pl.coalesce("minute", pl.col("minute").first().over("evt")).alias("row_minute"),
    )
    for f in ENTITY_FIELDS:
        lab = ctx.labels.get(f)
        df = df.with_columns(pl.coalesce(pl.col(f"env_{f}"), pl.lit(lab[0] if lab else None, pl.String)).alias(f"_{f}"))
    # the pod-name rule runs once per distinct pod, not once per line
    pods = df.get_column("_pod").drop_nulls().unique()
    if len(pods):
        mapping = pl.DataFrame({"p": pods}).with_columns(service_from_pod(pl.col("p")).alias("s"))
        svc = pl.col("_pod").replace_strict(mapping.get_column("p"), mapping.get_column("s"), default=None, return_dtype=pl.String)
        df = df.with_columns(line_service(pl.col("env_service"), pl.col("env_pod"), svc, ctx.labels).alias("_service"))
    return df


# Kubernetes generates name suffixes from an alphabet without vowels (k8s.io/apimachinery
# rand.String), which tells a pod (`checkout-7d9f8b6c4-qx2lp`) from a word (`pino-epoch`).
K8S_SUFFIX = "[bcdfghjklmnpqrstvwxz2456789]"


def service_from_pod(pod: pl.Expr) -> pl.Expr:
    """Deployment pods are <deployment>-<replicaset hash>-<5 chars>; StatefulSets <name>-<n>."""
    sfx = K8S_SUFFIX
    return pl.coalesce(
        pod.str.extract(rf"^(.+?)-{sfx}{{6,10}}-{sfx}{{5}}$", 1),
        pod.str.extract(rf"^(.+?)-{sfx}{{5}}$", 1),
        pod.str.extract(r"^(.+?)-\d+$", 1),
    )


# Labels a user gave (--service, the config's [labels]) outrank a service the lines imply;
# one read off a file's name does not: the lines' pod names the service (its deployment).
STRONG_ORIGINS = ("flag", "config")


def label_services(lab: dict[str, tuple[str, str]]) -> tuple[pl.Expr, pl.Expr]:
    """The labels' service as (strong, weak) literals: a flag's or the config's, or the path's."""
    v = lab.get("service")
    none = pl.lit(None, pl.String)
    if v is None:
        return none, none
    return (pl.lit(v[0], pl.String), none) if v[1] in STRONG_ORIGINS else (none, pl.lit(v[0], pl.String))


def line_service(env_service: pl.Expr, line_pod: pl.Expr, pod_service: pl.Expr, lab: dict[str, tuple[str, str]]) -> pl.Expr:
    """A row's service: the envelope's, a user's label, the deployment of a pod the line names,
    the path's, the deployment of the pod the path names (`pod_service`: that of the row's pod)."""
    strong, weak = label_services(lab)
    return pl.coalesce(env_service, strong, pl.when(line_pod.is_not_null()).then(pod_service), weak, pod_service)


def payload_timestamps(df: pl.DataFrame, need: pl.Series, ctx: SourceContext) -> pl.DataFrame:
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
    elif type(res) is dict and type(req) is dict and "statusCode" in res and res["statusCode"] is None:
        out["aborted"] = True  # pino-http: the client went away before a response
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
    "aborted": ("j_aborted", pl.Boolean),
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


def build_events(
    df: pl.DataFrame, ctx: SourceContext, *, selected: bool = False, grouped: bool = False, every: bool = False
) -> tuple[pl.DataFrame, int]:
    """Events from the rows of a chunk: those holding a prefilter literal that a rule (or the
    request builder) claims, or error/fatal ones.

    `selected`: the caller (the native scanner) already kept exactly those events' rows;
    `grouped`: and made them one row per event (`group_events`);
    `every`: every row given is an event, claimed or not (the log messages of JSON documents:
    a document's messages are its events, and its line index is made from them).
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
        ev = ev.with_columns(pl.coalesce("ts", parse_env_ts(pl.col("ts_text"))).alias("ts"))
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
    # only what a rule asks for becomes an event: a line that held a prefilter literal but
    # that no rule claimed (a Java thread named `worker-3`, a word such as `release` in a
    # sentence) is counted in the line index only. Rule events, request lines (the builder's
    # http_request) and error/fatal lines stay.
    if not every:
        ev = ev.filter(
            pl.col("kind").is_not_null() | pl.col("j_status").is_not_null() | pl.col("j_aborted").fill_null(False)
            | pl.col("level").is_in(["error", "fatal"])
        )
    kind = (
        pl.when(pl.col("kind").is_not_null())
        .then(pl.col("kind"))
        .when(pl.col("j_status").is_not_null() | pl.col("j_aborted").fill_null(False))
        .then(pl.lit("http_request"))
        .otherwise(pl.lit("log"))
    )
    # entity resolution, in order of trust: envelope, payload, path/flags/config, pod name
    lab = ctx.labels

    line_pod = pl.coalesce("env_pod", "payload_pod")
    pod = pl.coalesce(line_pod, "_pod")
    # the pod-name rule once per distinct pod, not once per event
    pods = ev.select(pod.alias("p")).get_column("p").drop_nulls().unique()
    svc_map = pl.DataFrame({"p": pods}).with_columns(service_from_pod(pl.col("p")).alias("s"))
    from_pod = pod.replace_strict(svc_map.get_column("p"), svc_map.get_column("s"), default=None, return_dtype=pl.String)

    def origin(f: str, *payload_cols: str | None) -> pl.Expr:
        e = pl.when(pl.col(f"env_{f}").is_not_null()).then(pl.lit("envelope"))
        for c in payload_cols:
            if c:
                e = e.when(pl.col(c).is_not_null()).then(pl.lit("payload"))
        if f == "service":
            if lab.get(f, ("", ""))[1] in STRONG_ORIGINS:
                e = e.when(pl.lit(True)).then(pl.lit(lab[f][1]))
            e = e.when(line_pod.is_not_null() & from_pod.is_not_null()).then(pl.lit("pod_name"))
        if f in lab:
            e = e.when(pl.lit(True)).then(pl.lit(lab[f][1]))
        if f == "service":
            e = e.when(pl.col("_service").is_not_null()).then(pl.lit("pod_name"))
        return e.otherwise(None)

    service = pl.coalesce(
        pl.coalesce("env_service", "payload_service", "hdr_service"),
        line_service(pl.lit(None, pl.String), line_pod, from_pod, lab),
        "_service",
    )
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
