"""Request lines parsed by the native scanner (issue 18.2) against the polars reference.

`_scan.scan` (its request lines, `scan_req_line`) and `requests_fields` take the nginx / ingress access lines, pino-http
`request completed` lines and Java request-log lines that the reference would build into an
`http_request` event only for `requests.split_requests` to count it in the rollup and drop it;
those lines never reach the event builder. Every test here runs both paths chunk by chunk
(test_native.assert_same: events, line index, rejects, counts and the `requests` rollup after
split_requests must be identical) and checks that the native path really took the lines it
should (`request_rows`), so a scanner that took nothing cannot pass by falling back.

Inputs: request-heavy corpora drawn with a seeded generator (the three shapes, statuses and
latencies around every threshold), hand-written edge cases of each shape (what the scanner must
leave to the reference: other rules' literals, escapes, duplicate keys, a bool pid, latencies at
the slow threshold, non-ASCII routes, syslog-looking heads), random mutations of request lines,
and the sample bundles' request files (test_native runs every sample file the same way).
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from pmortem.parsers import native
from pmortem.parsers.catalogue import load_catalogue
from pmortem.parsers.pipeline import SourceContext, parse_chunk_reference
from pmortem.parsers.readers import Chunk
from pmortem.parsers.requests import split_requests
from test_native import _chunks, _run, assert_same

pytestmark = pytest.mark.skipif(not native.available(), reason=str(native.missing_reason()))

CAT = load_catalogue()
PODS = [b"[pod/ingress-nginx-controller-7c9f8d6b5-p4z8x/controller] ", b"[pod/checkout-7d9f8b6c4-qx2lp/app] ",
        b"[pod/billing-svc-6b5c4d8f7-h2k9w/billing] "]
ROUTES = ["/api/users/{a}/cart", "/api/invoices/5f{h}e9a1c3", "/health", "/campaigns", "/api/orders/{a}/items/{b}",
          "/x/550e8400-e29b-41d4-a716-446655440000/y", "/static/app.{h}.js", "/"]
STATUS = [200] * 30 + [201, 204, 301, 304, 400, 401, 403, 404, 408, 422, 429, 499, 500, 502, 503, 504, 0, 99, 599]
MS = [0, 1, 2, 5, 27, 99, 100, 250, 399, 399.9, 399.999, 400, 400.0004, 401, 999, 1500, 12000]


def _route(rnd: random.Random) -> str:
    r = rnd.choice(ROUTES).format(a=rnd.randrange(10**6), b=rnd.randrange(99), h=f"{rnd.randrange(16**8):08x}")
    return r + rnd.choice(["", "", "", "?page=2", "?q=a%20b&x=1"])


def _nginx(rnd: random.Random, t: datetime) -> str:
    st, ms = rnd.choice(STATUS), rnd.choice(MS)
    when = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
    head = f'10.2.{rnd.randrange(250)}.{rnd.randrange(1, 250)} - - [{when}] "{rnd.choice(["GET", "POST", "PUT"])} {_route(rnd)} HTTP/1.1" {st:03d} {rnd.randrange(9999)}'
    secs = f"{ms / 1000:.3f}"
    shape = rnd.randrange(5)
    if shape == 0:  # combined only
        return head + ' "-" "curl/7.88.1"'
    if shape == 1:  # combined + request and upstream time
        return head + f' "-" "Mozilla/5.0 (X11; Linux x86_64) e2e/1.0" {secs} {secs}'
    if shape == 2:  # ingress-nginx upstreaminfo
        return (head + f' "-" "Mozilla/5.0" {rnd.randrange(100, 900)} {secs} [web-account-8080] [] '
                f"10.0.{rnd.randrange(9)}.{rnd.randrange(9)}:8080 {rnd.randrange(999)} {secs} {st} {rnd.randrange(16**12):012x}")
    if shape == 3:  # no referer / agent, only the time
        return head + f" {secs}"
    return head + f' "-" "-" {secs} -'


def _pino(rnd: random.Random, t: datetime) -> str:
    st, ms = rnd.choice(STATUS), rnd.choice(MS)
    obj = {"level": rnd.choice([30, 30, 40, 50]), "time": int(t.timestamp() * 1000), "pid": rnd.choice([1, 7, 25147]),
           "hostname": rnd.choice(["checkout-7d9f8b6c4-qx2lp", "web-1"]),
           "req": {"id": rnd.randrange(999), "method": rnd.choice(["GET", "POST", "get"]), "url": _route(rnd),
                   "headers": {"host": "x"}, "remoteAddress": "10.1.2.3"},
           "res": {"statusCode": st, "headers": {}}, "responseTime": ms, "msg": "request completed"}
    if rnd.random() < 0.3:
        obj["name"] = "checkout"
    if rnd.random() < 0.1:
        obj = {k: v for k, v in reversed(obj.items())}
    return json.dumps(obj, separators=(",", ":"))


def _java(rnd: random.Random, t: datetime) -> str:
    st, ms = rnd.choice(STATUS[:-3]), rnd.choice(MS)
    lvl = "ERROR" if st >= 500 else "INFO "
    tail = rnd.choice([f" {ms}ms", f" {ms} ms", f" took {ms}ms", "", f" in {ms}ms"])
    sep = rnd.choice([" ", " -> ", " status=", "  "])
    return (f"{t:%H:%M:%S}.{t.microsecond // 1000:03d} [http-nio-8080-exec-{rnd.randrange(1, 10)}] {lvl} "
            f"c.e.billing.web.RequestLog - {rnd.choice(['GET', 'POST', 'DELETE'])} {_route(rnd)}{sep}{st}{tail}")


def _other(rnd: random.Random, t: datetime) -> str:
    return rnd.choice([
        '{"level":30,"time":1,"msg":"cache warmed"}',
        "12:00:00.000 [main] INFO  c.e.App - Started App in 3.2 seconds",
        "Worker 4243 started",
        '{"level":50,"msg":"fetch campaign 123 failed: context cancelled"}',
        "    at com.example.Foo.bar(Foo.java:12)",
        "GET /not/a/request/line because no status",
    ])


def _corpus(seed: int, n: int, share: float = 0.75) -> bytes:
    rnd = random.Random(seed)
    t = datetime(2022, 4, 8, 20, 55, tzinfo=UTC)
    out = []
    for _ in range(n):
        t += timedelta(microseconds=rnd.randrange(0, 40_000))
        ts = t.strftime("%Y-%m-%dT%H:%M:%S.%f").encode() + b"Z"
        if rnd.random() < share:
            k = rnd.randrange(3)
            pay, pod = (_nginx, _pino, _java)[k](rnd, t), PODS[k]
        else:
            pay, pod = _other(rnd, t), rnd.choice(PODS)
        out.append(pod + ts + b" " + pay.encode())
    return b"\n".join(out) + b"\n"


def _native_rows(chunks: list[Chunk], envelope: str = "kubectl_prefix") -> int:
    ctx = SourceContext(source_id=1, envelope=envelope, catalogue=CAT, reference_time=datetime(2026, 11, 27, tzinfo=UTC))
    return sum(r.request_rows.height for r in _run(native.parse_chunk_native, chunks, ctx) if r.request_rows is not None)


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 3000])
def test_generated_request_corpus_same_as_reference(seed: int, chunk_bytes: int):
    data = _corpus(seed, 3000)
    chunks = _chunks(data, chunk_bytes)
    t = assert_same(chunks, "kubectl_prefix")
    taken = _native_rows(chunks)
    # most request lines are neither notable nor odd: the scanner takes them
    assert t["requests"] > 1500 and taken > 0.4 * t["requests"], (t, taken)
    assert "http_request" in t["kinds"]  # the notable ones stay events


# ---------------------------------------------------------------- edge cases, one shape at a time
T0 = b"2022-04-08T20:55:00.123456789Z "
NGINX_OK = '10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET /api/users/123/cart?x=1 HTTP/1.1" 200 12 "-" "curl/7.88.1" 0.027 0.026'
PINO_OK = ('{"level":30,"time":1649451300000,"pid":7,"hostname":"web-1","req":{"id":1,"method":"GET","url":"/api/cart/17?x=1"},'
           '"res":{"statusCode":200},"responseTime":22,"msg":"request completed"}')
JAVA_OK = "20:55:00.123 [http-nio-8080-exec-1] INFO  c.e.billing.web.RequestLog - GET /api/users/123/cart 200 45ms"

# (payload, whether the scanner takes it: None = whatever it decides, the reference must agree)
EDGE = [
    (NGINX_OK, True),
    (NGINX_OK.replace(" 0.027 0.026", ""), True),
    (NGINX_OK.replace("0.027", "0.400"), False),  # slow: stays an event
    (NGINX_OK.replace("0.027", "0.399"), True),
    (NGINX_OK.replace("0.027", "0.3999995"), False),  # next to the threshold: left to polars
    (NGINX_OK.replace(" 200 ", " 503 "), False),
    (NGINX_OK.replace(" 200 ", " 499 "), False),
    (NGINX_OK.replace(" 200 ", " 404 "), True),
    (NGINX_OK.replace("/api/users/123/cart", "/api/timeout/1"), False),  # a rule's literal before nginx's
    (NGINX_OK.replace("curl/7.88.1", "Worker-Agent"), False),
    (NGINX_OK.replace("/api/users/123/cart", "/api/ünïcode/1"), False),
    (NGINX_OK.replace("HTTP/1.1", "http/1.1"), True),
    (NGINX_OK.replace("GET /api", "GET api"), True),
    (NGINX_OK.replace('"GET ', '"get '), False),  # no [A-Z]+ method: no match
    (NGINX_OK.replace("10.2.3.4", "Jan 10.2.3.4"), None),
    (NGINX_OK.replace("10.2.3.4", "2022-04-08T20:55:00Z host app[12]:"), None),
    (NGINX_OK.replace("10.2.3.4", "<13>Apr"), None),
    (NGINX_OK + " [web-8080] [] 10.0.0.7:8080 21 0.022 200 abc", True),
    (NGINX_OK.replace('"-" "curl/7.88.1"', '"-" "curl" 211') + " [web-8080] [] 10.0.0.7:8080 21 0.022 200 abc", True),
    ('10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET /a HTTP/1.1" 200 - "-" "-" 1.5 -', False),
    ('10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET /a HTTP/1.1" 200 - "-" "-" 0.5x -', False),
    ('10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET /a HTTP/1.1" 200 - "-" "-" 0.05x -', True),
    ('10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET /a HTTP/1.1" 2000 5', False),
    ('10.2.3.4 - - [] "GET /a HTTP/1.1" 200 5', False),
    ('10.2.3.4  - - [08/Apr/2022:20:55:00 +0000] "GET /a HTTP/1.1" 200 5', False),
    ('10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET /a?b HTTP/1.1" 200 5 "a"b" "c"', True),
    (PINO_OK, True),
    (PINO_OK.replace('"responseTime":22', '"responseTime":400'), False),
    (PINO_OK.replace('"responseTime":22', '"responseTime":399.99'), True),
    (PINO_OK.replace('"responseTime":22', '"responseTime":"22"'), True),  # not a number: no latency
    (PINO_OK.replace('"responseTime":22', '"responseTime":null,"duration_ms":999'), True),
    (PINO_OK.replace('"responseTime":22', '"duration_ms":999'), False),
    (PINO_OK.replace('"responseTime":22', '"elapsed_ms":12.5'), True),
    (PINO_OK.replace('"responseTime":22', '"responseTime":true'), False),
    (PINO_OK.replace('"responseTime":22', '"responseTime":1e2'), False),
    (PINO_OK.replace('"responseTime":22', '"responseTime":-0'), False),
    (PINO_OK.replace('"statusCode":200', '"statusCode":500'), False),
    (PINO_OK.replace('"statusCode":200', '"statusCode":null'), False),
    (PINO_OK.replace('"statusCode":200', '"statusCode":"200"'), False),
    (PINO_OK.replace('"statusCode":200', '"statusCode":true'), False),
    (PINO_OK.replace('"statusCode":200', '"statusCode":200,"statusCode":201'), False),
    (PINO_OK.replace('"pid":7', '"pid":true'), False),
    (PINO_OK.replace('"pid":7', '"pid":"7"'), True),
    (PINO_OK.replace('"pid":7', '"pid":7.0'), True),
    (PINO_OK.replace('"pid":7,', ""), True),
    (PINO_OK.replace('"hostname":"web-1"', '"hostname":"checkout-7d9f8b6c4-qx2lp","name":"checkout"'), True),
    (PINO_OK.replace('"hostname":"web-1"', '"name":3,"service":"svc"'), True),
    (PINO_OK.replace('"hostname":"web-1"', '"hostname":"we\\u00e9b"'), False),
    (PINO_OK.replace('"method":"GET"', '"method":"get"'), True),
    (PINO_OK.replace('"url":"/api/cart/17?x=1"', '"url":"\\/api"'), False),
    (PINO_OK.replace('"url":"/api/cart/17?x=1"', '"url":"/api/ünï/17"'), True),
    (PINO_OK.replace('"url":"/api/cart/17?x=1"', '"url":17'), True),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request timed out"'), False),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","err":null'), False),
    (PINO_OK.replace('"msg":"request completed"', '"message":"request completed"'), False),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","session_id":"abcdef12"'), False),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","upstream":"10.0.0.1:80"'), False),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","extra":[1,{"a":[true,false,null]}]'), True),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","esc":"a\\"b\\\\c\\n"'), True),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","bad":"\\x"'), False),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed",'), False),
    (PINO_OK.replace('"msg":"request completed"', '"msg":"request completed","n":01'), False),
    (PINO_OK + " ", True),
    (PINO_OK + " x", False),
    (PINO_OK.replace('"res":{"statusCode":200}', '"res":{"statusCode":200,"headers":{"a":"b"}},"statusCode":503'), True),
    (JAVA_OK, True),
    (JAVA_OK.replace("45ms", "400ms"), False),
    (JAVA_OK.replace("45ms", "45 ms"), True),
    (JAVA_OK.replace(" 45ms", ""), True),
    (JAVA_OK.replace("200 45ms", "status=200 in 45.5ms"), True),
    (JAVA_OK.replace("200 45ms", "-> 200 took 12ms"), True),
    (JAVA_OK.replace("200 45ms", "200 abcdefghijklm 12ms"), True),  # 13 non-digits: no latency
    (JAVA_OK.replace("200 45ms", "2000 45ms"), False),
    (JAVA_OK.replace("200 45ms", "500 45ms"), False),
    (JAVA_OK.replace("GET", "OPTIONS"), False),
    (JAVA_OK.replace("exec-1", "worker-1"), False),
    (JAVA_OK + " sid=abcdef12", False),
    (JAVA_OK.replace("GET /api", "GET /api/timeout"), False),
    (JAVA_OK.replace("- GET", "-GET"), True),
    (JAVA_OK.replace("- GET", "- xGET /nope 200 1ms GET"), True),
    (JAVA_OK.replace("/api/users/123/cart", "/api/ü"), False),
]


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 700])
def test_edge_cases_same_as_reference(chunk_bytes: int):
    lines = []
    for k, (pay, _) in enumerate(EDGE):
        lines.append(PODS[k % 3] + T0 + pay.encode())
    data = b"\n".join(lines) + b"\n"
    assert_same(_chunks(data, chunk_bytes), "kubectl_prefix")


@pytest.mark.parametrize("k", range(len(EDGE)), ids=[f"{i}-{e[0][:30]}" for i, e in enumerate(EDGE)])
def test_edge_case_taken_or_left(k: int):
    pay, take = EDGE[k]
    data = PODS[k % 3] + T0 + pay.encode() + b"\n"
    chunks = [Chunk(data, 1, 0)]
    assert_same(chunks, "kubectl_prefix")
    if take is not None:
        assert _native_rows(chunks) == int(take), pay


def test_request_followed_by_a_continuation_is_left_to_the_reference():
    """A request line with a stack frame under it is a two-line event: not the scanner's."""
    data = PODS[2] + T0 + JAVA_OK.encode() + b"\n" + PODS[2] + T0 + b"    at com.example.Foo.bar(Foo.java:12)\n"
    chunks = [Chunk(data, 1, 0)]
    assert_same(chunks, "kubectl_prefix")
    assert _native_rows(chunks) == 0


def test_error_level_request_is_counted_not_kept():
    """A pino line at level 50 with a 200 is counted in the rollup and dropped, as the reference does."""
    pay = PINO_OK.replace('"level":30', '"level":50').encode()
    chunks = [Chunk(PODS[1] + T0 + pay + b"\n", 1, 0)]
    t = assert_same(chunks, "kubectl_prefix")
    assert t["requests"] == 1 and t["events"] == 0 and _native_rows(chunks) == 1


def test_random_mutations_same_as_reference():
    """Request lines with bytes deleted, duplicated or swapped for one of the tokens the parsers
    test (quotes, brackets, digits, spaces, escapes, literals)."""
    rnd = random.Random(7)
    toks = ['"', "[", "]", " ", "\\", "0", "9", ".", "?", "/", ":", ",", "{", "}", "-", "ms", "HTTP/", "timeout", "ü", "\t"]
    lines = []
    t = datetime(2022, 4, 8, 20, 55, tzinfo=UTC)
    for i in range(1500):
        pay = (_nginx, _pino, _java)[i % 3](rnd, t)
        for _ in range(rnd.randrange(1, 3)):
            j = rnd.randrange(len(pay) + 1)
            op = rnd.randrange(3)
            if op == 0:
                pay = pay[:j] + pay[j + 1:]
            elif op == 1:
                pay = pay[:j] + rnd.choice(toks) + pay[j:]
            else:
                pay = pay[:j] + rnd.choice(toks) + pay[j + 1:]
        lines.append(PODS[i % 3] + T0 + pay.encode())
    data = b"\n".join(lines) + b"\n"
    t = assert_same(_chunks(data, 1 << 20), "kubectl_prefix")
    assert t["requests"] > 300


def test_user_rules_before_the_request_rules_block_them():
    """A user pattern's literal in a request line: the reference classifies by the user's rule
    (user rules come first), so the scanner must leave the line alone."""
    cat = load_catalogue({"patterns": [{"name": "mine", "kind": "my_kind", "literals": ["cart"], "regex": "cart"}]})
    data = PODS[0] + T0 + NGINX_OK.encode() + b"\n" + PODS[1] + T0 + PINO_OK.encode() + b"\n" + PODS[2] + T0 + JAVA_OK.encode() + b"\n"
    ctx = SourceContext(source_id=1, envelope="kubectl_prefix", catalogue=cat, reference_time=datetime(2026, 11, 27, tzinfo=UTC))
    chunks = [Chunk(data, 1, 0)]
    ref = [split_requests(r, cat.slow_request_ms) for r in _run(parse_chunk_reference, chunks, ctx)]
    nat_raw = _run(native.parse_chunk_native, chunks, ctx)
    nat = [split_requests(r, cat.slow_request_ms) for r in nat_raw]
    assert sum(r.request_rows.height for r in nat_raw if r.request_rows is not None) == 1  # only pino's msg has no "cart"
    for r, n in zip(ref, nat, strict=True):
        assert r.events.equals(n.events) and (r.requests is None) == (n.requests is None)
        assert r.requests is None or r.requests.equals(n.requests)
    assert set(ref[0].events.get_column("kind").to_list()) == {"my_kind"}


def test_every_request_kept_turns_the_scanner_off():
    cat = load_catalogue({"requests": {"events": "all"}})
    assert native.request_plan(cat) is None
    assert native.request_plan(CAT) is not None


def test_request_rows_schema():
    chunks = [Chunk(PODS[0] + T0 + NGINX_OK.encode() + b"\n", 1, 0)]
    ctx = SourceContext(source_id=1, envelope="kubectl_prefix", catalogue=CAT, reference_time=datetime(2026, 11, 27, tzinfo=UTC))
    (res,) = _run(native.parse_chunk_native, chunks, ctx)
    rows = res.request_rows
    assert rows.height == 1 and res.events.height == 0 and res.n_generic == 1
    row = rows.row(0, named=True)
    assert (row["method"], row["route"], row["status"], row["duration_ms"], row["pod"], row["service"]) == (
        "GET", "/api/users/:id/cart", 200, 27.0, "ingress-nginx-controller-7c9f8d6b5-p4z8x", "ingress-nginx-controller")
    keyed = __import__("pmortem.parsers.requests", fromlist=["KEYED"]).KEYED
    assert rows.columns == list(keyed) and rows.schema == rows.cast(keyed).schema


# ---------------------------------------------------------------- plain files (issue 18.3)
LOGHUB = __import__("test_native").LOGHUB
SYSTEMS = __import__("test_native").SYSTEMS


def _raw(seed: int, n: int, shape: str) -> bytes:
    """A raw access log or a raw pino file: no envelope, each line's time its own."""
    rnd = random.Random(seed)
    t = datetime(2022, 4, 8, 20, 55, tzinfo=UTC)
    out = []
    for _ in range(n):
        t += timedelta(microseconds=rnd.randrange(0, 400_000))
        if shape == "nginx":
            out.append(_nginx(rnd, t) if rnd.random() < 0.97 else _other(rnd, t))
        else:
            out.append(_pino(rnd, t) if rnd.random() < 0.75 else
                       json.dumps({"level": 30, "time": int(t.timestamp() * 1000), "pid": 7, "msg": rnd.choice(["cache warmed", "Worker 12 started"])}))
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("shape", ["nginx", "pino"])
@pytest.mark.parametrize("chunk_bytes", [1 << 20, 5000])
def test_raw_files_same_as_reference(shape: str, chunk_bytes: int):
    chunks = _chunks(_raw(11, 3000, shape), chunk_bytes)
    t = assert_same(chunks, "plain")
    assert t["requests"] > 1000 and _native_rows(chunks, "plain") > 0.4 * t["requests"], t


@pytest.mark.parametrize("system", SYSTEMS)
def test_loghub_plain_same_as_reference(system: str):
    """Every Loghub system as the plain file it is (mostly deferred to the reference: only
    IPv4-led access lines and JSON lines with an epoch time are the scanner's)."""
    data = (LOGHUB / system / f"{system}_2k.log").read_bytes()
    for size in (1 << 20, 20_000):
        assert_same(_chunks(data, size), "plain")


PLAIN_EDGE = [
    NGINX_OK,
    NGINX_OK.replace(" +0000]", "]"),  # no zone: the source's zone, the reference's
    NGINX_OK.replace("08/Apr/2022", "30/Feb/2022"),
    NGINX_OK.replace("08/Apr/2022:20:55:00", "08/Apr/2022:24:55:00"),
    NGINX_OK.replace("08/Apr/2022:20:55:00 +0000", "08/Apr/2022:20:55:00 -0530"),
    NGINX_OK.replace("10.2.3.4", "::1"),
    NGINX_OK.replace("10.2.3.4", "client.example.com"),
    NGINX_OK.replace("10.2.3.4 -", "10.2.3.4 1649451300"),
    NGINX_OK.replace("10.2.3.4 -", "10.2.3.4 12"),
    NGINX_OK.replace("10.2.3.4 - -", "10.2.3.4 " + "x" * 120),
    NGINX_OK.replace("10.2.3.4", "1234.5"),
    NGINX_OK.replace("[08/Apr", "[x] [08/Apr"),
    "10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] \"GET /ü HTTP/1.1\" 200 1",
    "    at com.example.Foo.bar(Foo.java:12)",
    "10.2.3.4 nothing here",
    PINO_OK,
    PINO_OK.replace('"time":1649451300000', '"time":"2022-04-08T20:55:00.123Z"'),
    PINO_OK.replace('"time":1649451300000', '"time":1649451300'),
    PINO_OK.replace('"time":1649451300000', '"time":1649451300.5'),
    PINO_OK.replace('"time":1649451300000', '"time":1649451300000000'),
    PINO_OK.replace('"time":1649451300000', '"time":1649451300000000000'),
    PINO_OK.replace('"time":1649451300000', '"time": 1649451300000 '),
    PINO_OK.replace('"time":1649451300000', '"time":"1649451300000"'),
    PINO_OK.replace('"time":1649451300000', '"ts":1649451300001,"time":1649451300000'),
    PINO_OK.replace('"time":1649451300000', '"t":1'),
    PINO_OK.replace('"time":1649451300000', '"time":12345'),
    PINO_OK.replace('"time":1649451300000', '"time":\u00a01649451300000'),
    PINO_OK[:-1],  # truncated: the reference rejects it
    PINO_OK[:-1] + ", ",
    PINO_OK + "  ",
    PINO_OK + " \u00a0",
    '{"time":1649451300000,"level":50,"msg":"boom"',
    "",
    "{}",
]


@pytest.mark.parametrize("chunk_bytes", [1 << 20, 300])
@pytest.mark.parametrize("bom", [False, True])
def test_plain_edge_cases_same_as_reference(chunk_bytes: int, bom: bool):
    data = ("\n".join(PLAIN_EDGE) + "\n").encode()
    data = (b"\xef\xbb\xbf" if bom else b"") + data
    assert_same(_chunks(data, chunk_bytes), "plain")
    assert_same(_chunks(data, chunk_bytes), "plain", {"service": ("web", "flag"), "pod": ("web-1", "path")})


@pytest.mark.parametrize("k", range(len(PLAIN_EDGE)))
def test_plain_edge_case_alone(k: int):
    data = (PLAIN_EDGE[k] + "\n").encode()
    assert_same([Chunk(data, 1, 0)], "plain")


def test_route_templates_made_by_the_scanner_same_as_reference():
    """The scanner's route templates (ASCII routes) against requests.route_template: random
    paths of id-like and word-like segments, runs of ids, empty segments, UUIDs in both cases,
    hex with and without a digit, paths without a leading slash."""
    rnd = random.Random(3)
    segs = ["1", "12", "123456", "abc123", "12345a", "1a2b3c", "deadbeef", "abcdef", "a1b2c", "ABC123",
            "550e8400-e29b-41d4-a716-446655440000", "550E8400-E29B-41D4-A716-446655440000", "550e8400-e29b-41d4-a716-44665544000g",
            "", "api", "v2", "e2e", "x.js", ":id", "0", "00000a", "-", "%20"]
    lines = []
    for i in range(2000):
        path = "/".join(rnd.choice(segs) for _ in range(rnd.randrange(1, 7)))
        path = ("/" if rnd.random() < 0.9 else "") + path + rnd.choice(["", "", "/", "?a=1", "/?b"])
        lines.append(PODS[0] + T0 + f'10.2.3.4 - - [08/Apr/2022:20:55:00 +0000] "GET {path} HTTP/1.1" 200 1 "-" "-" 0.00{i % 10}'.encode())
    chunks = _chunks(b"\n".join(lines) + b"\n", 1 << 20)
    t = assert_same(chunks, "kubectl_prefix")
    assert _native_rows(chunks) == t["requests"] > 1500
