"""Google Cloud Logging `LogEntry` objects (gcloud logging read, entries:list, sink exports)."""

from __future__ import annotations

import json
import re
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
    parse_time,
    trace_id_hex,
)

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


def is_gcp_entry(obj: Any) -> bool:
    """A Cloud Logging ``LogEntry``: a payload, and ``logName``, ``insertId`` or a typed ``resource``."""
    if not isinstance(obj, dict) or not any(k in obj for k in _GCP_PAYLOADS):
        return False
    if not ("timestamp" in obj or "receiveTimestamp" in obj or "logName" in obj):
        return False
    return (
        isinstance(obj.get("logName"), str)
        or isinstance(obj.get("insertId"), str)
        or isinstance(as_dict(obj.get("resource")).get("type"), str)
    )


def gcp_severity(value: Any) -> str | None:
    """A ``LogSeverity`` (name or number) -> debug | info | warn | error | fatal, None for DEFAULT."""
    n = as_int(value)
    name = _GCP_SEVERITY_NUMBERS.get(n, "") if n is not None else (as_str(value) or "").strip().upper()
    if name in _GCP_SEVERITY:
        return _GCP_SEVERITY[name]
    if n is not None:  # between the named steps: round down
        floor = max((k for k in _GCP_SEVERITY_NUMBERS if k <= n), default=0)
        return _GCP_SEVERITY[_GCP_SEVERITY_NUMBERS[floor]]
    return level_name(value)


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
    http = as_dict(entry.get("httpRequest"))
    if http:
        parts = [as_str(http.get("requestMethod")), as_str(http.get("requestUrl")), as_str(http.get("status"))]
        return " ".join(p for p in parts if p) or None
    return None


def _gcp_duration_ms(value: Any) -> float | None:
    """``httpRequest.latency`` is a protobuf Duration in JSON: ``"0.012345s"``."""
    text = as_str(value)
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
    resource = as_dict(entry.get("resource"))
    rtype = as_str(resource.get("type"))
    rl = as_dict(resource.get("labels"))
    labels = as_dict(entry.get("labels"))
    payload = as_dict(entry.get("jsonPayload"))
    http = as_dict(entry.get("httpRequest"))
    legacy = rtype == "container"  # pre-2018 GKE resource type

    raw_ts = first_of(entry.get("timestamp"), entry.get("receiveTimestamp"))
    log_name = as_str(entry.get("logName"))
    log_id = log_name.rsplit("/", 1)[-1] if log_name else None
    stream = as_str(labels.get("container.googleapis.com/stream"))
    if stream is None and log_id in ("stdout", "stderr"):
        stream = log_id
    trace = as_str(entry.get("trace"))

    row = event_row(
        ts=parse_time(raw_ts),
        ts_text=as_str(raw_ts),
        kind="log",
        message=_gcp_message(entry),
        level=gcp_severity(entry.get("severity")),
        stream=stream,
        service=as_str(
            first_of(
                labels.get("k8s-pod/app_kubernetes_io/name"),
                labels.get("k8s-pod/app.kubernetes.io/name"),
                labels.get("k8s-pod/app"),
                rl.get("service_name"),  # cloud_run_revision
                rl.get("function_name"),  # cloud_function
                as_dict(payload.get("serviceContext")).get("service"),
            )
        ),
        pod=as_str(
            first_of(
                rl.get("pod_name"),
                labels.get("container.googleapis.com/pod_name"),
                rl.get("pod_id") if legacy else None,
            )
        ),
        namespace=as_str(
            first_of(
                rl.get("namespace_name"),
                labels.get("container.googleapis.com/namespace_name"),
                rl.get("namespace_id") if legacy else None,
            )
        ),
        container=as_str(rl.get("container_name")),
        host=as_str(first_of(labels.get("compute.googleapis.com/resource_name"), rl.get("node_name"))),
        pid=as_int(payload.get("pid")),
        trace_id=trace_id_hex(trace.rsplit("/", 1)[-1]) if trace else None,
        span_id=trace_id_hex(entry.get("spanId")),
        status=as_int(http.get("status")),
        duration_ms=_gcp_duration_ms(http.get("latency")),
        peer=as_str(http.get("remoteIp")),
        attrs={
            k: v
            for k, v in {
                "log_name": log_name,
                "insert_id": as_str(entry.get("insertId")),
                "resource_type": rtype,
                "cluster": as_str(rl.get("cluster_name")),
                "location": as_str(first_of(rl.get("location"), rl.get("zone"))),
                "project_id": as_str(rl.get("project_id")),
                "receive_ts": as_str(entry.get("receiveTimestamp")),
                "severity": as_str(entry.get("severity")),
                "method": as_str(http.get("requestMethod")),
                "url": as_str(http.get("requestUrl")),
            }.items()
            if v is not None
        },
    )
    row["entity_source"] = entity_source(row, ("service", "namespace", "pod", "container", "host"), "envelope")
    return row


def gcp_entries(obj: Any) -> list[dict[str, Any]]:
    entries = obj if isinstance(obj, list) else as_list(as_dict(obj).get("entries"))
    return [gcp_entry_row(e) for e in entries if isinstance(e, dict)]
