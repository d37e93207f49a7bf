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

One module per family: common.py (helpers), k8s.py, spans.py, elasticsearch.py, gcp.py,
cloudwatch.py, and dispatch.py (`detect_document`, `document_events`). The public names
of all of them are re-exported here.
"""

from .cloudwatch import (
    cloudwatch_event_row,
    cloudwatch_events,
    is_cloudwatch_event,
    is_cloudwatch_response,
    log_stream_entities,
)
from .common import (
    DOCUMENT_KINDS,
    EPOCH,
    SPAN_ERROR_CLASSES,
    SPAN_KINDS,
    STATUS_NAMES,
    UTC,
    any_value,
    as_dict,
    as_int,
    as_list,
    as_str,
    attribute_map,
    cpu_cores,
    entity_source,
    epoch_us,
    event_row,
    first_of,
    is_true,
    jaeger_tags,
    level_name,
    lookup,
    memory_bytes,
    parse_quantity,
    parse_time,
    span_error_class,
    trace_id_hex,
    unix_nano,
)
from .dispatch import (
    detect_document,
    document_events,
)
from .elasticsearch import (
    ES_ENTITY_PATHS,
    es_entities,
    es_message,
    es_search,
    es_source_row,
    es_timestamp,
)
from .gcp import (
    gcp_entries,
    gcp_entry_row,
    gcp_severity,
    is_gcp_entry,
)
from .k8s import (
    k8s_event_row,
    k8s_items,
    k8s_kind,
    pod_events,
)
from .spans import (
    is_flat_span,
    is_jaeger_trace,
    jaeger_traces,
    otlp_spans,
    span_from_record,
)

__all__ = [
    "DOCUMENT_KINDS",
    "EPOCH",
    "SPAN_ERROR_CLASSES",
    "SPAN_KINDS",
    "STATUS_NAMES",
    "UTC",
    "any_value",
    "as_dict",
    "as_int",
    "as_list",
    "as_str",
    "attribute_map",
    "cpu_cores",
    "entity_source",
    "epoch_us",
    "event_row",
    "first_of",
    "is_true",
    "jaeger_tags",
    "level_name",
    "lookup",
    "memory_bytes",
    "parse_quantity",
    "parse_time",
    "span_error_class",
    "trace_id_hex",
    "unix_nano",
    "k8s_event_row",
    "k8s_items",
    "k8s_kind",
    "pod_events",
    "is_flat_span",
    "is_jaeger_trace",
    "jaeger_traces",
    "otlp_spans",
    "span_from_record",
    "ES_ENTITY_PATHS",
    "es_entities",
    "es_message",
    "es_search",
    "es_source_row",
    "es_timestamp",
    "gcp_entries",
    "gcp_entry_row",
    "gcp_severity",
    "is_gcp_entry",
    "cloudwatch_event_row",
    "cloudwatch_events",
    "is_cloudwatch_event",
    "is_cloudwatch_response",
    "log_stream_entities",
    "detect_document",
    "document_events",
]
