"""The fast path for line envelopes: one compiled pass per chunk, polars only on the few kept lines.

For `kubectl logs [--prefix] --timestamps` and CRI/containerd files (the bulk of real
exports), a chunk goes through:

1. `_scan.scan` (parsers/_scan.c): line boundaries, reject checks (over-long, NUL, not
   UTF-8), the envelope (pod, container, stream, CRI partial flag, timestamp), the minute,
   is-JSON, the level and the stack-trace continuation rule, per line, in C. A line it can't
   decide exactly (a byte >= 0x80 where the regex would test a Unicode class, a line that
   doesn't fit the envelope) is marked deferred.
2. Then, in the same call, a SIMD multi-literal search (parsers/literals.py, Teddy in
   _scan.c) over each line's payload for the catalogue's prefilter literals,
   case-insensitively: which lines could be events.
3. The deferred lines go through `events.annotate`, the polars reference, and their
   answers are written into the same arrays.
4. `_scan.assemble`: CRI partial folding, late rejects, the tail left for the next chunk,
   the per-minute line index groups and the rows of the events to keep.
5. Only those rows become strings and go through `events.build_events`, exactly as the
   reference path does it.

`parse_chunk_reference` in pipeline.py is the specification: tests/parsers/test_native.py
runs both on every sample bundle, Loghub and generated edge cases and compares the results.
Set PMORTEM_NATIVE=0 to force the reference path.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import polars as pl

from .arrowcols import prim as _prim
from .arrowcols import text as _text
from .catalogue import BUILDER_LITERALS
from .events import (
    ENTITY_FIELDS,
    FOLD_WINDOW,
    INDEX_SCHEMA,
    REJECT_SCHEMA,
    REQUIRES_TS,
    ChunkResult,
    annotate,
    build_events,
    group_events,
    line_service,
    long_line_sample,
    parse_env_ts,
    service_from_pod,
)
from .literals import LiteralSearch
from .readers import MAX_LINE_BYTES, Chunk
from .requests import keyed_from, route_template

try:  # the C extension is optional: no compiler at install time means the polars path
    from . import _scan
except ImportError:  # pragma: no cover - depends on the build
    _scan = None

ENVELOPE_CODES = {"kubectl": 0, "kubectl_prefix": 0, "cri": 1, "plain": 2}
ST_BAD_JSON = 7  # a plain file's JSON line that does not end in "}" (the reference rejects it)
LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
LEVEL_CODE = {name: i for i, name in enumerate(LEVELS)}
NONE64 = -(2**63)
BOM = b"\xef\xbb\xbf"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def available() -> bool:
    return _scan is not None


def missing_reason() -> str | None:
    if _scan is None:
        return "the native scanner was not built (no C compiler at install time?)"
    return None


def eligible(ctx) -> bool:
    return (
        available()
        and ctx.envelope in ENVELOPE_CODES
        and not ctx.store_lines
        and os.environ.get("PMORTEM_NATIVE", "1") != "0"
    )


# ---------------------------------------------------------------- literal prefilter
_searches: dict[tuple[str, ...], LiteralSearch] = {}
_searches_lock = threading.Lock()


def literal_search(literals: list[str]) -> LiteralSearch:
    """The compiled search for a literal set (built once per process and set)."""
    key = tuple(literals)
    with _searches_lock:
        if key not in _searches:
            _searches[key] = LiteralSearch(literals)
        return _searches[key]


# ---------------------------------------------------------------- request lines (issue 18.2)
# The rules whose request lines the scanner parses itself (_scan.c: req_nginx, req_java; pino-http
# JSON lines are the event builder's own http_request, req_pino), by name, as catalogue.toml has them.
REQUEST_RULES = {"http.nginx_access": 1, "http.access_line": 4}  # -> _scan.c's RQF_* flag
RQF_PINO = 2
REQUEST_WEIGHT = int(os.environ.get("PMORTEM_REQUEST_WEIGHT", "2"))  # request rows per kept-row unit (Prepared.kept_rows)
_request_plans: dict[int, tuple | None] = {}


def _builtin_rules() -> dict:
    from .catalogue import load_catalogue

    return {r.name: r for r in load_catalogue().rules}


def request_plan(cat) -> tuple | None:
    """(literal set, bits per literal, flags, slow ms) for _scan.scan's request lines, or None when the
    scanner must leave every request line to the event builder: PMORTEM_NATIVE_REQUESTS=0, every
    request kept as an event (`[requests] events = "all"`), a rule with no literals (it could claim
    any line), a non-ASCII literal. A request rule that is not the built-in one (same name, other
    regex) is left to the builder too. The bits say which rules' literals block which shape:
    1 a rule before http.nginx_access, 2 a rule before http.access_line, 4 any rule (a pino
    message holding it could be claimed), 8 http.nginx_access's own literal."""
    if os.environ.get("PMORTEM_NATIVE_REQUESTS", "1") == "0" or cat.request_events == "all":
        return None
    key = id(cat)
    with _searches_lock:
        if key in _request_plans and _request_plans[key][0] is cat:
            return _request_plans[key][1]
    plan = _make_plan(cat)
    with _searches_lock:
        _request_plans[key] = (cat, plan)
    return plan


def _make_plan(cat) -> tuple | None:
    rules = cat.rules
    if not rules or any(not r.literals for r in rules) or any(not lit.isascii() for r in rules for lit in r.literals):
        return None
    builtin = _builtin_rules()
    pos, flags = {}, RQF_PINO
    for i, r in enumerate(rules):
        b = builtin.get(r.name)
        if r.name in REQUEST_RULES and r.name not in pos and b is not None and (r.regex, r.also, r.kind, r.set, r.literals) == (
            b.regex, b.also, b.kind, b.set, b.literals
        ):
            pos[r.name] = i
            flags |= REQUEST_RULES[r.name]
    big = len(rules) + 1
    k_nginx, k_java = pos.get("http.nginx_access", -1), pos.get("http.access_line", -1)
    bits: dict[str, int] = {}
    for i, r in enumerate(rules):
        for lit in r.literals:
            b = 4
            if i < (k_nginx if k_nginx >= 0 else big):
                b |= 1
            if i < (k_java if k_java >= 0 else big):
                b |= 2
            if i == k_nginx:
                b |= 8
            bits[lit.lower()] = bits.get(lit.lower(), 0) | b
    # the scanner's own literal set (the catalogue's and the builder's literals, compiled once per
    # process): a second set of the same literals would cost its planning again at every start
    search = literal_search(cat.literals + BUILDER_LITERALS)
    per_lit = b"".join(int(bits.get(lit.decode().lower(), 0)).to_bytes(8, "little", signed=True) for lit in search.literals)
    return (search.compiled, per_lit, flags, float(cat.slow_request_ms))


# ---------------------------------------------------------------- the chunk
@dataclass
class Prepared:
    """A chunk after the compiled passes, with what its frames need copied out of the chunk's
    bytes (`_extract`): `finish_chunk` makes the frames (`frames`) and builds its events."""

    chunk: Chunk
    ctx: object
    r: dict  # _scan.scan's arrays
    a: dict  # _scan.assemble's result
    ents: list  # (pod, container) per entity id
    fix: pl.DataFrame | None  # the polars reference's payloads and times of deferred lines
    x: dict  # _extract's buffers: the kept rows' strings and values, the rejects' samples
    # (byte offset, line number) the next chunk starts at when this one left its last event
    tail: tuple[int, int] | None = None
    _made: tuple | None = None  # frames(), once

    def frames(self) -> tuple:
        """(the events to keep, one row each as events.group_events makes them; the line
        index; the rejects; the request lines' rollup rows or None). Polars work, so the event
        builder's thread does it."""
        if self._made is None:
            self._made = _frames(self)
            # what the frames were made of: the kept rows' strings and the request fields,
            # not held again while a built chunk waits in the pipeline's queue
            self.x, self.fix = {}, None
        return self._made

    @property
    def kept_rows(self) -> int:
        """Lines of the kept events, plus the request lines the scanner parsed, REQUEST_WEIGHT of
        them counting as one (what a build's memory grows with: the pipelined reader cuts
        chunks and batches builds by it)."""
        return len(self.a["sel_idx"]) // 8 + len(self.a["req_idx"]) // 8 // REQUEST_WEIGHT

    def release(self) -> None:
        """Drop the chunk's bytes and the scanner's per-line arrays: the events can be built
        without them, so a prepared chunk can wait in a queue holding only its kept rows."""
        self.chunk = Chunk(b"", self.chunk.first_line, self.chunk.offset)
        self.r = {}


def _tail_of(chunk: Chunk, r: dict, a: dict) -> tuple[int, int] | None:
    cut = a["cut"]
    if cut >= r["n"]:
        return None
    return chunk.offset + memoryview(r["start"]).cast("q")[cut], chunk.first_line + cut


def parse_chunk_native(chunk: Chunk, ctx, *, final: bool):
    return finish_chunk(prepare_chunk(chunk, ctx, final=final))


def _body(data, start, raw_len, i: int) -> bytes:
    s, ln = start[i], raw_len[i]
    b = bytes(data[s : s + ln])
    return b[:-1] if b.endswith(b"\r") else b


SPLIT_MIN = 1 << 20  # chunks from this size are scanned by two threads when asked (split=True)


def prepare_chunk(chunk: Chunk, ctx, *, final: bool, split: bool = False) -> Prepared:
    """The literal search, the scanner, the reference for deferred lines, assemble. Thread-safe: the
    ingest loop runs it for the next chunk while it builds and stores this one's events.

    `split`: the C scan runs on two threads, each on half of the chunk's lines (same result;
    the pipelined ingest asks for it when it may use more than one core)."""
    data = chunk.data
    bom = chunk.offset == 0 and bytes(data[:3]) == BOM
    lits = ctx.catalogue.literals
    litset = None if lits is None else literal_search(lits + BUILDER_LITERALS).compiled
    # request lines that need no event: the scanner parses them as it meets them (_scan.c
    # scan_req_line; `req`: their shapes, `req_fields` and `req_text`: their fields)
    plan = request_plan(ctx.catalogue) if lits is not None else None
    r = _scan.scan(data, ENVELOPE_CODES[ctx.envelope], int(bom), litset, SPLIT_MIN if split else 0, *(plan or ()))
    n = r["n"]
    status = r["status"]
    ents: list[tuple[str | None, str | None]] = list(r["ents"])
    ent_ids = {e: i for i, e in enumerate(ents)}
    hit = r["hit"] if lits is not None else bytearray(b"\x01" * n)
    env_ok = bytearray(b"\x01" * n)
    plain = ctx.envelope == "plain"
    # has_ts: the line has an envelope time (a plain file's lines never do)
    has_ts = bytearray(n) if plain else bytearray(b"\x01" * n)

    # lines the scanner could not decide: the polars reference decides them, in batches
    dbuf = _scan.indices(status, ST_DEFER)
    didx = _prim(dbuf, "l", len(dbuf) // 8)
    fixes = []
    if len(didx):
        pay0 = bytearray(4 * n)
        if bom:
            pay0[0:4] = (3).to_bytes(4, "little")  # line 1's text starts after the byte-order mark
        no_ts = bytearray(4 * n)
        dlits = (lits or []) + BUILDER_LITERALS
        for b in range(0, len(didx), DEFER_BATCH):
            batch = didx.slice(b, DEFER_BATCH)
            ib = memoryview(dbuf)[b * 8 : (b + len(batch)) * 8]
            po, pb, _to, _tb = _scan.strings(data, ib, r["start"], r["raw_len"], pay0, no_ts, no_ts)
            lines = _text(len(batch), po, pb)
            ann = annotate(pl.DataFrame({"line": lines}).with_columns(pl.col("line").cast(pl.String)), ctx)
            # entity ids for the (pod, container) pairs these lines carry
            pairs = ann.select("env_pod", "env_container").unique().rows()
            for pair in pairs:
                if pair != (None, None) and pair not in ent_ids:
                    ent_ids[pair] = len(ents)
                    ents.append(pair)
            key = pl.concat_str(pl.col("env_pod").fill_null("\x00"), pl.lit("\x01"), pl.col("env_container").fill_null("\x00"))
            ent_map = {f"{p or chr(0)}\x01{c or chr(0)}": i for (p, c), i in ent_ids.items()}
            vals = ann.select(
                key.replace_strict(ent_map, default=-1, return_dtype=pl.Int32).alias("ent"),
                pl.col("env_ok").fill_null(False).cast(pl.UInt8).alias("env_ok"),
                pl.col("env_ts_text").is_not_null().cast(pl.UInt8).alias("has_ts"),
                pl.col("stream").replace_strict({"stdout": 1, "stderr": 2}, default=0, return_dtype=pl.UInt8).alias("stream"),
                pl.col("partial").fill_null(False).cast(pl.UInt8).alias("partial"),
                pl.col("is_json").fill_null(False).cast(pl.UInt8).alias("is_json"),
                pl.col("level").replace_strict(LEVEL_CODE, default=-1, return_dtype=pl.Int8).alias("level"),
                (pl.col("minute").dt.epoch("s") // 60).fill_null(NONE64).cast(pl.Int64).alias("minute"),
                pl.coalesce("ts", parse_env_ts(pl.col("env_ts_text"))).dt.epoch("us").fill_null(NONE64).cast(pl.Int64).alias("ts_us"),
                pl.col("cont_text").fill_null(False).cast(pl.UInt8).alias("cont"),
                (pl.col("payload").str.contains_any(dlits, ascii_case_insensitive=True) if lits is not None else pl.lit(True))
                .fill_null(False).cast(pl.UInt8).alias("hit"),
            )
            targets = {"env_ok": env_ok, "has_ts": has_ts, "hit": hit}
            for name in vals.columns:
                dst = targets.get(name, r.get(name))
                col = vals.get_column(name)
                _scan.scatter(dst, ib, _scan.stream_values(col.__arrow_c_stream__(), _ITEMSIZE[name]), _ITEMSIZE[name])
            if plain:
                # the reference's late reject of a plain file's JSON line that does not end in "}"
                bad = ann.select((pl.col("is_json") & ~pl.col("payload").str.strip_chars_end().str.ends_with("}")).alias("b")).to_series()
                if bad.any():
                    bidx = batch.filter(bad)
                    bb = b"".join(int(i).to_bytes(8, "little") for i in bidx.to_list())
                    _scan.scatter(status, bb, bytes([ST_BAD_JSON]) * len(bidx), 1)
            fixes.append(ann.select(batch.alias("_row"), pl.col("payload").alias("_p"), pl.col("ts").alias("_ts"), pl.col("ts_text").alias("_tt")))
    req = r.get("req")
    a = _scan.assemble(
        status, env_ok, has_ts, r["minute"], r["ts_us"], r["ent"], r["stream"], r["partial"], r["cont"], r["level"],
        hit, r["start"], r["raw_len"], int(ctx.envelope in REQUIRES_TS), int(final), len(ents), FOLD_WINDOW, req,
    )
    fix = pl.concat(fixes) if fixes else None
    # everything that reads the chunk's bytes is done here (the scan thread when pipelined):
    # after this the chunk's buffer is no longer read
    x = _extract(chunk, ctx, bom, r, a, fix)
    if plan and len(a["req_idx"]):
        ridx = a["req_idx"]
        x["req"] = _scan.requests_fields(ridx, req, r["req_fields"], r["req_text"])
        x["req_ent"] = _scan.gather(r["ent"], ridx, 4)
        x["req_ts"] = _scan.gather(r["ts_us"], ridx, 8)
    return Prepared(chunk, ctx, r, a, ents, fix, x, _tail_of(chunk, r, a))


def _extract(chunk: Chunk, ctx, bom: bool, r: dict, a: dict, fix: pl.DataFrame | None) -> dict:
    """What the frames need from the chunk's bytes and per-line arrays, copied out in C: the
    kept rows' payload and time strings and values, their text joined per event, and the
    rejects' samples."""
    data = chunk.data
    start, raw_len = memoryview(r["start"]).cast("q"), memoryview(r["raw_len"]).cast("q")
    idx = a["sel_idx"]
    x = {name: _scan.gather(r[name], idx, size) for name, size in (("start", 8), ("stream", 1), ("is_json", 1), ("ent", 4), ("ts_us", 8))}
    x["strings"] = _scan.strings(data, idx, r["start"], r["raw_len"], r["pay_off"], r["ts_off"], r["ts_len"])
    # one text per event, unless a kept line was deferred (its payload comes from polars)
    x["join"] = _scan.join_events(*x["strings"][:2], idx, a["sel_evt"], a["sel_contp"]) if fix is None else None
    # rejects, with the reference path's reasons and samples
    reasons = {
        2: f"line too long (over {MAX_LINE_BYTES} bytes)",
        3: "binary data (NUL bytes)",
        4: "undecodable bytes (not UTF-8)",
        5: f"no timestamp (not a {ctx.envelope} line)",
        6: "bad timestamp",
        ST_BAD_JSON: "bad JSON (truncated or malformed object)",
    }
    rej_rows = []
    for i, code in a["rejects"]:
        b = _body(data, start, raw_len, i)
        if code == 2:
            sample = long_line_sample(b)
        elif code == 3:
            sample = b[:200].decode("utf-8", "replace").replace("\x00", "\\0")
        elif code == 4:
            sample = b[:200].decode("utf-8", "replace")
        else:
            sample = b.decode("utf-8")
        if i == 0 and bom and sample.startswith("\ufeff"):
            sample = sample[1:]
        rej_rows.append((chunk.first_line + i, chunk.offset + start[i], reasons[code], sample[:200]))
    x["rejects"] = rej_rows
    return x


def _frames(p: Prepared):
    """The line index, the rejects, and the kept events (one row each) as frames."""
    chunk, ctx, a, ents, fix, x = p.chunk, p.ctx, p.a, p.ents, p.fix, p.x
    # entity strings per entity id (-1: none), with the path / flag / config labels
    lab = ctx.labels
    ent_df = pl.DataFrame(
        {"ent": list(range(-1, len(ents))), "env_pod": [None] + [e[0] for e in ents], "env_container": [None] + [e[1] for e in ents]},
        schema={"ent": pl.Int32, "env_pod": pl.String, "env_container": pl.String},
    )
    for f in ENTITY_FIELDS:
        v = lab[f][0] if f in lab else None
        src = pl.col(f"env_{f}") if f in ("pod", "container") else pl.lit(None, pl.String)
        ent_df = ent_df.with_columns(src.alias(f"env_{f}"), pl.coalesce(src, pl.lit(v, pl.String)).alias(f"_{f}"))
    ent_df = ent_df.with_columns(line_service(pl.col("env_service"), pl.col("env_pod"), service_from_pod(pl.col("_pod")), lab).alias("_service"))

    # the line index
    g = a["index"]
    if g:
        gi = pl.DataFrame(g, schema=["ent", "lv", "min", "lines", "first", "last", "first_offset", "end_offset"], orient="row")
        index = (
            gi.join(ent_df.select("ent", "_service", "_pod", "_container"), on="ent", how="left")
            .select(
                pl.when(pl.col("min") == NONE64).then(None).otherwise(pl.col("min") * 60_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("minute"),
                pl.col("_service").alias("service"),
                pl.col("_pod").alias("pod"),
                pl.col("_container").alias("container"),
                pl.col("lv").replace_strict(dict(enumerate(LEVELS)), default=None, return_dtype=pl.String).alias("level"),
                pl.col("lines").cast(pl.Int64),
                (pl.col("first") + chunk.first_line).cast(pl.Int64).alias("first_line"),
                (pl.col("last") + chunk.first_line).cast(pl.Int64).alias("last_line"),
                (pl.col("first_offset") + chunk.offset).cast(pl.Int64).alias("first_offset"),
                (pl.col("end_offset") + chunk.offset).cast(pl.Int64).alias("end_offset"),
            )
        )
    else:
        index = pl.DataFrame(schema=INDEX_SCHEMA)

    # the rows of kept events, as the reference path's frame has them; strings only for them
    n_sel = len(a["sel_idx"]) // 8
    idx = _prim(a["sel_idx"], "l", n_sel)
    po, pb, to, tb = x["strings"]
    full = pl.DataFrame(
        {
            "start": _prim(x["start"], "l", n_sel),
            "stream": _prim(x["stream"], "C", n_sel),
            "is_json": _prim(x["is_json"], "C", n_sel),
            "ent": _prim(x["ent"], "i", n_sel),
            "ts_us": _prim(x["ts_us"], "l", n_sel),
        }
    )
    sel = pl.DataFrame(
        {
            "_row": idx,
            "evt": _prim(a["sel_evt"], "l", n_sel),
            "payload": _text(n_sel, po, pb),
            "ts_text": _text(n_sel, to, tb),
            "cont_partial": _prim(a["sel_contp"], "C", n_sel) == 1,
            "lv": _prim(a["sel_lv"], "c", n_sel),
        }
    ).with_columns(
        (pl.col("_row") + chunk.first_line).alias("line_no"),
        (full.get_column("start") + chunk.offset).alias("byte_offset"),
        # the scanner parsed every envelope time (None where it could not: polars parses those)
        pl.when(full.get_column("ts_us") != NONE64).then(full.get_column("ts_us")).otherwise(None)
        .cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("ts"),
        full.get_column("stream").replace_strict({1: "stdout", 2: "stderr"}, default=None, return_dtype=pl.String).alias("stream"),
        pl.col("lv").replace_strict(dict(enumerate(LEVELS)), default=None, return_dtype=pl.String).alias("ev_level"),
        (full.get_column("is_json") == 1).alias("is_json"),
        full.get_column("ent").alias("ent"),
    )
    if fix is not None and sel.height:
        # deferred lines: the reference's payload and times
        patch = fix.with_columns(pl.col("_ts").cast(pl.Datetime("us", "UTC")), pl.lit(True).alias("_d"))
        sel = sel.join(patch, on="_row", how="left", maintain_order="left")
        d = pl.col("_d").fill_null(False)
        sel = sel.with_columns(
            pl.when(d).then(pl.col("_p")).otherwise(pl.col("payload")).alias("payload"),
            pl.when(d).then(pl.col("_ts")).otherwise(pl.col("ts")).alias("ts"),
            pl.when(d).then(pl.col("_tt")).otherwise(pl.col("ts_text")).alias("ts_text"),
        ).drop("_p", "_ts", "_tt", "_d")
    sel = sel.drop("lv").join(ent_df, on="ent", how="left", maintain_order="left")
    # one row per event: the payloads joined in C (_extract), or by the polars reference's
    # group_by when some kept line was deferred (its payload came from polars)
    if x["join"] is not None:
        eo, eb, first, count = x["join"]
        n_ev = len(count) // 4
        raw = _text(n_ev, eo, eb)
        ents_cols = [*(f"_{f}" for f in ENTITY_FIELDS), *(f"env_{f}" for f in ENTITY_FIELDS)]
        sel = (
            sel.select("evt", "line_no", "byte_offset", "ts", "ts_text", "stream", pl.col("ev_level").alias("level"), "is_json", *ents_cols)
            .gather(_prim(first, "l", n_ev))
            .with_columns(_prim(count, "i", n_ev).alias("line_count"), raw.alias("raw"))
            .select("evt", "line_no", "byte_offset", "line_count", "ts", "ts_text", "stream", "level", "is_json", "raw", *ents_cols)
        )
    else:
        sel = group_events(sel)

    rejects = pl.DataFrame(x["rejects"], schema=REJECT_SCHEMA, orient="row")
    return sel, index, rejects, _request_rows(p, ent_df)


def _request_rows(p: Prepared, ent_df: pl.DataFrame) -> pl.DataFrame | None:
    """The request lines the scanner parsed (requests.KEYED rows), their entities as the event
    builder resolves an http_request event's: the envelope's pod, else the logger's `hostname`;
    the logger's `name` / `service`, else the service of that pod (build_events)."""
    x = p.x
    if "req" not in x:
        return None
    f = x["req"]
    m = len(p.a["req_idx"]) // 8

    def txt(name: str) -> pl.Series:
        o, b, v = f[name]
        return pl.select(pl.when(_prim(v, "C", m) == 1).then(_text(m, o, b))).to_series().alias(name)

    pid = _prim(f["pid"], "l", m)
    ts = _prim(x["req_ts"], "l", m)
    kind = _prim(f["kind"], "C", m)
    df = pl.DataFrame(
        {
            "ent": _prim(x["req_ent"], "i", m),
            "line_no": _prim(p.a["req_idx"], "l", m) + p.chunk.first_line,
            "ts": pl.select(pl.when(ts != NONE64).then(ts)).to_series().cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "pid": pl.select(pl.when(pid != NONE64).then(pid)).to_series(),
            "status": _prim(f["status"], "i", m),
            "kind": kind,
            **{n: txt(n) for n in ("method", "route", "dur", "upstream", "service", "pod")},
        }
    ).join(ent_df.select("ent", "env_pod", "_pod", "_service"), on="ent", how="left", maintain_order="left")
    lab = p.ctx.labels
    line_pod = pl.coalesce("env_pod", "pod")
    pod = pl.coalesce(line_pod, "_pod")
    # the entities once per distinct (entity, hostname, logger name), not once per request
    ekeys = ["ent", "pod", "service"]
    ents = df.select(*ekeys, "env_pod", "_pod", "_service").unique(ekeys)
    ents = ents.select(
        *[pl.col(k).alias(f"_k{i}") for i, k in enumerate(ekeys)],
        pod.cast(pl.Categorical).alias("_epod"),
        pl.coalesce("service", line_service(pl.lit(None, pl.String), line_pod, service_from_pod(pod), lab), "_service")
        .cast(pl.Categorical).alias("_esvc"),
    )
    df = df.join(ents, left_on=ekeys, right_on=["_k0", "_k1", "_k2"], how="left", maintain_order="left", nulls_equal=True)
    d = pl.col("dur").cast(pl.Float64, strict=False)
    df = df.with_columns(
        pl.col("_epod").alias("pod"),
        pl.col("_esvc").alias("service"),
        # nginx logs seconds (the rule's duration_s: catalogue._convert), the others milliseconds
        pl.when(pl.col("kind") == 1).then((d * 1000.0).round(6)).otherwise(d).alias("duration_ms"),
    )
    # the scanner made the route templates, except of non-ASCII routes (\d is Unicode's there)
    raw = _prim(f["route_raw"], "C", m) == 1
    route = pl.col("route")
    if raw.any():
        route = pl.when(raw).then(route_template(route)).otherwise(route)
    return keyed_from(df, method=pl.col("method"), upstream=pl.col("upstream"), route=route)


def finish_chunk(p: Prepared):
    """The event builder (the polars reference's own), and the chunk's result."""
    return finish_chunks([p])


def finish_chunks(ps: list[Prepared]):
    """Consecutive prepared chunks of one source as one result: their events built in one
    go (fewer polars calls per event when the builder has fallen behind the scanner)."""
    # one row per event already (_frames); event ids are per chunk, unused from here on
    frames = [p.frames() for p in ps]
    rrows = [f[3] for f in frames if f[3] is not None]
    sel = frames[0][0] if len(ps) == 1 else pl.concat([f[0] for f in frames], how="vertical_relaxed")
    events, n_events = build_events(sel, ps[0].ctx, selected=True, grouped=True)

    def ts_of(us: int):
        return None if us == NONE64 else EPOCH + timedelta(microseconds=us)

    def edge(vals, pick):
        vals = [v for v in vals if v != NONE64]
        return ts_of(pick(vals)) if vals else None

    tail = ps[-1].tail
    kept, starts = sum(p.a["kept"] for p in ps), sum(p.a["starts"] for p in ps)
    rejects = frames[0][2] if len(ps) == 1 else pl.concat([f[2] for f in frames], how="vertical_relaxed")
    res = ChunkResult(
        events=events,
        index=frames[0][1] if len(ps) == 1 else pl.concat([f[1] for f in frames], how="vertical_relaxed"),
        rejects=rejects,
        lines=None,
        n_lines=sum(p.a["cut"] for p in ps),
        n_rejected=rejects.height,
        n_folded=kept - starts,
        n_generic=starts - n_events,
        n_events=n_events,
        tail_offset=tail[0] if tail else None,
        tail_line=tail[1] if tail else None,
        first_ts=edge([p.a["tmin"] for p in ps], min),
        last_ts=edge([p.a["tmax"] for p in ps], max),
        request_rows=(rrows[0] if len(rrows) == 1 else pl.concat(rrows)) if rrows else None,
    )
    assert res.n_lines == res.n_rejected + res.n_folded + res.n_generic + res.n_events, "line accounting broke"
    return res


ST_DEFER = 1
DEFER_BATCH = 100_000  # deferred lines per polars batch: bounds memory when a chunk is mostly deferred
_ITEMSIZE = {"ent": 4, "env_ok": 1, "has_ts": 1, "stream": 1, "partial": 1, "is_json": 1, "level": 1, "minute": 8, "ts_us": 8, "cont": 1, "hit": 1}
