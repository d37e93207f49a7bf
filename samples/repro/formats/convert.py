#!/usr/bin/env python3
"""Mechanical conversions of real captures into export formats we have no live system for.

Nothing here invents log lines: every message and timestamp comes from a capture.

es     Elasticsearch/OpenSearch saved `_search` response (pretty-printed, as Kibana's
       "Inspect > Response" or `curl ...?pretty` shows it) of what Fluent Bit ships from a CRI
       file: the cri parser's fields (`time`, `stream`, `logtag`, `message`), the kubernetes
       filter's metadata (`kubernetes.pod_name`, `namespace_name`, `container_name`, `host`,
       `pod_id`, `labels`, ...), and the es output's `@timestamp` (millisecond precision,
       Logstash_Format On -> index logstash-YYYY.MM.DD).  Hits are newest first, as a
       `sort: [{"@timestamp": "desc"}]` query returns them.  CONVERTED from
       raw/pino-iso.jsonl (a real pino run, captured by node_capture.py), NOT from a live cluster.
jaeger Jaeger query API / UI "Download JSON" export `{"data":[{traceID, spans, processes}]}`
       of a few spans from samples/incident/spans.jsonl (real flat OTLP-named spans):
       microsecond `startTime`/`duration`, `tags[]` typed as Jaeger's OTLP receiver writes
       them (span.kind, otel.status_code, otel.status_description, error=true), the resource
       as `processes.p1`.  CONVERTED, not from a live Jaeger.

Usage: convert.py es RAW_JSONL OUT_JSON | convert.py jaeger SPANS_JSONL OUT_JSON
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import wrap  # noqa: E402

POD = "checkout-7d9f8b6c4-qx2lp"
NAMESPACE = "shop"
CONTAINER = "checkout"
POD_UID = "5b0c7e52-9a63-4f0e-8f1e-2d7c4a1b9e30"
NODE = "ip-10-0-1-42.eu-west-1.compute.internal"
CONTAINER_ID = hashlib.sha256(b"checkout-container").hexdigest()


def es_search(records: list[dict]) -> dict:
    hits = []
    for r in records:
        cri_line = wrap.cri_lines([r])[0].decode("utf-8").rstrip("\n")
        ts9, stream, tag, message = cri_line.split(" ", 3)
        ts_ms = wrap.fmt_millis(r["ts_ns"])
        src = {
            "@timestamp": ts_ms,
            "time": ts9,
            "stream": stream,
            "logtag": tag,
            "message": message,
            "kubernetes": {
                "pod_name": POD,
                "namespace_name": NAMESPACE,
                "pod_id": POD_UID,
                "labels": {"app": "checkout", "pod-template-hash": "7d9f8b6c4"},
                "host": NODE,
                "container_name": CONTAINER,
                "docker_id": CONTAINER_ID,
                "container_hash": "registry.example.org/shop/checkout@sha256:" + CONTAINER_ID,
                "container_image": "registry.example.org/shop/checkout:2.4.1",
            },
        }
        doc_id = base64.urlsafe_b64encode(hashlib.sha1(cri_line.encode()).digest()[:15]).decode()
        hits.append({
            "_index": "logstash-" + ts_ms[:10].replace("-", "."),
            "_id": doc_id,
            "_score": None,
            "_source": src,
            "sort": [r["ts_ns"] // 1_000_000],
        })
    hits.sort(key=lambda h: h["sort"][0], reverse=True)
    return {
        "took": 7,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": {"value": len(hits), "relation": "eq"}, "max_score": None, "hits": hits},
    }


def _tag(key, value):
    if isinstance(value, bool):
        return {"key": key, "type": "bool", "value": value}
    if isinstance(value, int):
        return {"key": key, "type": "int64", "value": value}
    return {"key": key, "type": "string", "value": str(value)}


RESOURCE_KEYS = ("service.name", "process.pid", "k8s.pod.name", "k8s.namespace.name", "k8s.node.name")


def jaeger(spans: list[dict]) -> dict:
    data = []
    for s in spans:
        attrs = s["attributes"]
        start_ns, end_ns = int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"])
        tags = [_tag(k, v) for k, v in attrs.items() if k not in RESOURCE_KEYS]
        tags.append(_tag("span.kind", s["kind"].removeprefix("SPAN_KIND_").lower()))
        code = s["status"]["code"]
        if code == 2:
            tags.append(_tag("otel.status_code", "ERROR"))
            if s["status"].get("message"):
                tags.append(_tag("otel.status_description", s["status"]["message"]))
            tags.append(_tag("error", True))
        elif code == 1:
            tags.append(_tag("otel.status_code", "OK"))
        refs = []
        if s.get("parentSpanId"):
            refs.append({"refType": "CHILD_OF", "traceID": s["traceId"], "spanID": s["parentSpanId"]})
        data.append({
            "traceID": s["traceId"],
            "spans": [{
                "traceID": s["traceId"],
                "spanID": s["spanId"],
                "operationName": s["name"],
                "references": refs,
                "startTime": start_ns // 1000,
                "duration": (end_ns - start_ns) // 1000,
                "tags": tags,
                "logs": [],
                "processID": "p1",
                "warnings": None,
                "flags": 1,
            }],
            "processes": {"p1": {
                "serviceName": attrs["service.name"],
                "tags": [_tag(k, attrs[k]) for k in RESOURCE_KEYS if k in attrs and k != "service.name"],
            }},
            "warnings": None,
        })
    return {"data": data, "total": 0, "limit": 0, "offset": 0, "errors": None}


def pick_spans(path: str) -> list[dict]:
    """Deterministic choice: earliest 2 OK, 2 'read timeout', 1 'context cancelled' spans."""
    spans = [json.loads(ln) for ln in open(path, encoding="utf-8") if ln.strip()]
    spans.sort(key=lambda s: int(s["startTimeUnixNano"]))
    want = {"": 2, "read timeout": 2, "context cancelled": 1}
    out = []
    for s in spans:
        msg = s["status"].get("message") or ""
        if want.get(msg, 0) > 0:
            want[msg] -= 1
            out.append(s)
    return out


def main(argv: list[str]) -> int:
    what, src, dst = argv
    if what == "es":
        doc = es_search(wrap.load_capture(src))
    elif what == "jaeger":
        doc = jaeger(pick_spans(src))
    else:
        sys.exit(__doc__)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, ensure_ascii=False)
        fh.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
