"""Elasticsearch / OpenSearch: saved `_search` responses and `_source` documents."""

from __future__ import annotations

from typing import Any

from .common import (
    as_dict,
    as_int,
    as_list,
    as_str,
    entity_source,
    event_row,
    first_of,
    level_name,
    lookup,
    parse_time,
    trace_id_hex,
)

# Each entity field and where each shipper puts it, first found wins:
# Filebeat (ECS) / Fluent Bit kubernetes filter / OpenTelemetry (top level,
# resource.attributes, attributes). `lookup` handles nested and flattened keys.
_OTEL_PREFIXES = ("", "resource.attributes.", "resource.", "attributes.")


def _otel(key: str) -> tuple[str, ...]:
    return tuple(prefix + key for prefix in _OTEL_PREFIXES)


ES_ENTITY_PATHS: dict[str, tuple[str, ...]] = {
    "pod": ("kubernetes.pod.name", "kubernetes.pod_name", *_otel("k8s.pod.name")),
    "namespace": ("kubernetes.namespace", "kubernetes.namespace_name", *_otel("k8s.namespace.name")),
    "container": ("kubernetes.container.name", "kubernetes.container_name", *_otel("k8s.container.name")),
    "host": ("kubernetes.node.name", "kubernetes.host", *_otel("k8s.node.name"), *_otel("host.name")),
    "service": (
        *_otel("service.name"),
        "kubernetes.labels.app_kubernetes_io/name",  # Filebeat de-dots label keys
        "kubernetes.labels.app.kubernetes.io/name",
        "kubernetes.labels.app",
    ),
    "pid": _otel("process.pid"),
}


def es_entities(doc: dict) -> dict[str, Any]:
    """Entity fields of one ``_source`` document, for any of the common shippers.

    Returns only the fields found (subset of service, namespace, pod, container,
    host, pid) plus ``entity_source``: JSON text ``{"pod": "envelope", ...}``
    naming them, ready to merge into an event row.
    """
    out: dict[str, Any] = {}
    for field, paths in ES_ENTITY_PATHS.items():
        for path in paths:
            value = lookup(doc, path)
            value = as_int(value) if field == "pid" else as_str(value)
            if value is not None:
                out[field] = value
                break
    source = entity_source(out, tuple(ES_ENTITY_PATHS), "envelope")
    if source:
        out["entity_source"] = source
    return out


def es_timestamp(doc: dict) -> Any:
    """``@timestamp``; else a shipper's renamed one (Fluent Bit ``Time_Key @timestamp_es``); else ``time``."""
    if doc.get("@timestamp") is not None:
        return doc["@timestamp"]
    for key, value in doc.items():
        if isinstance(key, str) and key.startswith("@timestamp") and value is not None:
            return value
    return first_of(lookup(doc, "timestamp"), doc.get("time"))


def es_source_row(doc: dict) -> dict[str, Any]:
    """One ``log`` row from an Elasticsearch/OpenSearch ``_source`` (message left unclassified)."""
    doc = _unwrap_hit(doc)
    raw_ts = es_timestamp(doc)
    return event_row(
        ts=parse_time(raw_ts),
        ts_text=as_str(raw_ts),
        kind="log",
        message=as_str(es_message(doc)),
        level=level_name(first_of(lookup(doc, "log.level"), lookup(doc, "level"), lookup(doc, "severity_text"))),
        stream=as_str(
            first_of(lookup(doc, "stream"), lookup(doc, "log.iostream"), lookup(doc, "attributes.log.iostream"))
        ),
        trace_id=trace_id_hex(first_of(lookup(doc, "trace.id"), lookup(doc, "trace_id"))),
        span_id=trace_id_hex(first_of(lookup(doc, "span.id"), lookup(doc, "span_id"))),
        **es_entities(doc),
    )


def es_search(obj: dict) -> list[dict[str, Any]]:
    hits = as_list(as_dict(obj.get("hits")).get("hits"))
    return [
        es_source_row(hit["_source"])
        for hit in hits
        if isinstance(hit, dict) and isinstance(hit.get("_source"), dict)
    ]


def _unwrap_hit(obj: dict) -> dict:
    """One Elasticsearch hit (``{"_index", "_id", "_source"}``) -> its ``_source``."""
    if isinstance(obj.get("_source"), dict) and ("_index" in obj or "_id" in obj):
        return obj["_source"]
    return obj


def es_message(doc: dict) -> Any:
    message = first_of(
        lookup(doc, "message"),
        lookup(doc, "log.original"),
        lookup(doc, "body.text"),
        lookup(doc, "body_text"),
    )
    if message is None and isinstance(doc.get("log"), str):  # Fluent Bit / docker keep the raw line in `log`
        message = doc["log"].rstrip("\n")
    if message is None and isinstance(doc.get("body"), str):  # OpenTelemetry log body
        message = doc["body"]
    return message
