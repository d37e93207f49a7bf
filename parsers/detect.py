"""Which input format a source is: a line envelope (envelopes.ENVELOPES) or JSON documents.

Decided from the head of the decompressed input (the first 256 KiB of a file; what the
ingest buffered of stdin), so a pipe is told apart the same way as a file.
"""

from __future__ import annotations

import re

import orjson

from .documents import detect_document
from .envelopes import ENVELOPES, detect_envelope
from .readers import head_bytes

DOCUMENT_FORMATS = ("document", "document_lines")
INPUT_FORMATS = (*ENVELOPES, *DOCUMENT_FORMATS)
DETECT_BYTES = 256 * 1024


def detect_format_bytes(head: bytes, complete: bool) -> str:
    """The format of an input whose first bytes are `head`; `complete`: head is the whole
    input (else its last, possibly cut, line is not looked at)."""
    text = head.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        first = stripped.split("\n", 1)[0].strip()
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            obj = None
        if obj is None and re.match(r'^[\[{]\s*(?:"|\{|\[|$)', first):
            return "document"  # pretty-printed JSON (kubectl get -o json, a saved _search, OTLP file)
        kind = detect_document(obj)
        if kind and kind not in ("es_source", "otel_span"):
            return "document_lines"
    lines = text.split("\n")
    if not complete:
        lines = lines[:-1]
    return detect_envelope(lines)


def detect_format(path: str, encoding: str | None = None) -> str:
    """The format of a file, or of stdin ("-": its buffered head, see readers.stdin_head)."""
    head = head_bytes(path, DETECT_BYTES, encoding)
    if path == "-":
        from .readers import stdin_complete

        return detect_format_bytes(head, stdin_complete())
    return detect_format_bytes(head, len(head) < DETECT_BYTES)
