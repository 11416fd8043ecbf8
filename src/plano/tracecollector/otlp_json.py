"""OTLP/JSON: the JSON encoding of OTLP/HTTP (`Content-Type: application/json`).

It is the protobuf messages' canonical JSON mapping (lowerCamelCase or original field names,
enums as integers, 64-bit integers as strings or numbers) with one exception: trace and span ids
are hex strings, not base64. The ids are rewritten to base64, then protobuf's own JSON parser
builds the `ExportTraceServiceRequest` that the protobuf path gets too. Unknown fields are
ignored, as the OTLP specification asks of receivers.
"""

from __future__ import annotations

import base64
from typing import Any, Final

import orjson
from google.protobuf import json_format  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

_HEX: Final = frozenset("0123456789abcdefABCDEF")
# (JSON name, proto name, bytes) of the id fields of a span and of a span link.
_SPAN_IDS: Final = (
    ("traceId", "trace_id", 16),
    ("spanId", "span_id", 8),
    ("parentSpanId", "parent_span_id", 8),
)
_LINK_IDS: Final = _SPAN_IDS[:2]


def request_from_json(body: bytes) -> ExportTraceServiceRequest:
    """Parse an OTLP/JSON trace export; raises ValueError (or protobuf's ParseError)."""
    doc = orjson.loads(body)
    if not isinstance(doc, dict):
        raise ValueError("an OTLP/JSON export request is a JSON object")
    for rs in _items(doc, "resourceSpans", "resource_spans"):
        for ss in _items(rs, "scopeSpans", "scope_spans"):
            for span in _items(ss, "spans"):
                _hex_ids(span, _SPAN_IDS)
                for link in _items(span, "links"):
                    _hex_ids(link, _LINK_IDS)
    request = ExportTraceServiceRequest()
    json_format.ParseDict(doc, request, ignore_unknown_fields=True)
    return request


def _items(obj: Any, *names: str) -> list[Any]:
    if not isinstance(obj, dict):
        return []
    for name in names:
        value = obj.get(name)
        if isinstance(value, list):
            return value
    return []


def _hex_ids(obj: Any, fields: tuple[tuple[str, str, int], ...]) -> None:
    if not isinstance(obj, dict):
        return
    for json_name, proto_name, size in fields:
        for name in (json_name, proto_name):
            value = obj.get(name)
            if value is None or value == "":
                continue
            if not isinstance(value, str) or len(value) != 2 * size or not _HEX.issuperset(value):
                raise ValueError(f"{json_name} must be {2 * size} hexadecimal digits")
            obj[name] = base64.b64encode(bytes.fromhex(value)).decode()
