"""Kubernetes objects: pods (`kubectl get pod(s) -o json`) and events (core/v1 and events.k8s.io/v1)."""

from __future__ import annotations

import re
from typing import Any

from .common import as_dict, as_int, as_list, as_str, cpu_cores, event_row, first_of, memory_bytes, parse_time


def _pod_service(labels: dict) -> str | None:
    return as_str(first_of(labels.get("app.kubernetes.io/name"), labels.get("app")))


def pod_events(pod: dict) -> list[dict[str, Any]]:
    """One ``pod_spec`` per container, one ``container_terminated`` per terminated state."""
    meta = as_dict(pod.get("metadata"))
    spec = as_dict(pod.get("spec"))
    status = as_dict(pod.get("status"))
    labels = as_dict(meta.get("labels"))
    entity = {
        "namespace": as_str(meta.get("namespace")),
        "pod": as_str(meta.get("name")),
        "host": as_str(spec.get("nodeName")),
        "service": _pod_service(labels),
    }
    created_text = first_of(meta.get("creationTimestamp"), status.get("startTime"))
    created = parse_time(created_text)
    statuses = {s.get("name"): s for s in as_list(status.get("containerStatuses")) if isinstance(s, dict)}
    rows: list[dict[str, Any]] = []
    for container in as_list(spec.get("containers")):
        if not isinstance(container, dict):
            continue
        resources = as_dict(container.get("resources"))
        requests, limits = as_dict(resources.get("requests")), as_dict(resources.get("limits"))
        name = as_str(container.get("name"))
        rows.append(
            event_row(
                ts=created,
                ts_text=as_str(created_text),
                kind="pod_spec",
                container=name,
                **entity,
                attrs={
                    "cpu_request": cpu_cores(requests.get("cpu")),
                    "cpu_limit": cpu_cores(limits.get("cpu")),
                    "memory_request": memory_bytes(requests.get("memory")),
                    "memory_limit": memory_bytes(limits.get("memory")),
                    "restart_count": as_int(as_dict(statuses.get(container.get("name"))).get("restartCount")),
                    "image": as_str(container.get("image")),
                    "node": entity["host"],
                    # pairs a server's `client=<ip>` with the calling pod (paired_errors.sql)
                    "pod_ip": as_str(status.get("podIP")),
                },
            )
        )
    for key, init in (("containerStatuses", False), ("initContainerStatuses", True)):
        for cs in as_list(status.get(key)):
            if not isinstance(cs, dict):
                continue
            for state_key, which in (("lastState", "last"), ("state", "current")):
                terminated = as_dict(as_dict(cs.get(state_key)).get("terminated"))
                if terminated:
                    rows.append(_terminated_row(terminated, cs, which, init, entity))
    return rows


def _terminated_row(term: dict, cs: dict, which: str, init: bool, entity: dict) -> dict[str, Any]:
    exit_code = as_int(term.get("exitCode"))
    reason = as_str(term.get("reason"))
    oom = reason == "OOMKilled" or exit_code == 137
    attrs = {
        "reason": reason,
        "started_at": as_str(term.get("startedAt")),
        "state": which,
        "restart_count": as_int(cs.get("restartCount")),
        "signal": as_int(term.get("signal")),
        "container_id": as_str(term.get("containerID")),
    }
    if init:
        attrs["init_container"] = True
    return event_row(
        ts=parse_time(term.get("finishedAt")),
        ts_text=as_str(term.get("finishedAt")),
        kind="container_terminated",
        container=as_str(cs.get("name")),
        exit_code=exit_code,
        level=None if exit_code is None else ("error" if exit_code != 0 else "info"),
        error_class="oom_killed" if oom else None,
        message=as_str(term.get("message")),
        attrs=attrs,
        **entity,
    )


def container_terminated_row(term: dict, status: dict, entity: dict, *, which: str = "last", init: bool = False) -> dict[str, Any]:
    """A `container_terminated` row from a terminated state (`exitCode`, `reason`, `finishedAt`,
    ...) and its container's status (`name`, `restartCount`): also docker's config.v2.json State."""
    return _terminated_row(term, status, which, init, entity)


_FIELD_PATH_CONTAINER = re.compile(r"spec\.(?:initContainers|containers|ephemeralContainers)\{([^}]+)\}")


def k8s_event_row(event: dict) -> dict[str, Any]:
    """One ``k8s_event`` row from a core/v1 or events.k8s.io/v1 Event."""
    obj = as_dict(event.get("involvedObject")) or as_dict(event.get("regarding"))
    source = as_dict(event.get("source")) or as_dict(event.get("deprecatedSource"))
    series = as_dict(event.get("series"))
    last = first_of(
        event.get("lastTimestamp"),
        event.get("deprecatedLastTimestamp"),
        series.get("lastObservedTime"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        event.get("deprecatedFirstTimestamp"),
    )
    first = first_of(event.get("firstTimestamp"), event.get("deprecatedFirstTimestamp"), event.get("eventTime"))
    reason = as_str(event.get("reason"))
    etype = as_str(event.get("type"))
    message = as_str(first_of(event.get("message"), event.get("note")))
    object_kind = as_str(obj.get("kind"))
    field_path = _FIELD_PATH_CONTAINER.search(as_str(obj.get("fieldPath")) or "")
    error_class = None
    if reason in ("OOMKilling", "OOMKilled", "SystemOOM") or (message and "OOMKilled" in message):
        error_class = "oom_killed"
    elif reason == "BackOff" and message and "Back-off restarting failed container" in message:
        error_class = "crash_loop"
    return event_row(
        ts=parse_time(last),
        ts_text=as_str(last),
        kind="k8s_event",
        namespace=as_str(first_of(obj.get("namespace"), as_dict(event.get("metadata")).get("namespace"))),
        pod=as_str(obj.get("name")) if object_kind == "Pod" else None,
        container=field_path.group(1) if field_path else None,
        host=as_str(first_of(source.get("host"), event.get("reportingInstance"))),
        level="warn" if etype == "Warning" else "info",
        message=message,
        error_class=error_class,
        attrs={
            "reason": reason,
            "type": etype,
            "count": as_int(first_of(event.get("count"), series.get("count"), event.get("deprecatedCount"))),
            "first_ts": as_str(first),
            "object_kind": object_kind,
            "object_name": as_str(obj.get("name")),
            "component": as_str(
                first_of(
                    source.get("component"), event.get("reportingComponent"), event.get("reportingController")
                )
            ),
        },
    )


def k8s_items(obj: dict) -> list[dict[str, Any]]:
    """A List of Pods and/or Events (``kubectl get pods,events -o json`` mixes them)."""
    rows: list[dict[str, Any]] = []
    for item in as_list(obj.get("items")):
        kind = k8s_kind(item)
        if kind == "Pod":
            rows.extend(pod_events(item))
        elif kind == "Event":
            rows.append(k8s_event_row(item))
    return rows


def k8s_kind(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    kind = item.get("kind")
    if kind in ("Pod", "Event"):
        return kind
    if "involvedObject" in item or "regarding" in item:
        return "Event"
    if isinstance(as_dict(item.get("spec")).get("containers"), list) and "metadata" in item:
        return "Pod"
    return None
