"""Spans: OTLP/JSON `resourceSpans`, the Jaeger query API, flat OTel span records."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .common import (
    SPAN_KINDS,
    STATUS_NAMES,
    as_dict,
    as_int,
    as_list,
    as_str,
    attribute_map,
    epoch_us,
    event_row,
    first_of,
    is_true,
    jaeger_tags,
    lookup,
    span_error_class,
    trace_id_hex,
    unix_nano,
)

_RESOURCE_KEYS = (
    "service.name",
    "k8s.pod.name",
    "k8s.namespace.name",
    "k8s.node.name",
    "k8s.container.name",
    "host.name",
    "process.pid",
)


def _resource_map(resource: Any) -> dict[str, Any]:
    """OTLP ``{"attributes": [...]}``, ``{"attributes": {...}}`` or a plain map -> plain map."""
    if not isinstance(resource, dict):
        return {}
    if "attributes" in resource and isinstance(resource["attributes"], (list, dict)):
        return attribute_map(resource["attributes"])
    return attribute_map(resource)


def _span_kind(value: Any) -> str | None:
    n = as_int(value)
    if n is not None:
        return SPAN_KINDS.get(n)
    text = as_str(value)
    if text is None:
        return None
    return text.upper().removeprefix("SPAN_KIND_").lower()


def _status_code(value: Any) -> int | None:
    n = as_int(value)
    if n is not None:
        return n
    text = as_str(value)
    if text is None:
        return None
    return STATUS_NAMES.get(text.upper().removeprefix("STATUS_CODE_"))


def _span_row(
    *,
    trace_id: Any,
    span_id: Any,
    parent_span_id: Any,
    name: Any,
    start: dt.datetime | None,
    ts_text: str | None,
    duration_ms: float | None,
    kind: str | None,
    status: int | None,
    status_message: str | None,
    attributes: dict[str, Any],
    resource: dict[str, Any],
    exception_messages: list[str],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    def res(key: str) -> Any:
        return first_of(resource.get(key), attributes.get(key))

    attrs = dict(attributes)
    attrs.update(extra or {})
    attrs["parent_span_id"] = trace_id_hex(parent_span_id)
    attrs["span_kind"] = kind
    exception_message = first_of(attributes.get("exception.message"), *exception_messages)
    if exception_message is not None and "exception.message" not in attrs:
        attrs["exception.message"] = exception_message
    return event_row(
        ts=start,
        ts_text=ts_text,
        kind="span",
        trace_id=trace_id_hex(trace_id),
        span_id=trace_id_hex(span_id),
        duration_ms=duration_ms,
        service=as_str(res("service.name")),
        pod=as_str(res("k8s.pod.name")),
        namespace=as_str(res("k8s.namespace.name")),
        container=as_str(res("k8s.container.name")),
        host=as_str(first_of(res("k8s.node.name"), res("host.name"), res("hostname"))),
        pid=as_int(res("process.pid")),
        route=as_str(name),
        status=status,
        level="error" if status == 2 else None,
        message=as_str(first_of(status_message, name)),
        peer=as_str(
            first_of(
                attributes.get("peer.service"),
                attributes.get("server.address"),
                attributes.get("net.peer.name"),
                attributes.get("http.host"),
            )
        ),
        error_class=span_error_class(status_message, exception_message),
        attrs=attrs,
    )


def span_from_record(rec: dict, resource: dict | None = None) -> dict[str, Any]:
    """One OTLP span (nested in resourceSpans, or flat one-per-line) -> a ``span`` row.

    ``resource`` is the enclosing resource (``{"attributes": [...]}`` or a plain
    map). A flat record may carry its own ``resource`` (either form) or put the
    resource attributes (``service.name``, ``k8s.pod.name``, ...) at top level;
    explicit values win over the enclosing ones.
    """
    if not isinstance(rec, dict):
        raise ValueError(f"span: expected a JSON object, got {type(rec).__name__}")
    res = _resource_map(resource)
    res.update(_resource_map(rec.get("resource")))
    for key in _RESOURCE_KEYS:
        top = lookup(rec, key)
        if top is not None and not isinstance(top, (dict, list)):
            res.setdefault(key, top)
    attributes = attribute_map(rec.get("attributes"))
    start_ns = unix_nano(first_of(rec.get("startTimeUnixNano"), rec.get("start_time_unix_nano")))
    end_ns = unix_nano(first_of(rec.get("endTimeUnixNano"), rec.get("end_time_unix_nano")))
    status = as_dict(rec.get("status"))
    exceptions = [
        m
        for ev in as_list(rec.get("events"))
        if isinstance(ev, dict)
        for m in [attribute_map(ev.get("attributes")).get("exception.message")]
        if isinstance(m, str)
    ]
    scope = as_dict(rec.get("scope")) or as_dict(rec.get("instrumentationScope"))
    extra = {"scope": as_str(scope.get("name"))} if scope.get("name") else None
    raw_start = first_of(rec.get("startTimeUnixNano"), rec.get("start_time_unix_nano"))
    return _span_row(
        trace_id=first_of(rec.get("traceId"), rec.get("trace_id")),
        span_id=first_of(rec.get("spanId"), rec.get("span_id")),
        parent_span_id=first_of(rec.get("parentSpanId"), rec.get("parent_span_id")),
        name=rec.get("name"),
        start=epoch_us(start_ns // 1000) if start_ns else None,
        ts_text=as_str(raw_start),
        duration_ms=(end_ns - start_ns) / 1e6 if start_ns and end_ns else None,
        kind=_span_kind(rec.get("kind")),
        status=_status_code(first_of(status.get("code"), rec.get("status_code"))),
        status_message=as_str(first_of(status.get("message"), rec.get("status_message"))),
        attributes=attributes,
        resource=res,
        exception_messages=exceptions,
        extra=extra,
    )


def otlp_spans(obj: dict) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rs in as_list(obj.get("resourceSpans")):
        rs = as_dict(rs)
        resource = as_dict(rs.get("resource"))
        scopes = as_list(rs.get("scopeSpans")) or as_list(rs.get("instrumentationLibrarySpans"))
        for ss in scopes:
            ss = as_dict(ss)
            scope = as_dict(ss.get("scope")) or as_dict(ss.get("instrumentationLibrary"))
            for span in as_list(ss.get("spans")):
                if isinstance(span, dict):
                    rec = {**span, "scope": scope} if scope and "scope" not in span else span
                    rows.append(span_from_record(rec, resource))
    return rows


def _jaeger_parent(span: dict) -> Any:
    """Jaeger's own rule: the first CHILD_OF reference within the same trace."""
    for ref in as_list(span.get("references")):
        ref = as_dict(ref)
        if ref.get("refType") == "CHILD_OF" and ref.get("traceID") == span.get("traceID"):
            return ref.get("spanID")
    return span.get("parentSpanID")


def _jaeger_error_log(span: dict) -> str | None:
    for log in as_list(span.get("logs")):
        fields = jaeger_tags(as_dict(log).get("fields"))
        if fields.get("event") in ("error", "exception"):
            msg = first_of(
                fields.get("message"),
                fields.get("exception.message"),
                fields.get("error.message"),
                fields.get("error.object"),
            )
            if isinstance(msg, str):
                return msg
    return None


def _jaeger_spans(trace: dict) -> list[dict[str, Any]]:
    processes = as_dict(trace.get("processes"))
    rows: list[dict[str, Any]] = []
    for span in as_list(trace.get("spans")):
        if not isinstance(span, dict):
            continue
        process = as_dict(span.get("process")) or as_dict(processes.get(span.get("processID")))
        resource = jaeger_tags(process.get("tags"))
        if process.get("serviceName"):
            resource["service.name"] = process["serviceName"]
        tags = jaeger_tags(span.get("tags"))
        otel_status = as_str(tags.get("otel.status_code"))
        if is_true(tags.get("error")) or (otel_status or "").upper() == "ERROR":
            status = 2
        elif (otel_status or "").upper() == "OK":
            status = 1
        else:
            status = None
        error_log = _jaeger_error_log(span)
        status_message = as_str(first_of(tags.get("otel.status_description"), error_log))
        start_us = as_int(span.get("startTime"))
        duration_us = span.get("duration")
        rows.append(
            _span_row(
                trace_id=span.get("traceID"),
                span_id=span.get("spanID"),
                parent_span_id=_jaeger_parent(span),
                name=span.get("operationName"),
                start=epoch_us(start_us) if start_us else None,
                ts_text=as_str(span.get("startTime")),
                duration_ms=duration_us / 1000
                if isinstance(duration_us, (int, float)) and not isinstance(duration_us, bool)
                else None,
                kind=_span_kind(tags.get("span.kind")),
                status=status,
                status_message=status_message,
                attributes=tags,
                resource=resource,
                exception_messages=[error_log] if error_log else [],
            )
        )
    return rows


def jaeger_traces(obj: dict) -> list[dict[str, Any]]:
    traces = as_list(obj.get("data")) if "data" in obj else [obj]
    return [row for trace in traces if isinstance(trace, dict) for row in _jaeger_spans(trace)]


def is_flat_span(obj: dict) -> bool:
    has_ids = ("traceId" in obj or "trace_id" in obj) and ("spanId" in obj or "span_id" in obj)
    return has_ids and ("startTimeUnixNano" in obj or "start_time_unix_nano" in obj)


def is_jaeger_trace(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("spans"), list)
        and ("processes" in obj or "traceID" in obj)
    )
