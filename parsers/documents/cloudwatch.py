"""AWS CloudWatch Logs: filter-log-events / get-log-events output, subscription payloads, one event per line."""

from __future__ import annotations

import json
import re
from typing import Any

from .common import as_int, as_list, as_str, event_row, first_of, parse_time
from .elasticsearch import es_entities

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


def is_cloudwatch_event(obj: Any) -> bool:
    if not isinstance(obj, dict) or not isinstance(obj.get("message"), str):
        return False
    ts = obj.get("timestamp")
    return isinstance(ts, int) and not isinstance(ts, bool)


def is_cloudwatch_response(obj: dict) -> bool:
    events = obj.get("events")
    if isinstance(events, list):
        if any(k in obj for k in _CW_ENVELOPE_KEYS):
            return all(is_cloudwatch_event(e) for e in events)
        return bool(events) and all(
            is_cloudwatch_event(e) and ("ingestionTime" in e or "eventId" in e) for e in events
        )
    log_events = obj.get("logEvents")  # a subscription payload, decoded
    return (
        isinstance(log_events, list)
        and "logStream" in obj
        and all(is_cloudwatch_event(e) for e in log_events)
    )


def log_stream_entities(name: Any) -> dict[str, str]:
    """pod / namespace / container from a log stream named after a ``/var/log/containers`` file."""
    text = as_str(name)
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
    stream_name = as_str(first_of(event.get("logStreamName"), log_stream))
    raw_ts: Any = event.get("timestamp")
    ts = parse_time(raw_ts) if as_int(raw_ts) is not None else None
    ts_text = as_str(raw_ts)
    stream = None
    entities: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for field, value in log_stream_entities(stream_name).items():
        entities[field] = value
        sources[field] = "path"
    record = _fluent_bit_record(message) if message else None
    if record is not None:
        message = record["log"].rstrip("\n")
        stream = as_str(record.get("stream"))
        inner = parse_time(record.get("time"))
        if inner is not None:
            ts, ts_text = inner, as_str(record.get("time"))
        found = es_entities(record)
        found.pop("entity_source", None)
        for field, value in found.items():
            entities[field] = value
            sources[field] = "envelope"
    elif message is not None:
        message = message.rstrip("\n")
    row = event_row(
        ts=ts,
        ts_text=ts_text,
        kind="log",
        message=message or None,
        stream=stream,
        attrs={
            k: v
            for k, v in {
                "log_group": as_str(log_group),
                "log_stream": stream_name,
                "event_id": as_str(first_of(event.get("eventId"), event.get("id"))),
                "ingestion_ts": as_str(event.get("ingestionTime")),
            }.items()
            if v is not None
        },
        **entities,
    )
    if sources:
        row["entity_source"] = json.dumps(sources, sort_keys=True)
    return row


def cloudwatch_events(obj: dict) -> list[dict[str, Any]]:
    if isinstance(obj.get("logEvents"), list):
        return [
            cloudwatch_event_row(e, obj.get("logStream"), obj.get("logGroup"))
            for e in obj["logEvents"]
            if isinstance(e, dict)
        ]
    return [cloudwatch_event_row(e) for e in as_list(obj.get("events")) if isinstance(e, dict)]
