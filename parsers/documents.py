"""Whole JSON documents and JSON records -> canonical event rows.

The input is already-decoded JSON (dicts and lists); nothing here reads files.
Each function returns plain dicts keyed by `parsers.schema.EVENT_COLUMNS`:
`ts` is a timezone-aware UTC datetime (microseconds), `attrs` is a dict the
caller JSON-encodes. A field the document lacks is None; a valid but partial
document never raises.

Document kinds (`detect_document`):

- ``k8s_pod_list`` / ``k8s_pod``: ``kubectl get pod(s) -o json``
- ``k8s_event_list`` / ``k8s_event``: ``kubectl get events -o json`` (core/v1
  and events.k8s.io/v1 shapes)
- ``otlp_traces``: OTLP/JSON ``resourceSpans``
- ``jaeger_traces``: Jaeger query API ``{"data": [trace, ...]}`` or one trace
- ``otel_span``: one flat span per record with OTLP field names
- ``es_search``: a saved ``_search`` response (``hits.hits[]._source``)
- ``es_source``: one ``_source`` document (or one hit wrapping it)
- ``gcp_log_entries`` / ``gcp_log_entry``: Google Cloud Logging ``LogEntry``
  objects: ``gcloud logging read --format=json`` (a JSON array), the
  ``entries:list`` response (``{"entries": [...]}``), or one entry per line
  (Cloud Storage sink exports, ``jq -c '.[]'``)
- ``cloudwatch_events`` / ``cloudwatch_event``: AWS CloudWatch Logs
  ``aws logs filter-log-events`` / ``get-log-events`` output, a decoded
  subscription payload (``logEvents[]``), or one event per line
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from .schema import EVENT_COLUMNS

UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

DOCUMENT_KINDS = (
    "k8s_pod_list",
    "k8s_pod",
    "k8s_event_list",
    "k8s_event",
    "otlp_traces",
    "jaeger_traces",
    "otel_span",
    "es_search",
    "es_source",
    "gcp_log_entries",
    "gcp_log_entry",
    "cloudwatch_events",
    "cloudwatch_event",
)

# Span error messages -> error_class, first match wins. Go says "context canceled",
# most others "cancelled"; Node says ECONNRESET / "socket hang up"; Vert.x says
# "Response is closed" when the client has gone.
SPAN_ERROR_CLASSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("context_cancelled", re.compile(r"context cancel?led", re.I)),
    ("read_timeout", re.compile(r"read timeout|timed out|ETIMEDOUT", re.I)),
    ("econnreset", re.compile(r"ECONNRESET|socket hang up|connection reset by peer", re.I)),
    ("econnrefused", re.compile(r"ECONNREFUSED|connection refused", re.I)),
    ("response_closed", re.compile(r"Response is closed")),
)

_LEVELS = {
    "trace": "trace",
    "debug": "debug",
    "info": "info",
    "information": "info",
    "notice": "info",
    "warn": "warn",
    "warning": "warn",
    "error": "error",
    "err": "error",
    "fatal": "fatal",
    "critical": "fatal",
    "crit": "fatal",
    "alert": "fatal",
    "emerg": "fatal",
    "emergency": "fatal",
    "panic": "fatal",
}

_SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
_STATUS_NAMES = {"UNSET": 0, "OK": 1, "ERROR": 2}


# --------------------------------------------------------------------------- helpers


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []


def _str(value: Any) -> str | None:
    """A non-empty string, or None (numbers are stringified, containers are not)."""
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    return None


def lookup(doc: Any, path: str) -> Any:
    """Value at a dotted path, whether the document spells it nested or flattened.

    ``{"kubernetes.pod.name": x}``, ``{"kubernetes": {"pod": {"name": x}}}`` and
    ``{"kubernetes": {"pod.name": x}}`` all answer ``x`` for ``kubernetes.pod.name``;
    keys that themselves contain dots (``k8s.pod.name`` under ``attributes``,
    ``app.kubernetes.io/name`` under ``labels``) work the same way.
    """
    return _lookup(doc, path.split("."))


def _lookup(doc: Any, parts: list[str]) -> Any:
    if not isinstance(doc, dict):
        return None
    for i in range(len(parts), 0, -1):  # longest key first
        key = ".".join(parts[:i])
        if key in doc:
            if i == len(parts):
                return doc[key]
            found = _lookup(doc[key], parts[i:])
            if found is not None:
                return found
    return None


_ISO = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*"
    r"(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$"
)


def parse_time(value: Any) -> dt.datetime | None:
    """RFC 3339 / ISO 8601 text -> UTC datetime (fraction truncated to microseconds).

    A zone-less text is taken as UTC. Numbers are epoch milliseconds (what
    Elasticsearch returns for a ``date`` field stored as a number).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return _epoch_us(int(value) * 1000) if isinstance(value, int) else _epoch_us(round(value * 1000))
    if not isinstance(value, str):
        return None
    m = _ISO.match(value)
    if not m:
        return None
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    micro = int((m.group(7) or "0")[:6].ljust(6, "0"))
    zone = m.group(8)
    offset = dt.timedelta(0)
    if zone and zone not in ("Z", "z", "UTC"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    try:
        local = dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=dt.timezone(offset))
    except ValueError:
        return None
    return local.astimezone(UTC)


def _epoch_us(us: int) -> dt.datetime | None:
    try:
        return EPOCH + dt.timedelta(microseconds=us)
    except OverflowError:
        return None


def _unix_nano(value: Any) -> int | None:
    """OTLP ``*TimeUnixNano``: a decimal string (proto3 JSON) or an int; 0 means unset."""
    ns = _int(value)
    return ns if ns else None


def _first(*values: Any) -> Any:
    for v in values:
        if v is not None and v != "":
            return v
    return None


_QUANTITY = re.compile(
    r"^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?\s*$"
)
_SUFFIX = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal | None:
    """A Kubernetes resource quantity ("500m", "2Gi", "1G", "129e6", 3) as a Decimal."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    if not isinstance(value, str):
        return None
    m = _QUANTITY.match(value)
    if not m:
        return None
    try:
        return Decimal(m.group(1)) * _SUFFIX[m.group(2)]
    except InvalidOperation:
        return None


def cpu_cores(value: Any) -> float | None:
    """CPU quantity -> cores: "1" -> 1.0, "500m" -> 0.5."""
    q = parse_quantity(value)
    return float(q) if q is not None else None


def memory_bytes(value: Any) -> int | None:
    """Memory quantity -> bytes: "2Gi" -> 2147483648, "1G" -> 1000000000 (fractions round up)."""
    q = parse_quantity(value)
    return math.ceil(q) if q is not None else None


_HEX_ID = re.compile(r"[0-9a-fA-F]{32}|[0-9a-fA-F]{16}")
_B64_ID = re.compile(r"[A-Za-z0-9+/]{22}==|[A-Za-z0-9+/]{11}=|[A-Za-z0-9+/]{24}|[A-Za-z0-9+/]{12}")


def trace_id_hex(value: Any) -> str | None:
    """A trace or span id as lower-case hex.

    OTLP/JSON says hex, but some exporters write the protobuf bytes as base64
    (24 characters for a trace id, 12 for a span id). Hex wins where both fit.
    All-zero ids mean "none". Anything else is kept as written (Jaeger may
    drop leading zeros), lower-cased.
    """
    text = _str(value)
    if text is None:
        return None
    if _HEX_ID.fullmatch(text):
        out = text.lower()
    elif _B64_ID.fullmatch(text):
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        out = raw.hex() if len(raw) in (8, 16) else text.lower()
    else:
        out = text.lower()
    return None if out.strip("0") == "" else out


def any_value(value: Any) -> Any:
    """OTLP AnyValue -> plain Python (intValue is a decimal string in proto3 JSON)."""
    if not isinstance(value, dict):
        return value
    if "stringValue" in value:
        return value["stringValue"]
    if "intValue" in value:
        n = _int(value["intValue"])
        return n if n is not None else value["intValue"]
    if "doubleValue" in value:
        try:
            return float(value["doubleValue"])
        except (TypeError, ValueError):
            return value["doubleValue"]
    if "boolValue" in value:
        b = value["boolValue"]
        return b if isinstance(b, bool) else str(b).lower() == "true"
    if "arrayValue" in value:
        return [any_value(v) for v in _list(_dict(value["arrayValue"]).get("values"))]
    if "kvlistValue" in value:
        return attribute_map(_dict(value["kvlistValue"]).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attribute_map(attributes: Any) -> dict[str, Any]:
    """OTLP ``[{key, value: AnyValue}]`` or an already-plain map -> ``{key: value}``."""
    if isinstance(attributes, dict):
        return {str(k): any_value(v) for k, v in attributes.items()}
    out: dict[str, Any] = {}
    for kv in _list(attributes):
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = any_value(kv.get("value"))
    return out


def _jaeger_tags(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in _list(tags):
        if isinstance(tag, dict) and isinstance(tag.get("key"), str):
            out[tag["key"]] = tag.get("value")
    return out


def _level(value: Any) -> str | None:
    text = _str(value)
    if text is None:
        return None
    return _LEVELS.get(text.strip().lower(), text.strip().lower())


def span_error_class(*messages: Any) -> str | None:
    """The first SPAN_ERROR_CLASSES match over the given messages, in order."""
    for message in messages:
        if not isinstance(message, str) or not message:
            continue
        for name, pattern in SPAN_ERROR_CLASSES:
            if pattern.search(message):
                return name
    return None


def _row(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in EVENT_COLUMNS}


def _entity_source(row: dict[str, Any], fields: tuple[str, ...], source: str) -> str | None:
    filled = {f: source for f in fields if row.get(f) is not None}
    return json.dumps(filled, sort_keys=True) if filled else None


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


# --------------------------------------------------------------------------- detection


def _k8s_kind(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    kind = item.get("kind")
    if kind in ("Pod", "Event"):
        return kind
    if "involvedObject" in item or "regarding" in item:
        return "Event"
    if isinstance(_dict(item.get("spec")).get("containers"), list) and "metadata" in item:
        return "Pod"
    return None


def _is_flat_span(obj: dict) -> bool:
    has_ids = ("traceId" in obj or "trace_id" in obj) and ("spanId" in obj or "span_id" in obj)
    return has_ids and ("startTimeUnixNano" in obj or "start_time_unix_nano" in obj)


def _is_jaeger_trace(obj: Any) -> bool:
    return (
        isinstance(obj, dict)
        and isinstance(obj.get("spans"), list)
        and ("processes" in obj or "traceID" in obj)
    )


def _unwrap_hit(obj: dict) -> dict:
    """One Elasticsearch hit (``{"_index", "_id", "_source"}``) -> its ``_source``."""
    if isinstance(obj.get("_source"), dict) and ("_index" in obj or "_id" in obj):
        return obj["_source"]
    return obj


def _es_message(doc: dict) -> Any:
    message = _first(
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


def detect_document(obj: Any) -> str | None:
    """Name the document kind (one of DOCUMENT_KINDS), or None if unknown.

    The only top level that may be a JSON array is a list of Cloud Logging
    entries (``gcloud logging read --format=json``).
    """
    if isinstance(obj, list):
        if obj and all(_is_gcp_entry(e) for e in obj):
            return "gcp_log_entries"
        return None
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("resourceSpans"), list):
        return "otlp_traces"
    data = obj.get("data")
    if isinstance(data, list) and any(
        _is_jaeger_trace(t) or isinstance(_dict(t).get("spans"), list) for t in data
    ):
        return "jaeger_traces"
    if _is_jaeger_trace(obj):
        return "jaeger_traces"
    if isinstance(_dict(obj.get("hits")).get("hits"), list):
        return "es_search"
    items = obj.get("items")
    if isinstance(items, list):
        kinds = {_k8s_kind(i) for i in items}
        if "Pod" in kinds or obj.get("kind") == "PodList":
            return "k8s_pod_list"
        if "Event" in kinds or obj.get("kind") == "EventList":
            return "k8s_event_list"
        return None
    kind = _k8s_kind(obj)
    if kind == "Pod":
        return "k8s_pod"
    if kind == "Event" and ("reason" in obj or "message" in obj or "note" in obj):
        return "k8s_event"
    if _is_flat_span(obj):
        return "otel_span"
    if _is_gcp_entry(obj):
        return "gcp_log_entry"
    entries = obj.get("entries")
    if isinstance(entries, list) and entries and all(_is_gcp_entry(e) for e in entries):
        return "gcp_log_entries"  # the entries:list REST response
    if _is_cloudwatch_response(obj):
        return "cloudwatch_events"
    if _is_cloudwatch_event(obj) and ("ingestionTime" in obj or "eventId" in obj):
        return "cloudwatch_event"
    if isinstance(obj.get("_source"), dict) and ("_index" in obj or "_id" in obj):
        return "es_source"  # one hit, as elasticdump writes them one per line
    if "@timestamp" in obj and _es_message(obj) is not None:
        return "es_source"
    return None


# --------------------------------------------------------------------------- Kubernetes


def _pod_service(labels: dict) -> str | None:
    return _str(_first(labels.get("app.kubernetes.io/name"), labels.get("app")))


def pod_events(pod: dict) -> list[dict[str, Any]]:
    """One ``pod_spec`` per container, one ``container_terminated`` per terminated state."""
    meta = _dict(pod.get("metadata"))
    spec = _dict(pod.get("spec"))
    status = _dict(pod.get("status"))
    labels = _dict(meta.get("labels"))
    entity = {
        "namespace": _str(meta.get("namespace")),
        "pod": _str(meta.get("name")),
        "host": _str(spec.get("nodeName")),
        "service": _pod_service(labels),
    }
    created_text = _first(meta.get("creationTimestamp"), status.get("startTime"))
    created = parse_time(created_text)
    statuses = {s.get("name"): s for s in _list(status.get("containerStatuses")) if isinstance(s, dict)}
    rows: list[dict[str, Any]] = []
    for container in _list(spec.get("containers")):
        if not isinstance(container, dict):
            continue
        resources = _dict(container.get("resources"))
        requests, limits = _dict(resources.get("requests")), _dict(resources.get("limits"))
        name = _str(container.get("name"))
        rows.append(
            _row(
                ts=created,
                ts_text=_str(created_text),
                kind="pod_spec",
                container=name,
                **entity,
                attrs={
                    "cpu_request": cpu_cores(requests.get("cpu")),
                    "cpu_limit": cpu_cores(limits.get("cpu")),
                    "memory_request": memory_bytes(requests.get("memory")),
                    "memory_limit": memory_bytes(limits.get("memory")),
                    "restart_count": _int(_dict(statuses.get(container.get("name"))).get("restartCount")),
                    "image": _str(container.get("image")),
                    "node": entity["host"],
                    # pairs a server's `client=<ip>` with the calling pod (paired_errors.sql)
                    "pod_ip": _str(status.get("podIP")),
                },
            )
        )
    for key, init in (("containerStatuses", False), ("initContainerStatuses", True)):
        for cs in _list(status.get(key)):
            if not isinstance(cs, dict):
                continue
            for state_key, which in (("lastState", "last"), ("state", "current")):
                terminated = _dict(_dict(cs.get(state_key)).get("terminated"))
                if terminated:
                    rows.append(_terminated_row(terminated, cs, which, init, entity))
    return rows


def _terminated_row(term: dict, cs: dict, which: str, init: bool, entity: dict) -> dict[str, Any]:
    exit_code = _int(term.get("exitCode"))
    reason = _str(term.get("reason"))
    oom = reason == "OOMKilled" or exit_code == 137
    attrs = {
        "reason": reason,
        "started_at": _str(term.get("startedAt")),
        "state": which,
        "restart_count": _int(cs.get("restartCount")),
        "signal": _int(term.get("signal")),
        "container_id": _str(term.get("containerID")),
    }
    if init:
        attrs["init_container"] = True
    return _row(
        ts=parse_time(term.get("finishedAt")),
        ts_text=_str(term.get("finishedAt")),
        kind="container_terminated",
        container=_str(cs.get("name")),
        exit_code=exit_code,
        level=None if exit_code is None else ("error" if exit_code != 0 else "info"),
        error_class="oom_killed" if oom else None,
        message=_str(term.get("message")),
        attrs=attrs,
        **entity,
    )


_FIELD_PATH_CONTAINER = re.compile(r"spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]+)\}")


def k8s_event_row(event: dict) -> dict[str, Any]:
    """One ``k8s_event`` row from a core/v1 or events.k8s.io/v1 Event."""
    obj = _dict(event.get("involvedObject")) or _dict(event.get("regarding"))
    source = _dict(event.get("source")) or _dict(event.get("deprecatedSource"))
    series = _dict(event.get("series"))
    last = _first(
        event.get("lastTimestamp"),
        event.get("deprecatedLastTimestamp"),
        series.get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        event.get("deprecatedFirstTimestamp"),
    )
    first = _first(event.get("firstTimestamp"), event.get("deprecatedFirstTimestamp"), event.get("eventTime"))
    reason = _str(event.get("reason"))
    etype = _str(event.get("type"))
    message = _str(_first(event.get("message"), event.get("note")))
    object_kind = _str(obj.get("kind"))
    field_path = _FIELD_PATH_CONTAINER.search(_str(obj.get("fieldPath")) or "")
    error_class = None
    if reason in ("OOMKilling", "OOMKilled", "SystemOOM") or (message and "OOMKilled" in message):
        error_class = "oom_killed"
    elif reason == "BackOff" and message and "Back-off restarting failed container" in message:
        error_class = "crash_loop"
    return _row(
        ts=parse_time(last),
        ts_text=_str(last),
        kind="k8s_event",
        namespace=_str(_first(obj.get("namespace"), _dict(event.get("metadata")).get("namespace"))),
        pod=_str(obj.get("name")) if object_kind == "Pod" else None,
        container=field_path.group(1) if field_path else None,
        host=_str(_first(source.get("host"), event.get("reportingInstance"))),
        level="warn" if etype == "Warning" else "info",
        message=message,
        error_class=error_class,
        attrs={
            "reason": reason,
            "type": etype,
            "count": _int(_first(event.get("count"), series.get("count"), event.get("deprecatedCount"))),
            "first_ts": _str(first),
            "object_kind": object_kind,
            "object_name": _str(obj.get("name")),
            "component": _str(
                _first(
                    source.get("component"), event.get("reportingComponent"), event.get("reportingController")
                )
            ),
        },
    )


def _k8s_items(obj: dict) -> list[dict[str, Any]]:
    """A List of Pods and/or Events (``kubectl get pods,events -o json`` mixes them)."""
    rows: list[dict[str, Any]] = []
    for item in _list(obj.get("items")):
        kind = _k8s_kind(item)
        if kind == "Pod":
            rows.extend(pod_events(item))
        elif kind == "Event":
            rows.append(k8s_event_row(item))
    return rows


# --------------------------------------------------------------------------- spans


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
    n = _int(value)
    if n is not None:
        return _SPAN_KINDS.get(n)
    text = _str(value)
    if text is None:
        return None
    return text.upper().removeprefix("SPAN_KIND_").lower()


def _status_code(value: Any) -> int | None:
    n = _int(value)
    if n is not None:
        return n
    text = _str(value)
    if text is None:
        return None
    return _STATUS_NAMES.get(text.upper().removeprefix("STATUS_CODE_"))


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
        return _first(resource.get(key), attributes.get(key))

    attrs = dict(attributes)
    attrs.update(extra or {})
    attrs["parent_span_id"] = trace_id_hex(parent_span_id)
    attrs["span_kind"] = kind
    exception_message = _first(attributes.get("exception.message"), *exception_messages)
    if exception_message is not None and "exception.message" not in attrs:
        attrs["exception.message"] = exception_message
    return _row(
        ts=start,
        ts_text=ts_text,
        kind="span",
        trace_id=trace_id_hex(trace_id),
        span_id=trace_id_hex(span_id),
        duration_ms=duration_ms,
        service=_str(res("service.name")),
        pod=_str(res("k8s.pod.name")),
        namespace=_str(res("k8s.namespace.name")),
        container=_str(res("k8s.container.name")),
        host=_str(_first(res("k8s.node.name"), res("host.name"), res("hostname"))),
        pid=_int(res("process.pid")),
        route=_str(name),
        status=status,
        level="error" if status == 2 else None,
        message=_str(_first(status_message, name)),
        peer=_str(
            _first(
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
    start_ns = _unix_nano(_first(rec.get("startTimeUnixNano"), rec.get("start_time_unix_nano")))
    end_ns = _unix_nano(_first(rec.get("endTimeUnixNano"), rec.get("end_time_unix_nano")))
    status = _dict(rec.get("status"))
    exceptions = [
        m
        for ev in _list(rec.get("events"))
        if isinstance(ev, dict)
        for m in [attribute_map(ev.get("attributes")).get("exception.message")]
        if isinstance(m, str)
    ]
    scope = _dict(rec.get("scope")) or _dict(rec.get("instrumentationScope"))
    extra = {"scope": _str(scope.get("name"))} if scope.get("name") else None
    raw_start = _first(rec.get("startTimeUnixNano"), rec.get("start_time_unix_nano"))
    return _span_row(
        trace_id=_first(rec.get("traceId"), rec.get("trace_id")),
        span_id=_first(rec.get("spanId"), rec.get("span_id")),
        parent_span_id=_first(rec.get("parentSpanId"), rec.get("parent_span_id")),
        name=rec.get("name"),
        start=_epoch_us(start_ns // 1000) if start_ns else None,
        ts_text=_str(raw_start),
        duration_ms=(end_ns - start_ns) / 1e6 if start_ns and end_ns else None,
        kind=_span_kind(rec.get("kind")),
        status=_status_code(_first(status.get("code"), rec.get("status_code"))),
        status_message=_str(_first(status.get("message"), rec.get("status_message"))),
        attributes=attributes,
        resource=res,
        exception_messages=exceptions,
        extra=extra,
    )


def _otlp_spans(obj: dict) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for rs in _list(obj.get("resourceSpans")):
        rs = _dict(rs)
        resource = _dict(rs.get("resource"))
        scopes = _list(rs.get("scopeSpans")) or _list(rs.get("instrumentationLibrarySpans"))
        for ss in scopes:
            ss = _dict(ss)
            scope = _dict(ss.get("scope")) or _dict(ss.get("instrumentationLibrary"))
            for span in _list(ss.get("spans")):
                if isinstance(span, dict):
                    rec = {**span, "scope": scope} if scope and "scope" not in span else span
                    rows.append(span_from_record(rec, resource))
    return rows


def _jaeger_parent(span: dict) -> Any:
    """Jaeger's own rule: the first CHILD_OF reference within the same trace."""
    for ref in _list(span.get("references")):
        ref = _dict(ref)
        if ref.get("refType") == "CHILD_OF" and ref.get("traceID") == span.get("traceID"):
            return ref.get("spanID")
    return span.get("parentSpanID")


def _jaeger_error_log(span: dict) -> str | None:
    for log in _list(span.get("logs")):
        fields = _jaeger_tags(_dict(log).get("fields"))
        if fields.get("event") in ("error", "exception"):
            msg = _first(
                fields.get("message"),
                fields.get("exception.message"),
                fields.get("error.message"),
                fields.get("error.object"),
            )
            if isinstance(msg, str):
                return msg
    return None


def _jaeger_spans(trace: dict) -> list[dict[str, Any]]:
    processes = _dict(trace.get("processes"))
    rows: list[dict[str, Any]] = []
    for span in _list(trace.get("spans")):
        if not isinstance(span, dict):
            continue
        process = _dict(span.get("process")) or _dict(processes.get(span.get("processID")))
        resource = _jaeger_tags(process.get("tags"))
        if process.get("serviceName"):
            resource["service.name"] = process["serviceName"]
        tags = _jaeger_tags(span.get("tags"))
        otel_status = _str(tags.get("otel.status_code"))
        if _is_true(tags.get("error")) or (otel_status or "").upper() == "ERROR":
            status = 2
        elif (otel_status or "").upper() == "OK":
            status = 1
        else:
            status = None
        error_log = _jaeger_error_log(span)
        status_message = _str(_first(tags.get("otel.status_description"), error_log))
        start_us = _int(span.get("startTime"))
        duration_us = span.get("duration")
        rows.append(
            _span_row(
                trace_id=span.get("traceID"),
                span_id=span.get("spanID"),
                parent_span_id=_jaeger_parent(span),
                name=span.get("operationName"),
                start=_epoch_us(start_us) if start_us else None,
                ts_text=_str(span.get("startTime")),
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


def _jaeger_traces(obj: dict) -> list[dict[str, Any]]:
    traces = _list(obj.get("data")) if "data" in obj else [obj]
    return [row for trace in traces if isinstance(trace, dict) for row in _jaeger_spans(trace)]


# --------------------------------------------------------------------------- Elasticsearch

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
            value = _int(value) if field == "pid" else _str(value)
            if value is not None:
                out[field] = value
                break
    source = _entity_source(out, tuple(ES_ENTITY_PATHS), "envelope")
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
    return _first(lookup(doc, "timestamp"), doc.get("time"))


def es_source_row(doc: dict) -> dict[str, Any]:
    """One ``log`` row from an Elasticsearch/OpenSearch ``_source`` (message left unclassified)."""
    doc = _unwrap_hit(doc)
    raw_ts = es_timestamp(doc)
    return _row(
        ts=parse_time(raw_ts),
        ts_text=_str(raw_ts),
        kind="log",
        message=_str(_es_message(doc)),
        level=_level(_first(lookup(doc, "log.level"), lookup(doc, "level"), lookup(doc, "severity_text"))),
        stream=_str(
            _first(lookup(doc, "stream"), lookup(doc, "log.iostream"), lookup(doc, "attributes.log.iostream"))
        ),
        trace_id=trace_id_hex(_first(lookup(doc, "trace.id"), lookup(doc, "trace_id"))),
        span_id=trace_id_hex(_first(lookup(doc, "span.id"), lookup(doc, "span_id"))),
        **es_entities(doc),
    )


def _es_search(obj: dict) -> list[dict[str, Any]]:
    hits = _list(_dict(obj.get("hits")).get("hits"))
    return [
        es_source_row(hit["_source"])
        for hit in hits
        if isinstance(hit, dict) and isinstance(hit.get("_source"), dict)
    ]


# --------------------------------------------------------------------------- Google Cloud Logging

# LogSeverity names and numbers -> pmortem levels. DEFAULT (0) means "no level
# assigned": left None so the caller infers it from the message.
_GCP_SEVERITY: dict[str, str | None] = {
    "DEFAULT": None,
    "DEBUG": "debug",
    "INFO": "info",
    "NOTICE": "info",
    "WARNING": "warn",
    "ERROR": "error",
    "CRITICAL": "fatal",
    "ALERT": "fatal",
    "EMERGENCY": "fatal",
}
_GCP_SEVERITY_NUMBERS = {0: "DEFAULT", 100: "DEBUG", 200: "INFO", 300: "NOTICE", 400: "WARNING",
                         500: "ERROR", 600: "CRITICAL", 700: "ALERT", 800: "EMERGENCY"}  # fmt: skip
_GCP_PAYLOADS = ("textPayload", "jsonPayload", "protoPayload", "httpRequest")


def _is_gcp_entry(obj: Any) -> bool:
    """A Cloud Logging ``LogEntry``: a payload, and ``logName``, ``insertId`` or a typed ``resource``."""
    if not isinstance(obj, dict) or not any(k in obj for k in _GCP_PAYLOADS):
        return False
    if not ("timestamp" in obj or "receiveTimestamp" in obj or "logName" in obj):
        return False
    return (
        isinstance(obj.get("logName"), str)
        or isinstance(obj.get("insertId"), str)
        or isinstance(_dict(obj.get("resource")).get("type"), str)
    )


def gcp_severity(value: Any) -> str | None:
    """A ``LogSeverity`` (name or number) -> debug | info | warn | error | fatal, None for DEFAULT."""
    n = _int(value)
    name = _GCP_SEVERITY_NUMBERS.get(n, "") if n is not None else (_str(value) or "").strip().upper()
    if name in _GCP_SEVERITY:
        return _GCP_SEVERITY[name]
    if n is not None:  # between the named steps: round down
        floor = max((k for k in _GCP_SEVERITY_NUMBERS if k <= n), default=0)
        return _GCP_SEVERITY[_GCP_SEVERITY_NUMBERS[floor]]
    return _level(value)


def _compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _gcp_message(entry: dict) -> str | None:
    text = entry.get("textPayload")
    if isinstance(text, str):
        return text.rstrip("\n") or None
    payload = entry.get("jsonPayload")
    if isinstance(payload, dict):
        for key in ("message", "msg", "log"):  # `log`: GKE on bare metal / Anthos keep the raw line there
            if isinstance(payload.get(key), str):
                return payload[key].rstrip("\n")
        return _compact_json(payload) if payload else None
    proto = entry.get("protoPayload")
    if isinstance(proto, dict) and proto:
        return _compact_json(proto)
    http = _dict(entry.get("httpRequest"))
    if http:
        parts = [_str(http.get("requestMethod")), _str(http.get("requestUrl")), _str(http.get("status"))]
        return " ".join(p for p in parts if p) or None
    return None


def _gcp_duration_ms(value: Any) -> float | None:
    """``httpRequest.latency`` is a protobuf Duration in JSON: ``"0.012345s"``."""
    text = _str(value)
    if text is None or not re.fullmatch(r"\s*\d+(?:\.\d+)?s\s*", text):
        return None
    return float(text.strip()[:-1]) * 1000


def gcp_entry_row(entry: dict) -> dict[str, Any]:
    """One Cloud Logging ``LogEntry`` -> a ``log`` row (message left unclassified).

    Entities come from the monitored resource (``k8s_container``: ``pod_name``,
    ``namespace_name``, ``container_name``; the legacy ``container`` type:
    ``pod_id``, ``namespace_id``) and the entry labels (the node in
    ``compute.googleapis.com/resource_name``, the app in ``k8s-pod/app``).
    """
    resource = _dict(entry.get("resource"))
    rtype = _str(resource.get("type"))
    rl = _dict(resource.get("labels"))
    labels = _dict(entry.get("labels"))
    payload = _dict(entry.get("jsonPayload"))
    http = _dict(entry.get("httpRequest"))
    legacy = rtype == "container"  # pre-2018 GKE resource type

    raw_ts = _first(entry.get("timestamp"), entry.get("receiveTimestamp"))
    log_name = _str(entry.get("logName"))
    log_id = log_name.rsplit("/", 1)[-1] if log_name else None
    stream = _str(labels.get("container.googleapis.com/stream"))
    if stream is None and log_id in ("stdout", "stderr"):
        stream = log_id
    trace = _str(entry.get("trace"))

    row = _row(
        ts=parse_time(raw_ts),
        ts_text=_str(raw_ts),
        kind="log",
        message=_gcp_message(entry),
        level=gcp_severity(entry.get("severity")),
        stream=stream,
        service=_str(
            _first(
                labels.get("k8s-pod/app_kubernetes_io/name"),
                labels.get("k8s-pod/app.kubernetes.io/name"),
                labels.get("k8s-pod/app"),
                rl.get("service_name"),  # cloud_run_revision
                rl.get("function_name"),  # cloud_function
                _dict(payload.get("serviceContext")).get("service"),
            )
        ),
        pod=_str(
            _first(
                rl.get("pod_name"),
                labels.get("container.googleapis.com/pod_name"),
                rl.get("pod_id") if legacy else None,
            )
        ),
        namespace=_str(
            _first(
                rl.get("namespace_name"),
                labels.get("container.googleapis.com/namespace_name"),
                rl.get("namespace_id") if legacy else None,
            )
        ),
        container=_str(rl.get("container_name")),
        host=_str(_first(labels.get("compute.googleapis.com/resource_name"), rl.get("node_name"))),
        pid=_int(payload.get("pid")),
        trace_id=trace_id_hex(trace.rsplit("/", 1)[-1]) if trace else None,
        span_id=trace_id_hex(entry.get("spanId")),
        status=_int(http.get("status")),
        duration_ms=_gcp_duration_ms(http.get("latency")),
        peer=_str(http.get("remoteIp")),
        attrs={
            k: v
            for k, v in {
                "log_name": log_name,
                "insert_id": _str(entry.get("insertId")),
                "resource_type": rtype,
                "cluster": _str(rl.get("cluster_name")),
                "location": _str(_first(rl.get("location"), rl.get("zone"))),
                "project_id": _str(rl.get("project_id")),
                "receive_ts": _str(entry.get("receiveTimestamp")),
                "severity": _str(entry.get("severity")),
                "method": _str(http.get("requestMethod")),
                "url": _str(http.get("requestUrl")),
            }.items()
            if v is not None
        },
    )
    row["entity_source"] = _entity_source(row, ("service", "namespace", "pod", "container", "host"), "envelope")
    return row


def _gcp_entries(obj: Any) -> list[dict[str, Any]]:
    entries = obj if isinstance(obj, list) else _list(_dict(obj).get("entries"))
    return [gcp_entry_row(e) for e in entries if isinstance(e, dict)]


# --------------------------------------------------------------------------- AWS CloudWatch Logs

# A Kubernetes container log file name, as Fluent Bit / the CloudWatch agent
# put it in the log stream name: ``<pod>_<namespace>_<container>-<64 hex>``,
# bare or after a tag such as ``fluent-bit-kube.var.log.containers.``,
# ``kube.var.log.containers.`` or ``<node>-application.var.log.containers.``.
_K8S_LOG_STREAM = re.compile(
    r"^(?:.*?containers\.)?"
    r"(?P<pod>[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)_"
    r"(?P<namespace>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)_"
    r"(?P<container>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-"
    r"(?P<id>[0-9a-f]{64})(?:\.log)?$"
)
_CW_ENVELOPE_KEYS = ("searchedLogStreams", "nextForwardToken", "nextBackwardToken")


def _is_cloudwatch_event(obj: Any) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("message"), str):
        return False
    ts = obj.get("timestamp")
    return isinstance(ts, int) and not isinstance(ts, bool)


def _is_cloudwatch_response(obj: dict) -> bool:
    events = obj.get("events")
    if isinstance(events, list):
        if any(k in obj for k in _CW_ENVELOPE_KEYS):
            return all(_is_cloudwatch_event(e) for e in events)
        return bool(events) and all(
            _is_cloudwatch_event(e) and ("ingestionTime" in e or "eventId" in e) for e in events
        )
    log_events = obj.get("logEvents")  # a subscription payload, decoded
    return (
        isinstance(log_events, list)
        and "logStream" in obj
        and all(_is_cloudwatch_event(e) for e in log_events)
    )


def log_stream_entities(name: Any) -> dict[str, str]:
    """pod / namespace / container from a log stream named after a ``/var/log/containers`` file."""
    text = _str(name)
    m = _K8S_LOG_STREAM.match(text) if text else None
    if not m:
        return {}
    return {"pod": m["pod"], "namespace": m["namespace"], "container": m["container"]}


def _fluent_bit_record(message: str) -> dict | None:
    """The message as a Fluent Bit / docker JSON record (``{"log": ..., "stream"|"kubernetes": ...}``)."""
    if not message.lstrip().startswith("{"):
        return None
    try:
        rec = json.loads(message)
    except ValueError:
        return None
    if isinstance(rec, dict) and isinstance(rec.get("log"), str):
        if isinstance(rec.get("kubernetes"), dict) or "stream" in rec:
            return rec
    return None


def cloudwatch_event_row(
    event: dict, log_stream: Any = None, log_group: Any = None
) -> dict[str, Any]:
    """One CloudWatch Logs event -> a ``log`` row (message left unclassified).

    A message that is a Fluent Bit record yields its ``log`` text, its
    ``stream``, its container-runtime ``time`` (nanoseconds, where the event
    ``timestamp`` has milliseconds) and the Kubernetes filter's metadata. Else
    pod / namespace / container come from the log stream name when it is a
    container log file's name.
    """
    message = event.get("message") if isinstance(event.get("message"), str) else None
    stream_name = _str(_first(event.get("logStreamName"), log_stream))
    raw_ts: Any = event.get("timestamp")
    ts = parse_time(raw_ts) if _int(raw_ts) is not None else None
    ts_text = _str(raw_ts)
    stream = None
    entities: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field, value in log_stream_entities(stream_name).items():
        entities[field] = value
        sources[field] = "path"
    record = _fluent_bit_record(message) if message else None
    if record is not None:
        message = record["log"].rstrip("\n")
        stream = _str(record.get("stream"))
        inner = parse_time(record.get("time"))
        if inner is not None:
            ts, ts_text = inner, _str(record.get("time"))
        found = es_entities(record)
        found.pop("entity_source", None)
        for field, value in found.items():
            entities[field] = value
            sources[field] = "envelope"
    elif message is not None:
        message = message.rstrip("\n")
    row = _row(
        ts=ts,
        ts_text=ts_text,
        kind="log",
        message=message or None,
        stream=stream,
        attrs={
            k: v
            for k, v in {
                "log_group": _str(log_group),
                "log_stream": stream_name,
                "event_id": _str(_first(event.get("eventId"), event.get("id"))),
                "ingestion_ts": _str(event.get("ingestionTime")),
            }.items()
            if v is not None
        },
        **entities,
    )
    if sources:
        row["entity_source"] = json.dumps(sources, sort_keys=True)
    return row


def _cloudwatch_events(obj: dict) -> list[dict[str, Any]]:
    if isinstance(obj.get("logEvents"), list):
        return [
            cloudwatch_event_row(e, obj.get("logStream"), obj.get("logGroup"))
            for e in obj["logEvents"]
            if isinstance(e, dict)
        ]
    return [cloudwatch_event_row(e) for e in _list(obj.get("events")) if isinstance(e, dict)]


# --------------------------------------------------------------------------- dispatch

_HANDLERS: dict[str, Callable[[dict], list[dict[str, Any]]]] = {
    "k8s_pod_list": _k8s_items,
    "k8s_event_list": _k8s_items,
    "k8s_pod": pod_events,
    "k8s_event": lambda obj: [k8s_event_row(obj)],
    "otlp_traces": _otlp_spans,
    "jaeger_traces": _jaeger_traces,
    "otel_span": lambda obj: [span_from_record(obj)],
    "es_search": _es_search,
    "es_source": lambda obj: [es_source_row(obj)],
    "gcp_log_entries": _gcp_entries,
    "gcp_log_entry": lambda obj: [gcp_entry_row(obj)],
    "cloudwatch_events": _cloudwatch_events,
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
