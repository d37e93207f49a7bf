"""Helpers every document family uses: typed getters, times, quantities, trace ids, OTLP values."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ..schema import EVENT_COLUMNS

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

SPAN_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}
STATUS_NAMES = {"UNSET": 0, "OK": 1, "ERROR": 2}


# --------------------------------------------------------------------------- helpers


def as_dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list:
    return value if isinstance(value, list) else []


def as_str(value: Any) -> str | None:
    """A non-empty string, or None (numbers are stringified, containers are not)."""
    if isinstance(value, str):
        return value if value != "" else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def as_int(value: Any) -> int | None:
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
        return epoch_us(int(value) * 1000) if isinstance(value, int) else epoch_us(round(value * 1000))
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


def epoch_us(us: int) -> dt.datetime | None:
    try:
        return EPOCH + dt.timedelta(microseconds=us)
    except OverflowError:
        return None


def unix_nano(value: Any) -> int | None:
    """OTLP ``*TimeUnixNano``: a decimal string (proto3 JSON) or an int; 0 means unset."""
    ns = as_int(value)
    return ns if ns else None


def first_of(*values: Any) -> Any:
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
    text = as_str(value)
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
        n = as_int(value["intValue"])
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
        return [any_value(v) for v in as_list(as_dict(value["arrayValue"]).get("values"))]
    if "kvlistValue" in value:
        return attribute_map(as_dict(value["kvlistValue"]).get("values"))
    if "bytesValue" in value:
        return value["bytesValue"]
    return None


def attribute_map(attributes: Any) -> dict[str, Any]:
    """OTLP ``[{key, value: AnyValue}]`` or an already-plain map -> ``{key: value}``."""
    if isinstance(attributes, dict):
        return {str(k): any_value(v) for k, v in attributes.items()}
    out: dict[str, Any] = {}
    for kv in as_list(attributes):
        if isinstance(kv, dict) and isinstance(kv.get("key"), str):
            out[kv["key"]] = any_value(kv.get("value"))
    return out


def jaeger_tags(tags: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in as_list(tags):
        if isinstance(tag, dict) and isinstance(tag.get("key"), str):
            out[tag["key"]] = tag.get("value")
    return out


def level_name(value: Any) -> str | None:
    text = as_str(value)
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


def event_row(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if k in EVENT_COLUMNS}


def entity_source(row: dict[str, Any], fields: tuple[str, ...], source: str) -> str | None:
    filled = {f: source for f in fields if row.get(f) is not None}
    return json.dumps(filled, sort_keys=True) if filled else None


def is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")
