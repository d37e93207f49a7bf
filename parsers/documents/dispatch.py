"""Which document kind a decoded JSON value is (`detect_document`), and its events (`document_events`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .cloudwatch import cloudwatch_event_row, cloudwatch_events, is_cloudwatch_event, is_cloudwatch_response
from .common import DOCUMENT_KINDS, as_dict
from .elasticsearch import es_message, es_search, es_source_row
from .gcp import gcp_entries, gcp_entry_row, is_gcp_entry
from .k8s import k8s_event_row, k8s_items, k8s_kind, pod_events
from .spans import is_flat_span, is_jaeger_trace, jaeger_traces, otlp_spans, span_from_record

# --------------------------------------------------------------------------- detection


def detect_document(obj: Any) -> str | None:
    """Name the document kind (one of DOCUMENT_KINDS), or None if unknown.

    The only top level that may be a JSON array is a list of Cloud Logging
    entries (``gcloud logging read --format=json``).
    """
    if isinstance(obj, list):
        if obj and all(is_gcp_entry(e) for e in obj):
            return "gcp_log_entries"
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("resourceSpans"), list):
        return "otlp_traces"
    data = obj.get("data")
    if isinstance(data, list) and any(
        is_jaeger_trace(t) or isinstance(as_dict(t).get("spans"), list) for t in data
    ):
        return "jaeger_traces"
    if is_jaeger_trace(obj):
        return "jaeger_traces"
    if isinstance(as_dict(obj.get("hits")).get("hits"), list):
        return "es_search"
    items = obj.get("items")
    if isinstance(items, list):
        kinds = {k8s_kind(i) for i in items}
        if "Pod" in kinds or obj.get("kind") == "PodList":
            return "k8s_pod_list"
        if "Event" in kinds or obj.get("kind") == "EventList":
            return "k8s_event_list"
        return None
    kind = k8s_kind(obj)
    if kind == "Pod":
        return "k8s_pod"
    if kind == "Event" and ("reason" in obj or "message" in obj or "note" in obj):
        return "k8s_event"
    if is_flat_span(obj):
        return "otel_span"
    if is_gcp_entry(obj):
        return "gcp_log_entry"
    entries = obj.get("entries")
    if isinstance(entries, list) and entries and all(is_gcp_entry(e) for e in entries):
        return "gcp_log_entries"  # the entries:list REST response
    if is_cloudwatch_response(obj):
        return "cloudwatch_events"
    if is_cloudwatch_event(obj) and ("ingestionTime" in obj or "eventId" in obj):
        return "cloudwatch_event"
    if isinstance(obj.get("_source"), dict) and ("_index" in obj or "_id" in obj):
        return "es_source"  # one hit, as elasticdump writes them one per line
    if "@timestamp" in obj and es_message(obj) is not None:
        return "es_source"
    return None



# --------------------------------------------------------------------------- dispatch

_HANDLERS: dict[str, Callable[[dict], list[dict[str, Any]]]] = {
    "k8s_pod_list": k8s_items,
    "k8s_event_list": k8s_items,
    "k8s_pod": pod_events,
    "k8s_event": lambda obj: [k8s_event_row(obj)],
    "otlp_traces": otlp_spans,
    "jaeger_traces": jaeger_traces,
    "otel_span": lambda obj: [span_from_record(obj)],
    "es_search": es_search,
    "es_source": lambda obj: [es_source_row(obj)],
    "gcp_log_entries": gcp_entries,
    "gcp_log_entry": lambda obj: [gcp_entry_row(obj)],
    "cloudwatch_events": cloudwatch_events,
    "cloudwatch_event": lambda obj: [cloudwatch_event_row(obj)],
}


def document_events(obj: Any, kind: str) -> list[dict[str, Any]]:
    """Canonical event dicts for a document of the given kind (see `detect_document`).

    Keys are EVENT_COLUMNS names; ``ts`` is a UTC datetime, ``attrs`` a dict.
    Raises ValueError for an unknown kind or a top level that is not a JSON
    object (a JSON array is accepted for ``gcp_log_entries`` only).
    """
    handler = _HANDLERS.get(kind)
    if handler is None:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(DOCUMENT_KINDS)}")
    if kind == "gcp_log_entries" and isinstance(obj, list):
        return handler(obj)
    if not isinstance(obj, dict):
        raise ValueError(f"{kind}: expected a JSON object at top level, got {type(obj).__name__}")
    return handler(obj)
