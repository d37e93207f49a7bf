"""parsers/documents.py against real documents (see tests/fixtures/documents/SOURCES.md)."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from pmortem.parsers.documents import (
    cpu_cores,
    detect_document,
    document_events,
    es_entities,
    lookup,
    memory_bytes,
    parse_time,
    span_from_record,
    trace_id_hex,
)
from pmortem.parsers.schema import EVENT_COLUMNS, conform

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "documents"
UTC = dt.UTC


def load(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines() if line]


def events_of(obj) -> list[dict]:
    kind = detect_document(obj)
    assert kind is not None
    return document_events(obj, kind)


# --------------------------------------------------------------------------- detection


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("otlp_trace_example.json", "otlp_traces"),
        ("jaeger_ui_01.json", "jaeger_traces"),
        ("k8s_pod_nginx.json", "k8s_pod"),
        ("k8s_pod_oomkilled.json", "k8s_pod"),  # kind/apiVersion absent: recognised by spec.containers
        ("k8s_event_unhealthy.json", "k8s_event"),
        ("es_filebeat_container_log.json", "es_source"),
        ("es_fluentbit_hit.json", "es_source"),  # one hit, as elasticdump writes them
    ],
)
def test_detects_each_fixture(name: str, kind: str) -> None:
    assert detect_document(load(name)) == kind


def test_detects_envelopes_and_unknowns() -> None:
    pods = {"apiVersion": "v1", "kind": "List", "items": [load("k8s_pod_nginx.json")]}
    events = {"apiVersion": "v1", "kind": "List", "items": [load("k8s_event_unhealthy.json")]}
    assert detect_document(pods) == "k8s_pod_list"
    assert detect_document(events) == "k8s_event_list"
    assert detect_document({"data": [load("jaeger_ui_01.json")], "total": 0, "limit": 0}) == "jaeger_traces"
    assert detect_document({"hits": {"hits": [load("es_fluentbit_hit.json")]}}) == "es_search"
    assert detect_document(jsonl("otel_demo_spans.jsonl")[0]) == "otel_span"
    assert detect_document({"apiVersion": "v1", "kind": "List", "items": []}) is None
    assert detect_document({"level": 30, "msg": "hello"}) is None
    assert detect_document([1, 2]) is None


def test_wrong_top_level_type_and_unknown_kind_raise() -> None:
    with pytest.raises(ValueError, match="expected a JSON object"):
        document_events([load("k8s_pod_nginx.json")], "k8s_pod")
    with pytest.raises(ValueError, match="unknown document kind"):
        document_events({}, "pdf")


# --------------------------------------------------------------------------- Kubernetes pods


def test_running_pod_gives_one_pod_spec() -> None:
    (row,) = events_of(load("k8s_pod_nginx.json"))
    assert row["kind"] == "pod_spec"
    assert row["ts"] == dt.datetime(2022, 2, 17, 21, 51, 1, tzinfo=UTC)
    assert row["ts_text"] == "2022-02-17T21:51:01Z"
    assert (row["namespace"], row["pod"], row["container"], row["host"], row["service"]) == (
        "default",
        "nginx-deployment-67d4bdd6f5-w6kd7",
        "nginx",
        "kube-worker-1",
        "nginx",
    )
    assert row["attrs"] == {
        "cpu_request": 0.5,
        "cpu_limit": 0.5,
        "memory_request": 134217728,
        "memory_limit": 134217728,
        "restart_count": 0,
        "image": "nginx",
        "node": "kube-worker-1",
        "pod_ip": "10.88.0.3",
    }


def test_oomkilled_pod_gives_spec_and_termination() -> None:
    spec, term = events_of(load("k8s_pod_oomkilled.json"))
    assert spec["kind"] == "pod_spec"
    assert spec["attrs"]["cpu_limit"] == 0.75
    assert spec["attrs"]["cpu_request"] == 0.05
    assert spec["attrs"]["memory_limit"] == 1073741824  # 1Gi
    assert spec["attrs"]["memory_request"] == 52428800  # 50Mi
    assert spec["attrs"]["restart_count"] == 1
    assert spec["service"] == "kubeshark-worker"  # from the `app` label

    assert term["kind"] == "container_terminated"
    assert term["ts"] == dt.datetime(2023, 5, 6, 21, 3, 57, tzinfo=UTC)
    assert term["exit_code"] == 137
    assert term["error_class"] == "oom_killed"
    assert term["level"] == "error"
    assert (term["pod"], term["container"], term["host"], term["namespace"]) == (
        "kubeshark-worker-daemon-set-hvn25",
        "kubeshark-worker",
        "mizu",
        "kubeshark",
    )
    assert term["attrs"]["reason"] == "OOMKilled"
    assert term["attrs"]["started_at"] == "2023-05-06T16:54:42Z"
    assert term["attrs"]["state"] == "last"


def test_pod_list_and_current_terminated_state() -> None:
    crashed = copy.deepcopy(load("k8s_pod_nginx.json"))
    status = crashed["status"]["containerStatuses"][0]
    status["state"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2022-02-17T22:00:00Z"}}
    pods = {"apiVersion": "v1", "kind": "List", "items": [crashed, load("k8s_pod_oomkilled.json")]}
    rows = document_events(pods, "k8s_pod_list")
    assert [r["kind"] for r in rows] == [
        "pod_spec",
        "container_terminated",
        "pod_spec",
        "container_terminated",
    ]
    error = rows[1]
    assert (error["exit_code"], error["level"], error["error_class"], error["attrs"]["state"]) == (
        1,
        "error",
        None,
        "current",
    )


def test_partial_pod_never_raises() -> None:
    rows = document_events(
        {"kind": "Pod", "spec": {"containers": [{"name": "a", "resources": None}]}}, "k8s_pod"
    )
    assert rows[0]["container"] == "a"
    assert rows[0]["ts"] is None and rows[0]["pod"] is None
    assert rows[0]["attrs"]["cpu_limit"] is None and rows[0]["attrs"]["restart_count"] is None
    assert document_events({"kind": "Pod"}, "k8s_pod") == []
    assert document_events({"kind": "List", "items": "nope"}, "k8s_pod_list") == []


@pytest.mark.parametrize(
    ("text", "cores"),
    [("1", 1.0), ("500m", 0.5), ("750m", 0.75), ("2", 2.0), ("0.1", 0.1), (3, 3.0), ("x", None)],
)
def test_cpu_cores(text, cores) -> None:
    assert cpu_cores(text) == cores


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2Gi", 2147483648),
        ("512Mi", 536870912),
        ("1G", 1000000000),
        ("1000M", 1000000000),
        ("128974848", 128974848),
        ("129e6", 129000000),
        ("123Mi", 128974848),
        ("64Ki", 65536),
        (268435456, 268435456),
        ("lots", None),
        (None, None),
    ],
)
def test_memory_bytes(text, size) -> None:
    assert memory_bytes(text) == size


# --------------------------------------------------------------------------- Kubernetes events


def test_core_v1_event() -> None:
    (row,) = events_of(load("k8s_event_unhealthy.json"))
    assert row["kind"] == "k8s_event"
    assert row["ts"] == dt.datetime(2019, 9, 5, 15, 39, 2, tzinfo=UTC)
    assert (row["namespace"], row["pod"], row["container"], row["host"]) == (
        "default",
        "channel-display0-kfhpm-deployment-747c97d7c5-hq6tl",
        "queue-proxy",  # from involvedObject.fieldPath
        "minikube",
    )
    assert row["level"] == "warn"
    assert row["message"] == "Readiness probe failed: cannot exec in a stopped state: unknown\r\n"
    assert row["error_class"] is None
    assert row["attrs"] == {
        "reason": "Unhealthy",
        "type": "Warning",
        "count": 1,
        "first_ts": "2019-09-05T15:39:02Z",
        "object_kind": "Pod",
        "object_name": "channel-display0-kfhpm-deployment-747c97d7c5-hq6tl",
        "component": "kubelet",
    }


def _core_event(reason: str, message: str, **extra) -> dict:
    # Built on the real fixture's layout; texts as the Kubernetes docs show them.
    event = copy.deepcopy(load("k8s_event_unhealthy.json"))
    event.update(reason=reason, message=message, **extra)
    return event


def test_event_list_classifies_backoff_and_oom() -> None:
    events = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            _core_event(
                "BackOff",
                "Back-off restarting failed container",
                count=7,
                lastTimestamp="2019-09-05T15:45:00Z",
            ),
            _core_event(
                "OOMKilling",
                "Memory cgroup out of memory: Kill process 4481 (stress) score 1994 or sacrifice child",
                involvedObject={"kind": "Node", "name": "minikube"},
            ),
            _core_event("Killing", "Stopping container app", type="Normal"),
        ],
    }
    backoff, oom, killing = document_events(events, "k8s_event_list")
    assert backoff["error_class"] == "crash_loop"
    assert backoff["ts"] == dt.datetime(2019, 9, 5, 15, 45, tzinfo=UTC)
    assert backoff["attrs"]["first_ts"] == "2019-09-05T15:39:02Z"
    assert backoff["attrs"]["count"] == 7
    assert oom["error_class"] == "oom_killed"
    assert oom["pod"] is None and oom["attrs"]["object_kind"] == "Node"
    assert killing["level"] == "info" and killing["error_class"] is None


def test_events_k8s_io_v1_shape() -> None:
    # events.k8s.io/v1 field names (regarding, note, reportingController, series), per the API reference.
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web-0.17a", "namespace": "shop"},
        "eventTime": "2024-03-01T10:00:00.123456Z",
        "series": {"count": 5, "lastObservedTime": "2024-03-01T10:04:00.500000Z"},
        "reason": "BackOff",
        "note": "Back-off restarting failed container web in pod web-0_shop(8c1e)",
        "type": "Warning",
        "regarding": {
            "kind": "Pod",
            "name": "web-0",
            "namespace": "shop",
            "fieldPath": "spec.containers{web}",
        },
        "reportingController": "kubelet",
        "reportingInstance": "node-7",
        "action": "",
    }
    assert detect_document(event) == "k8s_event"
    (row,) = document_events(event, "k8s_event")
    assert row["ts"] == dt.datetime(2024, 3, 1, 10, 4, 0, 500000, tzinfo=UTC)  # the series' last observation
    assert row["attrs"]["first_ts"] == "2024-03-01T10:00:00.123456Z"
    assert row["attrs"]["count"] == 5
    assert (row["namespace"], row["pod"], row["container"], row["host"]) == ("shop", "web-0", "web", "node-7")
    assert row["message"].startswith("Back-off restarting failed container")
    assert row["error_class"] == "crash_loop"
    assert row["attrs"]["component"] == "kubelet"


# --------------------------------------------------------------------------- OTLP / flat spans


def test_otlp_example_span() -> None:
    (row,) = events_of(load("otlp_trace_example.json"))
    assert row["kind"] == "span"
    assert row["ts"] == dt.datetime(2018, 12, 13, 14, 51, 0, tzinfo=UTC)
    assert row["duration_ms"] == 1000.0
    assert row["trace_id"] == "5b8efff798038103d269b633813fc60c"  # upper-case hex normalised
    assert row["span_id"] == "eee19b7ec3c1b174"
    assert row["service"] == "my.service"
    assert row["route"] == row["message"] == "I'm a server span"
    assert row["status"] is None and row["level"] is None
    assert row["attrs"] == {
        "my.span.attr": "some value",
        "parent_span_id": "eee19b7ec3c1b173",
        "span_kind": "server",
        "scope": "my.library",
    }


def test_flat_spans_with_base64_ids() -> None:
    server, client = (events_of(rec)[0] for rec in jsonl("otel_demo_spans.jsonl"))
    assert server["trace_id"] == client["trace_id"] == "61432d488c5740779ad434e04be1b6ce"
    assert server["span_id"] == "e5c3e8a7486f1d12"
    # the server span's parent is the client span: ids agree once both are hex
    assert server["attrs"]["parent_span_id"] == client["span_id"] == "0f530f5ea321a248"
    assert server["ts"] == dt.datetime(2023, 11, 30, 7, 24, 16, 911461, tzinfo=UTC)
    assert server["duration_ms"] == pytest.approx(0.4584)
    assert server["service"] == "cartservice"
    assert server["attrs"]["span_kind"] == "server"
    assert server["attrs"]["net.host.port"] == 7070  # intValue is a string in OTLP/JSON
    assert client["duration_ms"] == pytest.approx(1.955622)
    assert (client["service"], client["host"], client["pid"], client["peer"]) == (
        "frontend",
        "c2ba82b8c871",
        17,
        "cartservice",
    )
    assert client["attrs"]["span_kind"] == "client"


def test_flat_span_with_plain_maps_and_error_status() -> None:
    record = {
        "traceId": "61432d488c5740779ad434e04be1b6ce",
        "spanId": "0f530f5ea321a248",
        "name": "GET /api/cart",
        "kind": 3,
        "startTimeUnixNano": 1701329056910000000,
        "endTimeUnixNano": "1701329066910000000",
        "attributes": {"server.address": "cartservice", "http.response.status_code": 504},
        "status": {"code": "STATUS_CODE_ERROR", "message": 'Get "http://cart/": context deadline exceeded'},
        "service.name": "frontend",
        "k8s.pod.name": "frontend-6d4cf56db6-h2x7p",
        "k8s.namespace.name": "shop",
        "k8s.node.name": "node-3",
    }
    row = span_from_record(record)
    assert (row["status"], row["level"], row["duration_ms"]) == (2, "error", 10000.0)
    assert (row["service"], row["pod"], row["namespace"], row["host"]) == (
        "frontend",
        "frontend-6d4cf56db6-h2x7p",
        "shop",
        "node-3",
    )
    assert row["peer"] == "cartservice"
    assert row["message"] == 'Get "http://cart/": context deadline exceeded'
    assert row["error_class"] is None  # a deadline is not one of the catalogued span errors


@pytest.mark.parametrize(
    ("message", "error_class"),
    [
        ("context canceled", "context_cancelled"),
        ("rpc error: code = Canceled desc = context cancelled", "context_cancelled"),
        ("read ETIMEDOUT", "read_timeout"),
        ("Read timed out", "read_timeout"),
        ("socket hang up", "econnreset"),
        ("read ECONNRESET", "econnreset"),
        ("connect ECONNREFUSED 10.0.0.7:5432", "econnrefused"),
        ("java.lang.IllegalStateException: Response is closed", "response_closed"),
    ],
)
def test_span_error_classes(message: str, error_class: str) -> None:
    base = jsonl("otel_demo_spans.jsonl")[1]
    via_status = dict(base, status={"code": 2, "message": message})
    assert span_from_record(via_status)["error_class"] == error_class
    via_exception_event = dict(
        base,
        status={"code": 2},
        events=[
            {
                "name": "exception",
                "attributes": [{"key": "exception.message", "value": {"stringValue": message}}],
            }
        ],
    )
    row = span_from_record(via_exception_event)
    assert row["error_class"] == error_class
    assert row["attrs"]["exception.message"] == message


def test_otlp_any_values_and_resource_entities() -> None:
    doc = load("otlp_trace_example.json")
    resource = doc["resourceSpans"][0]["resource"]["attributes"]
    resource += [
        {"key": "k8s.pod.name", "value": {"stringValue": "api-7c9d-xk2"}},
        {"key": "k8s.namespace.name", "value": {"stringValue": "prod"}},
        {"key": "host.name", "value": {"stringValue": "ip-10-0-1-5"}},
    ]
    span = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["attributes"] += [
        {"key": "retries", "value": {"intValue": "3"}},
        {"key": "ratio", "value": {"doubleValue": 0.25}},
        {"key": "cached", "value": {"boolValue": False}},
        {"key": "tags", "value": {"arrayValue": {"values": [{"stringValue": "a"}, {"intValue": "2"}]}}},
        {
            "key": "db",
            "value": {"kvlistValue": {"values": [{"key": "name", "value": {"stringValue": "orders"}}]}},
        },
    ]
    span["status"] = {"code": 1}
    (row,) = document_events(doc, "otlp_traces")
    assert (row["pod"], row["namespace"], row["host"], row["status"]) == (
        "api-7c9d-xk2",
        "prod",
        "ip-10-0-1-5",
        1,
    )
    assert row["attrs"]["retries"] == 3
    assert row["attrs"]["ratio"] == 0.25
    assert row["attrs"]["cached"] is False
    assert row["attrs"]["tags"] == ["a", 2]
    assert row["attrs"]["db"] == {"name": "orders"}


@pytest.mark.parametrize(
    ("raw", "hex_id"),
    [
        ("5B8EFFF798038103D269B633813FC60C", "5b8efff798038103d269b633813fc60c"),
        ("YUMtSIxXQHea1DTgS+G2zg==", "61432d488c5740779ad434e04be1b6ce"),
        ("5cPop0hvHRI=", "e5c3e8a7486f1d12"),
        ("eee19b7ec3c1b174", "eee19b7ec3c1b174"),
        ("0000000000000000", None),
        ("", None),
        (None, None),
        ("ff", "ff"),  # Jaeger may drop leading zeros; kept as written
    ],
)
def test_trace_id_hex(raw, hex_id) -> None:
    assert trace_id_hex(raw) == hex_id


# --------------------------------------------------------------------------- Jaeger


def test_jaeger_trace_in_api_envelope() -> None:
    rows = document_events({"data": [load("jaeger_ui_01.json")]}, "jaeger_traces")
    assert len(rows) == 5
    first = rows[0]
    assert first["ts"] == dt.datetime(2017, 1, 26, 21, 46, 31, 639875, tzinfo=UTC)
    assert first["duration_ms"] == 0.005
    assert (first["trace_id"], first["span_id"], first["service"], first["route"]) == (
        "0000000000000001",
        "2",
        "service-x",
        "test-general-conversion",
    )
    errored = rows[1]
    assert (errored["status"], errored["level"], errored["peer"]) == (2, "error", "service-y")
    assert errored["attrs"]["temperature"] == 72.5 and errored["attrs"]["peer.ipv4"] == 23456
    # Jaeger's rule: the first CHILD_OF reference in the same trace (not the one into trace 0xff)
    assert [r["attrs"]["parent_span_id"] for r in rows] == [None, None, "2", "2", "4"]
    assert [r["service"] for r in rows] == ["service-x", "service-x", "service-y", "service-y", "service-y"]
    assert rows[4]["duration_ms"] == 0.004


def test_jaeger_error_log_and_otel_status_tag() -> None:
    trace = load("jaeger_ui_01.json")
    span = trace["spans"][2]
    span["tags"] = [{"key": "otel.status_code", "type": "string", "value": "ERROR"}]
    span["logs"] = [
        {
            "timestamp": 1485467191639876,
            "fields": [
                {"key": "event", "type": "string", "value": "error"},
                {"key": "message", "type": "string", "value": "Error: socket hang up"},
            ],
        }
    ]
    row = document_events(trace, "jaeger_traces")[2]
    assert (row["status"], row["message"], row["error_class"]) == (2, "Error: socket hang up", "econnreset")


# --------------------------------------------------------------------------- Elasticsearch


def test_filebeat_source_document() -> None:
    (row,) = events_of(load("es_filebeat_container_log.json"))
    assert row["kind"] == "log"
    assert row["ts"] == dt.datetime(2021, 12, 14, 9, 42, 30, 686000, tzinfo=UTC)
    assert row["ts_text"] == "2021-12-14T09:42:30.686Z"
    assert row["message"].startswith('127.0.0.1 - - [14/Dec/2021:09:42:30 +0000] "GET / HTTP/1.1" 304')
    assert (row["pod"], row["namespace"], row["container"], row["host"], row["service"]) == (
        "nginx-deployment-66b6c48dd5-ffdxp",
        "default",
        "nginx",
        "kind-control-plane",
        "nginx",
    )
    assert json.loads(row["entity_source"]) == {
        "pod": "envelope",
        "namespace": "envelope",
        "container": "envelope",
        "host": "envelope",
        "service": "envelope",
    }
    assert "error_class" not in row  # the caller's catalogue classifies `message`


def test_fluent_bit_hits_in_a_search_response() -> None:
    response = {"took": 3, "timed_out": False, "hits": {"total": 1, "hits": [load("es_fluentbit_hit.json")]}}
    (row,) = document_events(response, "es_search")
    assert row["ts"] == dt.datetime(2019, 5, 19, 9, 23, 17, 372000, tzinfo=UTC)  # from @timestamp_es
    assert row["message"].startswith("E0519 09:23:17.372584       1 pv_protection_controller.go:116]")
    assert not row["message"].endswith("\n")
    assert row["stream"] == "stderr"
    assert (row["pod"], row["namespace"], row["container"], row["host"]) == (
        "kube-controller-manager-docker-for-desktop",
        "kube-system",
        "kube-controller-manager",
        "docker-for-desktop",
    )
    assert row.get("service") is None  # Fluent Bit labels carry no app label here


def test_es_entities_flattened_and_nested_spellings_agree() -> None:
    nested = load("es_filebeat_container_log.json")
    flattened = {
        "@timestamp": nested["@timestamp"],
        "message": nested["message"],
        "kubernetes.pod.name": "nginx-deployment-66b6c48dd5-ffdxp",
        "kubernetes.namespace": "default",
        "kubernetes.container.name": "nginx",
        "kubernetes.node.name": "kind-control-plane",
        "kubernetes.labels.app": "nginx",
    }
    assert es_entities(flattened) == es_entities(nested)
    assert lookup({"kubernetes": {"pod.name": "x"}}, "kubernetes.pod.name") == "x"
    assert (
        lookup(
            {"kubernetes": {"labels": {"app.kubernetes.io/name": "web"}}},
            "kubernetes.labels.app.kubernetes.io/name",
        )
        == "web"
    )


def test_es_entities_opentelemetry_names() -> None:
    # The OpenTelemetry Elasticsearch exporter's layout: resource attributes under resource.attributes.
    doc = {
        "@timestamp": "2024-06-01T12:00:00.123456789Z",
        "body": {"text": "upstream connect error"},
        "severity_text": "WARNING",
        "resource": {
            "attributes": {
                "k8s.pod.name": "checkout-5d8c-9qz",
                "k8s.namespace.name": "shop",
                "k8s.container.name": "checkout",
                "k8s.node.name": "node-2",
                "service.name": "checkout",
                "process.pid": 1,
            }
        },
        "attributes": {"log.iostream": "stderr"},
    }
    assert detect_document(doc) == "es_source"
    (row,) = document_events(doc, "es_source")
    assert row["ts"] == dt.datetime(2024, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert (row["message"], row["level"], row["stream"]) == ("upstream connect error", "warn", "stderr")
    assert (row["pod"], row["namespace"], row["container"], row["host"], row["service"], row["pid"]) == (
        "checkout-5d8c-9qz",
        "shop",
        "checkout",
        "node-2",
        "checkout",
        1,
    )
    top_level = {"k8s.pod.name": "p", "host.name": "h", "process.pid": 42, "log.level": "error"}
    assert es_entities(top_level) == {
        "pod": "p",
        "host": "h",
        "pid": 42,
        "entity_source": '{"host": "envelope", "pid": "envelope", "pod": "envelope"}',
    }


# --------------------------------------------------------------------------- schema


def test_rows_fit_the_canonical_schema() -> None:
    rows = []
    for name in (
        "k8s_pod_oomkilled.json",
        "k8s_event_unhealthy.json",
        "otlp_trace_example.json",
        "jaeger_ui_01.json",
        "es_filebeat_container_log.json",
        "es_fluentbit_hit.json",
    ):
        rows.extend(events_of(load(name)))
    for row in rows:
        assert set(row) <= set(EVENT_COLUMNS)
        assert row["ts"] is None or row["ts"].tzinfo is not None
    encoded = [{**r, "attrs": json.dumps(r["attrs"]) if "attrs" in r else None} for r in rows]
    frame = conform(
        pl.DataFrame(encoded, schema_overrides={"ts": pl.Datetime("us", "UTC")}, infer_schema_length=None)
    )
    assert frame.schema == pl.Schema(EVENT_COLUMNS)
    assert frame.height == len(rows)
    assert frame.filter(pl.col("kind") == "container_terminated")["exit_code"].to_list() == [137]


def test_parse_time_variants() -> None:
    assert parse_time("2019-05-19T09:23:17.3729255Z") == dt.datetime(
        2019, 5, 19, 9, 23, 17, 372925, tzinfo=UTC
    )
    assert parse_time("2019-02-23T05:30:45.598142519+00:00") == dt.datetime(
        2019, 2, 23, 5, 30, 45, 598142, tzinfo=UTC
    )
    assert parse_time("2024-01-01T02:00:00+02:00") == dt.datetime(2024, 1, 1, 0, 0, tzinfo=UTC)
    assert parse_time(1558257797372) == dt.datetime(2019, 5, 19, 9, 23, 17, 372000, tzinfo=UTC)
    assert parse_time("yesterday") is None and parse_time(None) is None


# --------------------------------------------------------------------------- Google Cloud Logging

GKE_NODE = "gke-acme-staging-acme-pool-1c92a002-qq6y"


def test_gcloud_logging_read_array() -> None:
    entries = load("gcp_logging_read.json")
    assert isinstance(entries, list)
    assert detect_document(entries) == "gcp_log_entries"
    legacy, reactor, hello = document_events(entries, "gcp_log_entries")
    assert {r["kind"] for r in (legacy, reactor, hello)} == {"log"}

    # textPayload, the pre-2018 `container` resource type (pod in the entry labels)
    assert legacy["ts"] == dt.datetime(2020, 3, 15, 18, 44, 47, 899399, tzinfo=UTC)  # nanoseconds truncated
    assert legacy["ts_text"] == "2020-03-15T18:44:47.899399657Z"
    assert legacy["level"] == "info"
    assert legacy["message"].startswith('info: [ghjExpress] 217.213.90.98 - - [15/Mar/2020:18:44:47 +0000] "GET /v1/')
    assert not legacy["message"].endswith("\n")
    assert (legacy["pod"], legacy["namespace"], legacy["container"], legacy["host"], legacy["stream"]) == (
        "abcghjapp-backend-847459cbd7-l5rs2",
        "default",
        "abcghjapp-backend",
        "gke-def-default-pool-2-d9fcb339-wj1v",
        "stdout",
    )

    # jsonPayload.message, k8s_container, DEBUG, node and app from the entry labels
    assert reactor["ts"] == dt.datetime(2022, 6, 6, 8, 21, 26, 343874, tzinfo=UTC)
    assert (reactor["message"], reactor["level"], reactor["stream"]) == ("Failed to handle task.", "debug", "stdout")
    assert (reactor["pod"], reactor["namespace"], reactor["container"], reactor["host"], reactor["service"]) == (
        "reactor-7cd8547b58-mfrbk",
        "default",
        "reactor",
        GKE_NODE,
        "reactor",
    )
    assert json.loads(reactor["entity_source"]) == dict.fromkeys(
        ("pod", "namespace", "container", "host", "service"), "envelope"
    )
    assert reactor["attrs"]["cluster"] == "acme-staging"
    assert reactor["attrs"]["insert_id"] == "hej2q46u808lwlua"
    assert reactor["attrs"]["receive_ts"] == "2022-06-06T08:21:27.763967650Z"

    # jsonPayload with only `log` (GKE on bare metal), no severity: level left to the caller
    assert hello["message"] == "2024/07/28 15:50:21 Serving request: /"
    assert hello["level"] is None
    assert (hello["stream"], hello["service"], hello["host"]) == ("stderr", "hello-app", None)


def test_gcp_log_entries_one_per_line_match_the_array() -> None:
    lines = jsonl("gcp_log_entries.jsonl")
    assert [detect_document(e) for e in lines] == ["gcp_log_entry"] * 3
    per_line = [row for e in lines for row in document_events(e, "gcp_log_entry")]
    assert per_line == document_events(load("gcp_logging_read.json"), "gcp_log_entries")
    # the entries:list REST response wraps the same objects
    assert document_events({"entries": lines, "nextPageToken": "x"}, "gcp_log_entries") == per_line
    assert detect_document({"entries": lines}) == "gcp_log_entries"


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        ("DEFAULT", None),
        ("DEBUG", "debug"),
        ("INFO", "info"),
        ("NOTICE", "info"),
        ("WARNING", "warn"),
        ("ERROR", "error"),
        ("CRITICAL", "fatal"),
        ("ALERT", "fatal"),
        ("EMERGENCY", "fatal"),
        (400, "warn"),  # the enum's number, as some clients write it
        (0, None),
        (None, None),
    ],
)
def test_gcp_severity_levels(severity, level) -> None:
    entry = {"logName": "projects/p/logs/stdout", "textPayload": "x", "timestamp": "2024-01-05T12:34:56Z"}
    if severity is not None:
        entry["severity"] = severity
    (row,) = document_events(entry, detect_document(entry))
    assert row["level"] == level


def test_gcp_json_payload_without_message_trace_and_http_request() -> None:
    entry = {  # shape of the LogEntry reference (cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry)
        "logName": "projects/p/logs/requests",
        "resource": {"type": "k8s_container", "labels": {"pod_name": "web-1", "namespace_name": "shop"}},
        "timestamp": "2024-01-05T12:34:56.123456789+01:00",
        "severity": "ERROR",
        "jsonPayload": {"event": "checkout", "pid": 7},
        "httpRequest": {"requestMethod": "GET", "requestUrl": "/cart", "status": 502, "latency": "0.250s"},
        "trace": "projects/p/traces/4BF92F3577B34DA6A3CE929D0E0E4736",
        "spanId": "00f067aa0ba902b7",
    }
    (row,) = document_events(entry, detect_document(entry))
    assert row["ts"] == dt.datetime(2024, 1, 5, 11, 34, 56, 123456, tzinfo=UTC)
    assert json.loads(row["message"]) == {"event": "checkout", "pid": 7}
    assert (row["pid"], row["status"], row["duration_ms"]) == (7, 502, 250.0)
    assert (row["trace_id"], row["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert (row["pod"], row["namespace"], row["container"]) == ("web-1", "shop", None)


def test_gcp_detection_is_strict() -> None:
    assert detect_document([]) is None
    assert detect_document([load("gcp_logging_read.json")[0], {"level": 30}]) is None
    assert detect_document({"severity": "INFO", "message": "structured stdout line"}) is None
    with pytest.raises(ValueError, match="expected a JSON object"):
        document_events(load("gcp_logging_read.json"), "gcp_log_entry")


# --------------------------------------------------------------------------- AWS CloudWatch Logs

CONTAINER_LOG = "kafka-5ff8667569-jbfmv_default_kafka-21f53b7ee51735caa49547e4db10d4c974f1161b940014174f069f2454f11d8c"


def test_cloudwatch_filter_log_events() -> None:
    doc = load("cloudwatch_filter_log_events.json")
    assert detect_document(doc) == "cloudwatch_events"
    first, second = document_events(doc, "cloudwatch_events")
    assert first["ts"] == dt.datetime(2024, 4, 8, 9, 17, 23, 827000, tzinfo=UTC)  # epoch ms 1712567843827
    assert first["ts_text"] == "1712567843827"
    assert (first["kind"], first["message"]) == ("log", "Test MESSAGE1")
    assert first["attrs"] == {
        "log_stream": "teststream",
        "event_id": "00091539120382912324200901570000096855579456010247667712",
        "ingestion_ts": "1712567844822",
    }
    assert second["attrs"]["log_stream"] == "2024/05/09/[$LATEST]abc1024"  # a Lambda stream: no entities
    assert first.get("pod") is None and "entity_source" not in first
    # one event per line (`jq -c '.events[]'`)
    assert detect_document(doc["events"][0]) == "cloudwatch_event"
    assert document_events(doc["events"][0], "cloudwatch_event") == [first]


def test_cloudwatch_get_log_events() -> None:
    doc = load("cloudwatch_get_log_events.json")
    assert detect_document(doc) == "cloudwatch_events"
    rows = document_events(doc, "cloudwatch_events")
    assert [r["message"] for r in rows] == ["Example Event 1", "Example Event 1", "Example Event 2"]
    assert [r["ts"].microsecond for r in rows] == [356000, 356000, 358000]
    assert rows[0]["ts"] == dt.datetime(2015, 6, 1, 20, 23, 4, 356000, tzinfo=UTC)
    assert detect_document({"events": [], "nextForwardToken": "f/1", "nextBackwardToken": "b/1"}) == "cloudwatch_events"


def test_cloudwatch_fluent_bit_record_from_eks() -> None:
    (row,) = events_of(load("cloudwatch_eks_fluent_bit.json"))
    assert row["message"] == "ERROR: Simulated application failure"
    assert row["stream"] == "stdout"
    # the record's runtime time (ns) wins over the event's ms timestamp 1786217543415
    assert row["ts"] == dt.datetime(2026, 8, 8, 19, 32, 23, 415926, tzinfo=UTC)
    assert row["ts_text"] == "2026-08-08T19:32:23.415926866Z"
    assert (row["pod"], row["namespace"], row["container"], row["host"]) == (
        "crash-demo",
        "default",
        "crash-container",
        "<node>",  # redacted in the source
    )
    assert json.loads(row["entity_source"]) == dict.fromkeys(("pod", "namespace", "container", "host"), "envelope")


@pytest.mark.parametrize(
    "stream_name",
    [
        CONTAINER_LOG,
        f"fluent-bit-kube.var.log.containers.{CONTAINER_LOG}.log",
        f"from-fluent-bit-kube.var.log.containers.{CONTAINER_LOG}.log",
        f"kube.var.log.containers.{CONTAINER_LOG}.log",
        f"ip-192-168-42-205.ec2.internal-application.var.log.containers.{CONTAINER_LOG}.log",
    ],
)
def test_cloudwatch_entities_from_log_stream_name(stream_name: str) -> None:
    event = {"logStreamName": stream_name, "timestamp": 1712567843827, "message": "plain line\n", "ingestionTime": 1}
    (row,) = document_events({"events": [event], "searchedLogStreams": []}, "cloudwatch_events")
    assert (row["pod"], row["namespace"], row["container"]) == ("kafka-5ff8667569-jbfmv", "default", "kafka")
    assert json.loads(row["entity_source"]) == {"pod": "path", "namespace": "path", "container": "path"}
    assert row["message"] == "plain line"


def test_cloudwatch_subscription_payload_and_non_matches() -> None:
    payload = {  # a CloudWatch Logs subscription's data, decoded (docs' example shape)
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/containerinsights/demo/application",
        "logStream": f"fluent-bit-kube.var.log.containers.{CONTAINER_LOG}.log",
        "subscriptionFilters": ["all"],
        "logEvents": [{"id": "3195", "timestamp": 1712567843827, "message": "Worker 4242 started"}],
    }
    assert detect_document(payload) == "cloudwatch_events"
    (row,) = document_events(payload, "cloudwatch_events")
    assert (row["pod"], row["attrs"]["log_group"], row["attrs"]["event_id"]) == (
        "kafka-5ff8667569-jbfmv",
        "/aws/containerinsights/demo/application",
        "3195",
    )
    assert detect_document({"events": [{"timestamp": 1, "message": "x"}]}) is None  # no CloudWatch field
    assert detect_document({"timestamp": 1712567843827, "message": "app log"}) is None
    assert document_events({"events": [{"message": "no time", "ingestionTime": 1}]}, "cloudwatch_events")[0]["ts"] is None


# --------------------------------------------------------------------------- end to end

WORKER_ENTRY = {  # built inline: a gcloud LogEntry whose text the catalogue knows
    "insertId": "w4242",
    "labels": {"compute.googleapis.com/resource_name": GKE_NODE, "k8s-pod/app": "api"},
    "logName": "projects/acme-stage/logs/stdout",
    "receiveTimestamp": "2022-06-06T08:21:30.100000000Z",
    "resource": {
        "labels": {"container_name": "api", "namespace_name": "default", "pod_name": "api-6d4cf56db6-2x7kq"},
        "type": "k8s_container",
    },
    "severity": "INFO",
    "textPayload": "Worker 4242 started\n",
    "timestamp": "2022-06-06T08:21:29.987654321Z",
}


def _check_worker(cli, name: str, fmt: str, level: str | None = "info") -> None:
    (src,) = [s for s in cli.sources() if s["path"].endswith(name)]
    assert src["format"] == fmt
    assert src["lines"] == src["lines_parsed"] + src["lines_rejected"]
    assert src["lines_rejected"] == 0
    rows = cli.sql(
        "SELECT kind, pid, pod, namespace, container, host, level, ts FROM events WHERE message = 'Worker 4242 started'"
    )
    assert rows == [
        (
            "worker_start",
            4242,
            "api-6d4cf56db6-2x7kq",
            "default",
            "api",
            GKE_NODE,
            level,
            dt.datetime(2022, 6, 6, 8, 21, 29, 987654, tzinfo=UTC),
        )
    ]


def test_cli_ingests_gcloud_array(cli, tmp_path) -> None:
    path = tmp_path / "gcloud.json"
    path.write_text(json.dumps([*load("gcp_logging_read.json"), WORKER_ENTRY], indent=2, sort_keys=True) + "\n")
    cli.ok("ingest", str(path), "-q")
    _check_worker(cli, "gcloud.json", "document")
    assert cli.sql("SELECT count(*) FROM events")[0][0] == 4


def test_cli_ingests_gcp_entries_per_line(cli, tmp_path) -> None:
    path = tmp_path / "sink.jsonl"
    text = (FIXTURES / "gcp_log_entries.jsonl").read_text(encoding="utf-8")
    path.write_text(text + json.dumps(WORKER_ENTRY, sort_keys=True) + "\n")
    cli.ok("ingest", str(path), "-q")
    _check_worker(cli, "sink.jsonl", "document_lines")
    assert cli.sql("SELECT count(*) FROM events")[0][0] == 4


def test_cli_ingests_cloudwatch_filter_log_events(cli, tmp_path) -> None:
    doc = load("cloudwatch_eks_fluent_bit.json")
    record = {
        "log": "Worker 4242 started\n",
        "stream": "stdout",
        "time": "2022-06-06T08:21:29.987654321Z",
        "kubernetes": {"pod_name": "api-6d4cf56db6-2x7kq", "namespace_name": "default", "container_name": "api", "host": GKE_NODE},
    }
    doc["events"].append(
        {
            "logStreamName": f"fluent-bit-kube.var.log.containers.api-6d4cf56db6-2x7kq_default_api-{'ab' * 32}.log",
            "timestamp": 1654503689987,
            "message": json.dumps(record),
            "ingestionTime": 1654503690500,
            "eventId": "1",
        }
    )
    path = tmp_path / "cw.json"
    path.write_text(json.dumps(doc, indent=4) + "\n")
    cli.ok("ingest", str(path), "-q")
    _check_worker(cli, "cw.json", "document", level=None)  # CloudWatch has no severity; the text names none
    assert cli.sql("SELECT level FROM events WHERE pod = 'crash-demo'") == [("error",)]  # inferred from the text


def test_pod_spec_carries_the_pod_ip():
    """The pod's IP pairs a server's `client=<ip>` with the calling pod."""
    pod = load("k8s_pod_nginx.json")
    (spec,) = [e for e in document_events(pod, "k8s_pod") if e["kind"] == "pod_spec"]
    assert spec["attrs"]["pod_ip"] == pod["status"]["podIP"] == "10.88.0.3"
