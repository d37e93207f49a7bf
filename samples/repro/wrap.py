#!/usr/bin/env python3
"""Wrap raw captures (capture.py JSONL) in the envelopes SREs actually export.

Pure standard library. Every function takes capture records
``{"ts_ns": int, "stream": "stdout"|"stderr", "line": str}`` (already shifted
if wanted) and returns the exact text a real tool writes:

* ``cri_lines``      containerd/CRI file ``/var/log/pods/<ns>_<pod>_<uid>/<ctr>/0.log``:
                     ``2022-04-08T20:55:00.123456789Z stdout F <line>``; the timestamp
                     always has 9 fraction digits (containerd's fixed layout
                     ``2006-01-02T15:04:05.000000000Z07:00``); a line longer than
                     ``max_line`` bytes is cut into ``P`` pieces of ``max_line`` bytes
                     followed by a final ``F`` piece (containerd's
                     ``max_container_log_line_size``, default 16384).
* ``kubectl_lines``  ``kubectl logs --timestamps [--prefix]``:
                     ``[pod/<pod>/<ctr>] 2022-04-08T20:55:00.12345Z <line>``; the
                     timestamp is Go's ``time.RFC3339Nano`` (trailing zeros of the
                     fraction trimmed, no dot at all if the fraction is 0).
* ``docker_lines``   Docker json-file: ``{"log":"<line>\\n","stream":"stdout","time":"<RFC3339Nano>"}``
                     with Docker's own escaping (``<`` ``>`` ``&`` and control bytes as
                     ``\\u00XX``; only ``\\n`` ``\\r`` ``\\"`` ``\\\\`` short escapes); lines over
                     16 KiB are split over several objects whose ``log`` lacks the ``\\n``.
* ``logcli_lines``   ``logcli query --output=jsonl --timezone=UTC``: Go ``json.Marshal`` of
                     ``{"labels","line","timestamp"}`` (keys sorted, HTML-escaped), newest
                     first unless ``forward=True``.
* ``filebeat_docs``  Elasticsearch NDJSON of Filebeat ``_source`` documents read from a CRI
                     file: ``@timestamp`` with millisecond precision, ``message``,
                     ``stream``, ``log.offset``/``log.file.path``, nested ``kubernetes.*``.
* ``shift_logback_line`` / ``shift_span``: move timestamps that the programs printed
                     themselves (Java logback prefix, span nanos) by the same offset.

Time shift (documented, mechanical, never by hand): ``offset_ns(start, first_ts_ns)``
is ``start - first capture ts``; ``shift(records, off)`` adds it to every ``ts_ns``.

CLI (one capture -> one envelope):
    wrap.py --in raw.jsonl --format cri|kubectl|kubectl-prefix|docker|logcli|logcli-forward|filebeat
            [--start 2022-04-08T20:55:00Z] [--pod P --namespace N --container C --node H]
            [--max-line 16384] [--out FILE]
"""
from __future__ import annotations

import argparse
import datetime as _dt
import json
import re
import sys

EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.UTC)


# ---------------------------------------------------------------- capture I/O
def load_capture(path):
    recs = []
    with open(path, encoding="utf-8") as fh:
        for ln in fh:
            if ln.strip():
                r = json.loads(ln)
                r["ts_ns"] = int(r["ts_ns"])
                recs.append(r)
    recs.sort(key=lambda r: r["ts_ns"])  # stable: keeps arrival order for equal stamps
    return recs


# ---------------------------------------------------------------- time helpers
def parse_rfc3339(s):
    """'2022-04-08T20:55:00Z' or with fraction/offset -> epoch ns (exact)."""
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError(f"not RFC3339: {s!r}")
    y, mo, d, h, mi, se, frac, tz = m.groups()
    dt = _dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(se), tzinfo=_dt.UTC)
    secs = int((dt - EPOCH).total_seconds())
    if tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        secs -= sign * (int(tz[1:3]) * 3600 + int(tz[4:6]) * 60)
    return secs * 1_000_000_000 + int((frac or "0").ljust(9, "0"))


def _split(ts_ns):
    secs, nanos = divmod(int(ts_ns), 1_000_000_000)
    return EPOCH + _dt.timedelta(seconds=secs), nanos


def fmt_fixed9(ts_ns):
    """containerd/CRI: always 9 fraction digits, 'Z'."""
    dt, ns = _split(ts_ns)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns:09d}Z"


def fmt_go_nano(ts_ns):
    """Go time.RFC3339Nano in UTC: trailing zeros trimmed, no '.' when the fraction is 0."""
    dt, ns = _split(ts_ns)
    frac = f"{ns:09d}".rstrip("0")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{frac}" if frac else "") + "Z"


def fmt_millis(ts_ns):
    """Elasticsearch/Filebeat @timestamp: millisecond precision, 'Z'."""
    dt, ns = _split(ts_ns)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1_000_000:03d}Z"


def fmt_seconds(ts_ns):
    """Kubernetes metav1.Time: RFC3339, whole seconds."""
    dt, _ = _split(ts_ns)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def fmt_micro(ts_ns):
    """Kubernetes metav1.MicroTime (event eventTime)."""
    dt, ns = _split(ts_ns)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{ns // 1000:06d}Z"


def offset_ns(start, first_ts_ns):
    """The documented time shift: start - first capture timestamp (ns)."""
    if isinstance(start, str):
        start = parse_rfc3339(start)
    return int(start) - int(first_ts_ns)


def shift(records, off):
    return [dict(r, ts_ns=r["ts_ns"] + off) for r in records]


# ---------------------------------------------------------------- Go-style JSON
_GO_ESC = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def go_json(obj, indent=None):
    """encoding/json output: compact (or MarshalIndent), HTML-escaped, raw UTF-8."""
    if indent is None:
        s = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    else:
        s = json.dumps(obj, ensure_ascii=False, indent=indent, separators=(",", ": "))
    return re.sub("[<>&\u2028\u2029]", lambda m: _GO_ESC[m.group(0)], s)


def docker_json_string(b: bytes) -> str:
    """Docker jsonlog ffjsonWriteJSONBytesAsString escaping of raw bytes."""
    out = ['"']
    s = b.decode("utf-8", errors="replace")
    for ch in s:
        o = ord(ch)
        if o < 0x80:
            if ch in '\\"':
                out.append("\\" + ch)
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\r":
                out.append("\\r")
            elif o < 0x20 or ch in "<>&":
                out.append(f"\\u00{o:02x}")
            else:
                out.append(ch)
        elif ch in "\u2028\u2029":
            out.append(f"\\u{o:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


# ---------------------------------------------------------------- envelopes
def cri_lines(records, max_line=16384):
    """containerd CRI log lines (bytes, each ending in b'\\n')."""
    out = []
    for r in records:
        ts = fmt_fixed9(r["ts_ns"]).encode()
        stream = r["stream"].encode()
        data = r["line"].encode("utf-8")
        while len(data) > max_line:
            out.append(ts + b" " + stream + b" P " + data[:max_line] + b"\n")
            data = data[max_line:]
        out.append(ts + b" " + stream + b" F " + data + b"\n")
    return out


def parse_cri(lines):
    """Reassemble CRI lines (bytes or str) into (ts, stream, line) using P/F tags."""
    res, pending = [], {}
    for ln in lines:
        if isinstance(ln, bytes):
            ln = ln.decode("utf-8")
        ln = ln.rstrip("\n")
        ts, stream, tag, content = ln.split(" ", 3) if ln.count(" ") >= 3 else (ln.split(" ", 2) + [""])
        part = pending.pop(stream, "") + content
        if tag.split(":")[0] == "P":
            pending[stream] = part
        else:
            res.append((ts, stream, part))
    return res


def kubectl_lines(records, pod=None, container=None):
    """kubectl logs --timestamps, with --prefix when pod and container are given."""
    pre = f"[pod/{pod}/{container}] " if pod and container else ""
    return [f"{pre}{fmt_go_nano(r['ts_ns'])} {r['line']}\n" for r in records]


def docker_lines(records, max_line=16384):
    out = []
    for r in records:
        data = r["line"].encode("utf-8") + b"\n"
        t = '"' + fmt_go_nano(r["ts_ns"]) + '"'
        while data:
            piece, data = data[:max_line], data[max_line:]
            out.append('{"log":' + docker_json_string(piece) + ',"stream":' + docker_json_string(r["stream"].encode())
                       + ',"time":' + t + "}\n")
    return out


def logcli_lines(streams, forward=False):
    """streams: iterable of (labels dict, records). Returns jsonl lines, newest first by default."""
    entries = []
    for labels, recs in streams:
        for r in recs:
            entries.append((r["ts_ns"], labels, r["line"]))
    entries.sort(key=lambda e: e[0], reverse=not forward)
    return [go_json({"labels": dict(sorted(lb.items())), "line": line, "timestamp": fmt_go_nano(ts)}) + "\n"
            for ts, lb, line in entries]


def filebeat_docs(records, pod, namespace, container, node, pod_uid, container_id, labels=None,
                  cri_path=None, max_line=16384, agent_version="7.17.1"):
    """Filebeat `container` input documents (as Elasticsearch _source), one per line of the CRI file."""
    labels = labels or {}
    path = cri_path or f"/var/log/pods/{namespace}_{pod}_{pod_uid}/{container}/0.log"
    offset = 0
    docs = []
    for r in records:
        raw = cri_lines([r], max_line=max_line)
        docs.append({
            "@timestamp": fmt_millis(r["ts_ns"]),
            "agent": {"type": "filebeat", "version": agent_version, "hostname": node, "name": node},
            "container": {"id": container_id, "runtime": "containerd",
                          "image": {"name": "registry.example.org/campaign/campaign-service:1.42.0"}},
            "ecs": {"version": "1.12.0"},
            "host": {"name": node},
            "input": {"type": "container"},
            "kubernetes": {
                "container": {"name": container},
                "labels": labels,
                "namespace": namespace,
                "node": {"name": node},
                "pod": {"name": pod, "uid": pod_uid},
            },
            "log": {"file": {"path": path}, "offset": offset},
            "message": r["line"],
            "stream": r["stream"],
        })
        offset += sum(len(x) for x in raw)
    return [json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n" for d in docs]


# ---------------------------------------------------------------- payload timestamps
LOGBACK_TS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})(?= \[)")


def shift_logback_line(line, off):
    """Shift the leading 'yyyy-MM-dd HH:mm:ss.SSS' (UTC) of a logback line; other lines unchanged."""
    m = LOGBACK_TS.match(line)
    if not m:
        return line
    ns = parse_rfc3339(m.group(1).replace(" ", "T") + "Z") + off
    dt, rem = _split(ns)
    return dt.strftime("%Y-%m-%d %H:%M:%S") + f".{rem // 1_000_000:03d}" + line[m.end():]


def shift_span(span, off, extra_attrs=None):
    s = dict(span)
    s["startTimeUnixNano"] = str(int(s["startTimeUnixNano"]) + off)
    s["endTimeUnixNano"] = str(int(s["endTimeUnixNano"]) + off)
    if extra_attrs:
        s["attributes"] = dict(s["attributes"], **extra_attrs)
    return s


def shift_pino_time(records, off_ns):
    """Shift the epoch-ms `time` of pino-style JSON lines by the same offset as their envelope
    (the program printed its own clock; the capture is moved to a fixed date as a whole)."""
    out = []
    for r in records:
        line = r["line"]
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict) and isinstance(obj.get("time"), int):
                obj["time"] += off_ns // 1_000_000
                line = json.dumps(obj, separators=(",", ":"))
        out.append({**r, "line": line})
    return out
def otlp_json(spans_by_resource):
    """OTLP/JSON ExportTraceServiceRequest from [(resource_attrs dict, [flat spans])]."""
    def kv(k, v):
        if isinstance(v, bool):
            return {"key": k, "value": {"boolValue": v}}
        if isinstance(v, int):
            return {"key": k, "value": {"intValue": str(v)}}
        return {"key": k, "value": {"stringValue": str(v)}}
    kinds = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
             "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
    rs = []
    for res_attrs, spans in spans_by_resource:
        out = []
        for s in spans:
            o = {"traceId": s["traceId"], "spanId": s["spanId"], "parentSpanId": s.get("parentSpanId", ""),
                 "name": s["name"], "kind": kinds.get(s["kind"], 0),
                 "startTimeUnixNano": s["startTimeUnixNano"], "endTimeUnixNano": s["endTimeUnixNano"],
                 "attributes": [kv(k, v) for k, v in s["attributes"].items() if k not in res_attrs],
                 "status": {"code": s["status"]["code"]}}
            if s["status"].get("message"):
                o["status"]["message"] = s["status"]["message"]
            out.append(o)
        rs.append({"resource": {"attributes": [kv(k, v) for k, v in res_attrs.items()]},
                   "scopeSpans": [{"scope": {"name": "campaign-service/translation", "version": "1.0.0"},
                                   "spans": out}]})
    return {"resourceSpans": rs}


# ---------------------------------------------------------------- CLI
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="inp", required=True)
    ap.add_argument("--format", required=True,
                    choices=["cri", "kubectl", "kubectl-prefix", "docker", "logcli", "logcli-forward", "filebeat"])
    ap.add_argument("--start", help="shift so the first record lands here (RFC3339)")
    ap.add_argument("--pod", default="pod")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--container", default="app")
    ap.add_argument("--node", default="node")
    ap.add_argument("--uid", default="00000000-0000-0000-0000-000000000000")
    ap.add_argument("--max-line", type=int, default=16384)
    ap.add_argument("--out")
    a = ap.parse_args(argv)
    recs = load_capture(a.inp)
    if a.start and recs:
        recs = shift(recs, offset_ns(a.start, recs[0]["ts_ns"]))
    if a.format == "cri":
        data = b"".join(cri_lines(recs, a.max_line))
    else:
        if a.format == "kubectl":
            lines = kubectl_lines(recs)
        elif a.format == "kubectl-prefix":
            lines = kubectl_lines(recs, a.pod, a.container)
        elif a.format == "docker":
            lines = docker_lines(recs, a.max_line)
        elif a.format.startswith("logcli"):
            labels = {"namespace": a.namespace, "pod": a.pod, "container": a.container, "node_name": a.node}
            lines = logcli_lines([(labels, recs)], forward=a.format.endswith("forward"))
        else:
            lines = filebeat_docs(recs, a.pod, a.namespace, a.container, a.node, a.uid, "0" * 64,
                                  max_line=a.max_line)
        data = "".join(lines).encode("utf-8")
    if a.out:
        with open(a.out, "wb") as fh:
            fh.write(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
