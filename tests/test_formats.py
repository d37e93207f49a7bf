"""Every payload/envelope format in samples/formats/, ingested and checked value by value.

The samples are real program output (samples/repro/formats/make_formats.sh): nginx 1.22,
rsyslogd 8.2302 + logger(1) + Python SysLogHandler, Node 20 with pino/pino-http/bunyan/winston,
a real V8 fatal heap OOM, a JDK 17 program with an exception chain, and mechanical wrappings
(kubectl --timestamps, CRI, an Elasticsearch _search response, a Jaeger export).
Their timestamps are the real times of the capture run, so every expectation below is
computed from the sample file itself by a deliberately simple, independent parse (split,
regex, json) -- never a constant copied from pmortem's output.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SAMPLES, require

F = SAMPLES / "formats"
RAW = SAMPLES / "repro" / "formats" / "raw"
UTC = dt.UTC
POD = "checkout-7d9f8b6c4-qx2lp"
PINO_LEVELS = {10: "trace", 20: "debug", 30: "info", 40: "warn", 50: "error", 60: "fatal"}


# ----------------------------------------------------------------------------- helpers
def lines_of(path: Path) -> list[str]:
    return require(path).read_text(encoding="utf-8").splitlines()


def ingest(cli, path: Path, *extra: str) -> dict:
    """Ingest one sample; return its `pmortem sources` row after checking line accounting."""
    cli.ok("ingest", str(require(path)), "-q", *extra)
    rows = [s for s in cli.sources() if Path(s["path"]).resolve() == path.resolve()]
    assert len(rows) == 1, rows
    src = rows[0]
    assert src["status"] == "complete", src
    assert src["lines"] == src["lines_parsed"] + src["lines_rejected"], src
    return src


def events(cli, src: dict, cols: str, where: str = "TRUE") -> list[tuple]:
    return cli.sql(f"SELECT {cols} FROM events WHERE source_id = {src['source_id']} AND ({where}) ORDER BY line_no, ts")


def by_line(cli, src: dict, cols: str, where: str = "TRUE") -> dict[int, tuple]:
    rows = events(cli, src, "line_no, " + cols, where)
    out = {r[0]: r[1:] for r in rows}
    assert len(out) == len(rows), f"several events share a line_no: {rows}"
    return out


def stored_levels(cli, src: dict) -> dict[int, str | None]:
    """Per-line level from the `lines` table (needs --store-lines)."""
    return dict(cli.sql(f"SELECT line_no, level FROM lines WHERE source_id = {src['source_id']} ORDER BY line_no"))


def from_ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, UTC).replace(microsecond=(ms % 1000) * 1000)


def iso_utc(text: str) -> dt.datetime:
    """RFC 3339 with any number of fraction digits (truncated to microseconds) -> aware UTC."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)", text)
    assert m, text
    base = dt.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.replace(microsecond=int((m.group(2) or "0")[:6].ljust(6, "0"))).astimezone(UTC)


def ents(entity_source) -> dict:
    return json.loads(entity_source) if isinstance(entity_source, str) else dict(entity_source or {})


# ----------------------------------------------------------------------------- nginx
ACCESS_RE = re.compile(
    r'^(?P<addr>\S+) - (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>\S+) (?P<uri>\S+) (?P<proto>[^"]+)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)"'
    r"(?: (?P<request_time>[\d.]+) (?P<upstream_time>[\d.]+|-))?$"
)


def _access_expectations(path: Path) -> dict[int, dict]:
    exp = {}
    for no, line in enumerate(lines_of(path), 1):
        m = ACCESS_RE.match(line)
        assert m, line
        exp[no] = {
            "ts": dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").astimezone(UTC),
            "status": int(m["status"]),
            "route": m["uri"].split("?")[0],
            "peer": m["addr"],
            "duration_ms": float(m["request_time"]) * 1000 if m["request_time"] else None,
        }
    return exp


@pytest.mark.parametrize("name", ["access.log", "access_timed.log"])
def test_nginx_access_log(cli, name):
    """combined and `timed` (+ $request_time $upstream_response_time): every line one http_request."""
    path = F / "nginx" / name
    exp = _access_expectations(path)
    # every request kept as an event (by default only failed and slow ones are: the rest
    # are counted in the requests rollup), so each line's fields can be checked
    (cli.tmp / "pmortem.toml").write_text('[requests]\nevents = "all"\n')
    src = ingest(cli, path)
    assert (src["lines"], src["lines_rejected"]) == (len(exp), 0)
    got = by_line(cli, src, "ts, kind, status, route, peer, duration_ms")
    wrong = {}
    for no, e in exp.items():
        g = got.get(no)
        if g is None:
            wrong[no] = "no event"
            continue
        ts, kind, status, route, peer, dur = g
        ok = (
            ts == e["ts"]
            and kind == "http_request"
            and status == e["status"]
            and route == e["route"]
            and peer == e["peer"]
            and (dur is None if e["duration_ms"] is None else dur == pytest.approx(e["duration_ms"], abs=1e-6))
        )
        if not ok:
            wrong[no] = (g, e)
    assert not wrong, f"nginx {name}: wrong events by line_no (got, expected): {wrong}"


NGX_ERR_RE = re.compile(r"^(?P<ts>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d) \[(?P<lvl>\w+)\] (?P<pid>\d+)#(?P<tid>\d+): (?P<msg>.*)$")
NGX_LEVELS = {"debug": "debug", "info": "info", "notice": "info", "warn": "warn", "error": "error", "crit": "fatal",
              "alert": "fatal", "emerg": "fatal"}


def _nginx_error_lines() -> list[tuple[int, re.Match]]:
    out = []
    for no, line in enumerate(lines_of(F / "nginx" / "error.log"), 1):
        m = NGX_ERR_RE.match(line)
        assert m, line
        out.append((no, m))
    return out


def _berlin(ts: str) -> dt.datetime:
    return dt.datetime.strptime(ts, "%Y/%m/%d %H:%M:%S").replace(tzinfo=ZoneInfo("Europe/Berlin")).astimezone(UTC)


def test_nginx_error_log_tz_levels_and_classes(cli):
    """nginx ran with TZ=Europe/Berlin: the zone-less error-log time needs --tz to land in UTC."""
    path = F / "nginx" / "error.log"
    parsed = _nginx_error_lines()
    src = ingest(cli, path, "--tz", "Europe/Berlin", "--store-lines")
    assert (src["lines"], src["lines_rejected"]) == (len(parsed), 0)
    assert iso_utc(src["first_ts"].replace(" ", "T").replace("+00:00", "Z")) == _berlin(parsed[0][1]["ts"])
    assert stored_levels(cli, src) == {no: NGX_LEVELS[m["lvl"]] for no, m in parsed}
    got = by_line(cli, src, "ts, level, kind, error_class, pid, exit_code")
    errors = [(no, m) for no, m in parsed if m["lvl"] == "error"]
    assert len(errors) == 3
    for no, m in errors:
        cls = "econnrefused" if "(111: Connection refused)" in m["msg"] else "upstream_timeout"
        assert got[no][:4] == (_berlin(m["ts"]), "error", "error", cls), (no, m.group(0))
    exits = [(no, m) for no, m in parsed if re.search(r"worker process \d+ exited with code", m["msg"])]
    assert len(exits) == 1
    no, m = exits[0]
    wpid, code = map(int, re.search(r"worker process (\d+) exited with code (\d+)", m["msg"]).groups())
    assert got[no][0] == _berlin(m["ts"])
    assert got[no][2] == "worker_exit"
    assert (got[no][4], got[no][5]) == (wpid, code)
    assert all(g[0] == _berlin(dict(parsed)[n]["ts"]) for n, g in got.items())


def test_nginx_error_log_route_and_upstream_peer(cli):
    """Both upstream errors name the request (route) and the upstream (peer = host:port)."""
    src = ingest(cli, F / "nginx" / "error.log", "--tz", "Europe/Berlin")
    got = by_line(cli, src, "route, peer")
    wrong = {}
    for no, m in _nginx_error_lines():
        if m["lvl"] != "error":
            continue
        route = re.search(r'request: "[A-Z]+ ([^ ?"]+)', m["msg"]).group(1)
        peer = re.search(r'upstream: "https?://([^/"]+)', m["msg"]).group(1)
        if got.get(no) != (route, peer):
            wrong[no] = {"got (route, peer)": got.get(no), "expected": (route, peer)}
    assert not wrong, wrong


def test_nginx_error_log_pid(cli):
    """`2026/11/27 07:46:18 [error] 7520#7520: ...` -- the number before '#' is the nginx process id."""
    src = ingest(cli, F / "nginx" / "error.log", "--tz", "Europe/Berlin")
    got = by_line(cli, src, "pid", "kind = 'error'")
    exp = {no: (int(m["pid"]),) for no, m in _nginx_error_lines() if m["lvl"] == "error"}
    assert got == exp


# ----------------------------------------------------------------------------- Node JSON loggers
def _json_lines(path: Path) -> list[tuple[int, dict]]:
    return [(no, json.loads(line)) for no, line in enumerate(lines_of(path), 1)]


CLUSTER = [
    (re.compile(r"^Primary (\d+) is running$"), "primary_start"),
    (re.compile(r"^Worker (\d+) started$"), "worker_start"),
    (re.compile(r"^Worker (\d+) died with code: (\d+) and signal: (\w+)$"), "worker_exit"),
]


def _cluster_kind(msg: str):
    for rx, kind in CLUSTER:
        m = rx.match(msg)
        if m:
            return kind, m
    return None, None


def _check_node_logger(cli, path: Path, *, time_of, level_of, msg_key: str, pod: str | None, service: str | None,
                       pod_origin: str = "payload"):
    recs = _json_lines(path)
    src = ingest(cli, path, "--store-lines")
    assert (src["lines"], src["lines_rejected"], src["lines_folded"]) == (len(recs), 0, 0)
    # every line's level, mapped (pino/bunyan numbers, winston words)
    assert stored_levels(cli, src) == {no: level_of(r) for no, r in recs}
    got = by_line(cli, src, "ts, level, kind, pid, exit_code, pod, service, entity_source, message")
    expected_lines = set()
    for no, r in recs:
        kind, m = _cluster_kind(r[msg_key])
        if kind is None and level_of(r) not in ("error", "fatal"):
            continue
        expected_lines.add(no)
        g = got.get(no)
        assert g is not None, (no, r)
        ts, level, gkind, pid, exit_code, gpod, gservice, es, message = g
        assert ts == time_of(r), (no, ts, r)
        assert level == level_of(r), (no, level, r)
        assert (gpod, gservice) == (pod, service), (no, gpod, gservice)
        e = ents(es)
        if pod:
            assert e.get("pod") == pod_origin, e
        if service:
            assert e.get("service") == "payload", e
        if kind:
            assert gkind == kind, (no, gkind, r)
            assert pid == int(m.group(1)), (no, pid, r)
            if kind == "worker_exit":
                assert exit_code == int(m.group(2)), (no, exit_code, r)
        else:
            assert r[msg_key] in message, (no, message, r)
            if "pid" in r:
                assert pid == r["pid"], (no, pid, r)
    assert set(got) == expected_lines, (sorted(got), sorted(expected_lines))
    assert any(lvl == "error" for lvl in stored_levels(cli, src).values())


def test_pino_epoch_ms(cli):
    """pino default: `time` in epoch ms, numeric levels, `hostname` = pod name."""
    _check_node_logger(cli, F / "node" / "pino-epoch.log", time_of=lambda r: from_ms(r["time"]),
                       level_of=lambda r: PINO_LEVELS[r["level"]], msg_key="msg", pod=POD, service="checkout")


def test_pino_iso_time(cli):
    """pino with pino.stdTimeFunctions.isoTime."""
    _check_node_logger(cli, F / "node" / "pino-iso.log", time_of=lambda r: iso_utc(r["time"]),
                       level_of=lambda r: PINO_LEVELS[r["level"]], msg_key="msg", pod=POD, service="checkout")


def test_bunyan(cli):
    """bunyan: v 0, numeric levels, ISO `time`, `name` = service, `hostname` = pod."""
    _check_node_logger(cli, F / "node" / "bunyan.log", time_of=lambda r: iso_utc(r["time"]),
                       level_of=lambda r: PINO_LEVELS[r["level"]], msg_key="msg", pod=POD, service="checkout")


def test_winston_json(cli):
    """winston json(): text levels, `timestamp`, `message`; no hostname: the file is its own entity."""
    _check_node_logger(cli, F / "node" / "winston.log", time_of=lambda r: iso_utc(r["timestamp"]),
                       level_of=lambda r: {"warn": "warn", "info": "info", "error": "error"}[r["level"]],
                       msg_key="message", pod="winston", service="checkout", pod_origin="file")


def test_pino_levels_map_50_to_error(cli):
    src = ingest(cli, F / "node" / "pino-epoch.log", "--store-lines")
    recs = dict(_json_lines(F / "node" / "pino-epoch.log"))
    err_lines = [no for no, r in recs.items() if r["level"] == 50]
    assert err_lines
    got = by_line(cli, src, "level, pod, entity_source")
    for no in err_lines:
        assert got[no][0] == "error"
        assert got[no][1] == recs[no]["hostname"] == POD
        assert ents(got[no][2])["pod"] == "payload"


def test_pino_http_requests(cli):
    """pino-http: req.method/url/remoteAddress, res.statusCode, responseTime (ms)."""
    path = F / "node" / "pino-http.log"
    recs = _json_lines(path)
    (cli.tmp / "pmortem.toml").write_text('[requests]\nevents = "all"\n')  # every request an event
    src = ingest(cli, path)
    assert (src["lines"], src["lines_rejected"]) == (len(recs), 0)
    got = by_line(cli, src, "ts, level, kind, status, duration_ms, route, peer, pod", "kind = 'http_request'")
    exp = {
        no: (from_ms(r["time"]), PINO_LEVELS[r["level"]], "http_request", r["res"]["statusCode"],
             float(r["responseTime"]), r["req"]["url"].split("?")[0], r["req"]["remoteAddress"], r["hostname"])
        for no, r in recs
        if "req" in r
    }
    assert len(exp) == 3
    assert got == exp


# ----------------------------------------------------------------------------- Node fatal heap OOM
def _oom_block(lines: list[str]) -> tuple[int, int]:
    """(1-based line of '<--- Last few GCs --->', number of lines from it to the end)."""
    first = next(i for i, ln in enumerate(lines, 1) if ln.strip())
    assert lines[first - 1] == "<--- Last few GCs --->", lines[first - 1]
    return first, len(lines) - first + 1


def test_heap_oom_stderr_is_one_event(cli):
    path = F / "node" / "heap-oom.stderr.log"
    lines = lines_of(path)
    assert any(re.match(r"^FATAL ERROR: .*JavaScript heap out of memory$", ln) for ln in lines)
    assert (RAW / "heap-oom.exit_code").read_text().strip() == "134"  # the run aborted (SIGABRT)
    first, count = _oom_block(lines)
    src = ingest(cli, path)
    assert (src["lines"], src["lines_rejected"]) == (len(lines), 0)
    got = events(cli, src, "line_no, line_count, kind, level, error_class, message")
    assert len(got) == 1, f"expected the whole block as one event, got {len(got)}: {[g[:5] for g in got]}"
    line_no, line_count, kind, level, error_class, message = got[0]
    assert (line_no, line_count, kind, level, error_class) == (first, count, "error", "fatal", "heap_oom")
    for part in ("<--- Last few GCs --->", "Mark-Compact", "<--- JS stacktrace --->",
                 "FATAL ERROR:", "JavaScript heap out of memory", "----- Native stack trace -----"):
        assert part in message, part


def _cri_path() -> Path:
    found = sorted((F / "cri" / "var" / "log" / "pods").glob(f"shop_{POD}_*/checkout/0.log"))
    assert len(found) == 1, found
    return found[0]


def test_heap_oom_cri_is_one_stderr_event(cli):
    """The same OOM run as containerd writes it: stdout lines first, then the stderr block."""
    path = _cri_path()
    raw = lines_of(path)
    parsed = [re.match(r"^(\S+) (stdout|stderr) ([PF]) ?(.*)$", ln).groups() for ln in raw]
    assert all(tag == "F" for _, _, tag, _ in parsed)
    err = [(no, ts, text) for no, (ts, stream, _, text) in enumerate(parsed, 1) if stream == "stderr"]
    first_no, first_ts, _ = next(e for e in err if e[2].strip())
    assert err[-1][0] == len(raw)  # the block runs to the end of the file
    count = len(raw) - first_no + 1
    src = ingest(cli, path)
    assert src["format"] == "cri"
    assert (src["pod"], src["namespace"], src["container"]) == (POD, "shop", "checkout")
    assert (src["lines"], src["lines_rejected"]) == (len(raw), 0)
    got = events(cli, src, "line_no, line_count, ts, stream, kind, level, error_class, pod, message",
                 "error_class = 'heap_oom'")
    assert len(got) == 1, got
    line_no, line_count, ts, stream, kind, level, error_class, pod, message = got[0]
    assert (line_no, line_count) == (first_no, count)
    assert ts == iso_utc(first_ts)
    assert (stream, kind, level, error_class, pod) == ("stderr", "error", "fatal", "heap_oom", POD)
    assert "<--- Last few GCs --->" in message and "JavaScript heap out of memory" in message
    # stdout lines stay apart from the stderr block
    assert not any(t in message for _, s, _, t in parsed if s == "stdout" and t)


# ----------------------------------------------------------------------------- Java
JAVA_HEAD = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) \[([^\]]+)\] (\w+)\s+(\S+) - (.*)$")


def test_java_logback_stack_trace_folds(cli):
    path = F / "java" / "checkout.log"
    lines = lines_of(path)
    heads = [(no, JAVA_HEAD.match(ln)) for no, ln in enumerate(lines, 1) if JAVA_HEAD.match(ln)]
    folded = len(lines) - len(heads)
    assert folded > 5
    src = ingest(cli, path, "--store-lines")
    assert (src["lines"], src["lines_rejected"], src["lines_folded"]) == (len(lines), 0, folded)
    levels = {"INFO": "info", "WARN": "warn", "ERROR": "error"}
    stored = stored_levels(cli, src)
    for no, m in heads:
        assert stored[no] == levels[m.group(3)], (no, stored[no], m.group(0))
    got = by_line(cli, src, "ts, level, kind, line_count, cpu_count, message")
    for no, g in got.items():
        m = dict(heads)[no]
        assert g[0] == dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC), (no, g)
    # the ERROR with its whole exception chain is one event
    (err_no, err_m), = [(no, m) for no, m in heads if m.group(3) == "ERROR"]
    nxt = next(no for no, _ in heads if no > err_no)
    _, level, _, line_count, _, message = got[err_no]
    assert (level, line_count) == ("error", nxt - err_no)
    for ln in lines[err_no - 1:nxt - 1]:
        assert ln.strip() in message, ln
    assert "Caused by: java.lang.IllegalStateException" in message
    assert "Caused by: java.net.ConnectException: Connection refused" in message
    assert re.search(r"\.\.\. \d+ more", message)
    # availableProcessors=N -> cpu_count
    (cpu_no, cpu_m), = [(no, m) for no, m in heads if "availableProcessors=" in m.group(5)]
    n = int(cpu_m.group(5).split("=")[1])
    assert (got[cpu_no][2], got[cpu_no][4]) == ("cpu_count", n)


# ----------------------------------------------------------------------------- syslog
SYSLOG_RE = re.compile(r"^(?P<mon>\w{3}) +(?P<day>\d+) (?P<hms>\d\d:\d\d:\d\d) (?P<host>\S+) (?P<prog>[^\[:]+)\[(?P<pid>\d+)\]: (?P<msg>.*)$")


def _syslog_lines() -> list[tuple[int, re.Match]]:
    out = []
    for no, line in enumerate(lines_of(F / "syslog" / "syslog"), 1):
        m = SYSLOG_RE.match(line)
        assert m, line
        out.append((no, m))
    return out


def _ny(m: re.Match) -> dt.datetime:
    year = dt.date.today().year  # the format has no year: pmortem's documented default
    naive = dt.datetime.strptime(f"{year} {m['mon']} {m['day']} {m['hms']}", "%Y %b %d %H:%M:%S")
    return naive.replace(tzinfo=ZoneInfo("America/New_York")).astimezone(UTC)


def test_syslog_tz_year_and_levels(cli):
    """rsyslog traditional file format written in New York time: --tz and the current year."""
    parsed = _syslog_lines()
    src = ingest(cli, F / "syslog" / "syslog", "--tz", "America/New_York", "--store-lines")
    assert (src["lines"], src["lines_rejected"]) == (len(parsed), 0)
    assert src["first_ts"] is not None
    got = by_line(cli, src, "ts, level, kind, error_class")
    assert got, "no events"
    for no, g in got.items():
        assert g[0] == _ny(dict(parsed)[no]), (no, g, dict(parsed)[no].group(0))
    # Python logging level names after the tag; logger(1)'s lines carry none
    py = {"INFO": "info", "WARNING": "warn", "ERROR": "error", "CRITICAL": "fatal"}
    stored = stored_levels(cli, src)
    for no, m in parsed:
        word = m["msg"].split(" ", 1)[0]
        if word in py:
            assert stored[no] == py[word], (no, stored[no], m.group(0))
    # the Python traceback arrives as one line (rsyslog escapes newlines as #012)
    (tb_no, tb), = [(no, m) for no, m in parsed if "#012Traceback" in m["msg"]]
    assert got[tb_no][1] == "error"
    (cr_no, _), = [(no, m) for no, m in parsed if "ECONNREFUSED" in m["msg"]]
    assert got[cr_no][2:] == ("error", "econnrefused")


def test_syslog_header_host_and_pid(cli):
    """`Nov 27 01:46:31 vm checkout[8370]: msg`: host and pid come from the syslog header."""
    parsed = _syslog_lines()
    src = ingest(cli, F / "syslog" / "syslog", "--tz", "America/New_York")
    got = by_line(cli, src, "host, pid, kind")
    assert got
    wrong = {}
    for no, g in got.items():
        m = dict(parsed)[no]
        # a worker lifecycle line's pid is the worker's (from the message), not the sender's
        worker = re.search(r"\bWorker (\d+) (?:started|died)", m["msg"])
        pid = int(worker.group(1)) if worker and g[2] in ("worker_start", "worker_exit") else int(m["pid"])
        if (g[0], g[1]) != (m["host"], pid):
            wrong[no] = {"got (host, pid)": g[:2], "expected": (m["host"], pid), "line": m.group(0)[:90]}
    assert not wrong, wrong


# ----------------------------------------------------------------------------- kubectl --timestamps (no --prefix)
def test_kubectl_timestamps_without_prefix(cli):
    path = F / "kubectl" / f"{POD}.log"
    raw = lines_of(path)
    split = [ln.split(" ", 1) for ln in raw]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*[1-9])?Z", ts) for ts, _ in split)
    recs = [json.loads(payload) for _, payload in split]
    src = ingest(cli, path, "--store-lines")
    assert src["format"] == "kubectl"
    assert (src["lines"], src["lines_parsed"], src["lines_rejected"]) == (len(raw), len(raw), 0)
    assert iso_utc(src["first_ts"].replace(" ", "T").replace("+00:00", "Z")) == iso_utc(split[0][0])
    assert stored_levels(cli, src) == {no: PINO_LEVELS[r["level"]] for no, r in enumerate(recs, 1)}
    got = by_line(cli, src, "ts, level, pod, kind")
    assert got
    for no, (ts, level, pod, _kind) in got.items():
        assert ts == iso_utc(split[no - 1][0]), (no, ts, split[no - 1][0])  # the envelope's time
        assert (level, pod) == (PINO_LEVELS[recs[no - 1]["level"]], recs[no - 1]["hostname"])
    kinds = {no: k for no, (_, _, _, k) in got.items()}
    for no, r in enumerate(recs, 1):
        kind, _ = _cluster_kind(r.get("msg", ""))
        if kind:
            assert kinds.get(no) == kind, (no, r)


# ----------------------------------------------------------------------------- Elasticsearch _search (Fluent Bit)
def _es_hits() -> list[dict]:
    doc = json.loads(require(F / "es" / "search-response.json").read_text())
    return [h["_source"] for h in doc["hits"]["hits"]]


def test_es_search_fluent_bit_fields(cli):
    hits = _es_hits()
    src = ingest(cli, F / "es" / "search-response.json")
    assert src["lines_rejected"] == 0
    got = events(cli, src, "ts, pod, namespace, container, host, stream, entity_source")
    assert len(got) == len(hits)
    exp = sorted(
        (iso_utc(h["@timestamp"]), h["kubernetes"]["pod_name"], h["kubernetes"]["namespace_name"],
         h["kubernetes"]["container_name"], h["kubernetes"]["host"], h["stream"])
        for h in hits
    )
    assert sorted(g[:6] for g in got) == exp
    for g in got:
        assert {k: ents(g[6]).get(k) for k in ("pod", "namespace", "container", "host")} == dict.fromkeys(
            ("pod", "namespace", "container", "host"), "envelope")


def test_es_search_level_from_pino_message(cli):
    """The shipped `message` is the pino line: its level (30/40/50) is the event's level."""
    hits = _es_hits()
    src = ingest(cli, F / "es" / "search-response.json")
    got = sorted(events(cli, src, "ts, level"))
    exp = sorted((iso_utc(h["@timestamp"]), PINO_LEVELS[json.loads(h["message"])["level"]]) for h in hits)
    assert any(lvl == "error" for _, lvl in exp)
    assert got == exp


# ----------------------------------------------------------------------------- Jaeger JSON export
def test_jaeger_export(cli):
    doc = json.loads(require(F / "jaeger" / "traces.json").read_text())
    exp = {}
    for trace in doc["data"]:
        for sp in trace["spans"]:
            proc = trace["processes"][sp["processID"]]
            ptags = {t["key"]: t["value"] for t in proc["tags"]}
            tags = {t["key"]: t["value"] for t in sp["tags"]}
            err = tags.get("error") is True
            start = dt.datetime.fromtimestamp(sp["startTime"] // 1_000_000, UTC).replace(
                microsecond=sp["startTime"] % 1_000_000)
            exp[sp["spanID"]] = (
                sp["traceID"], start, sp["duration"] / 1000, proc["serviceName"], ptags["k8s.pod.name"],
                ptags["k8s.namespace.name"], ptags["k8s.node.name"], ptags["process.pid"], tags["peer.service"],
                "error" if err else None,
                {"read timeout": "read_timeout", "context cancelled": "context_cancelled"}.get(
                    tags.get("otel.status_description")) if err else None,
            )
    assert len(exp) == 5
    src = ingest(cli, F / "jaeger" / "traces.json")
    assert src["format"] == "document" and src["lines_rejected"] == 0
    rows = events(cli, src, "span_id, trace_id, ts, duration_ms, service, pod, namespace, host, pid, peer, level, "
                            "error_class, kind")
    assert {r[-1] for r in rows} == {"span"}
    got = {r[0]: r[1:-1] for r in rows}
    assert set(got) == set(exp)
    for sid, e in exp.items():
        g = got[sid]
        assert g[2] == pytest.approx(e[2], abs=1e-9), (sid, g, e)
        assert g[:2] + g[3:] == e[:2] + e[3:], (sid, g, e)


# ----------------------------------------------------------------------------- the whole folder
def test_whole_formats_folder_accounts_for_every_line(cli):
    cli.ok("ingest", str(F), "-q")
    srcs = cli.sources()
    files = sorted(p for p in F.rglob("*") if p.is_file())
    assert sorted(Path(s["path"]).resolve() for s in srcs) == [p.resolve() for p in files]
    for s in srcs:
        assert s["status"] == "complete", s
        assert s["lines"] == s["lines_parsed"] + s["lines_rejected"], s
        assert s["lines_rejected"] == 0, s
        if s["format"] != "document":  # a JSON document's lines all fold into its records
            assert s["lines_parsed"] == s["lines_folded"] + s["lines_generic"] + s["events"], s
