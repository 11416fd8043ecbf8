"""The receiver's memory: the last N traces, spans merged by trace id, as plain JSON-able dicts.

A span is a dict: `trace_id`, `span_id`, `parent_span_id` (hex, "" for a root), `name`, `kind`,
`service` (the span's `service.name.override`, else its resource's `service.name`), `start_ns`,
`end_ns`, `status` (`unset` | `ok` | `error`), `status_message`, `attributes`, `events`.
"""

from __future__ import annotations

import fnmatch
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from plano.observability.names import SERVICE_NAME, SIGNALS_FLAG

DEFAULT_CAPACITY: Final = 50
MAX_SPANS_PER_TRACE: Final = 500
OVERRIDE_KEY: Final = "service.name.override"
_KINDS: Final = ("unspecified", "internal", "server", "client", "producer", "consumer")
_STATUS: Final = ("unset", "ok", "error")

Span = dict[str, Any]


def _value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [_value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return v.bytes_value.hex()
    return getattr(v, which)


def _attributes(kvs: Iterable[Any]) -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in kvs}


def spans_from_request(request: ExportTraceServiceRequest) -> list[Span]:
    """Flatten an OTLP export request into span dicts."""
    out: list[Span] = []
    for rs in request.resource_spans:
        resource = _attributes(rs.resource.attributes)
        resource_service = str(resource.get("service.name", "unknown"))
        for ss in rs.scope_spans:
            for s in ss.spans:
                attrs = _attributes(s.attributes)
                service = attrs.get(OVERRIDE_KEY)
                out.append(
                    {
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent_span_id": s.parent_span_id.hex(),
                        "name": s.name,
                        "kind": _KINDS[s.kind] if 0 <= s.kind < len(_KINDS) else str(s.kind),
                        "service": service if isinstance(service, str) else resource_service,
                        "start_ns": s.start_time_unix_nano,
                        "end_ns": s.end_time_unix_nano,
                        "status": _STATUS[s.status.code] if s.status.code < 3 else "unset",
                        "status_message": s.status.message,
                        "attributes": attrs,
                        "events": [
                            {
                                "name": e.name,
                                "time_ns": e.time_unix_nano,
                                "attributes": _attributes(e.attributes),
                            }
                            for e in s.events
                        ],
                    }
                )
    return out


class _Trace:
    __slots__ = ("dropped", "spans")

    def __init__(self) -> None:
        self.spans: dict[str, Span] = {}  # by span id, in arrival order
        self.dropped = 0

    def add(self, span: Span, limit: int) -> None:
        if span["span_id"] in self.spans or len(self.spans) < limit:
            self.spans[span["span_id"]] = span
            return
        if span["parent_span_id"]:
            self.dropped += 1
            return
        # A root arriving into a full trace replaces the latest child: roots are always kept.
        for span_id in reversed(self.spans):
            if self.spans[span_id]["parent_span_id"]:
                del self.spans[span_id]
                self.dropped += 1
                break
        else:
            self.dropped += 1
            return
        self.spans[span["span_id"]] = span

    def summary(self, trace_id: str) -> dict[str, Any]:
        spans = sorted(self.spans.values(), key=lambda s: (s["start_ns"], s["end_ns"]))
        ids = set(self.spans)
        roots = [s for s in spans if not s["parent_span_id"] or s["parent_span_id"] not in ids]
        start = min((s["start_ns"] for s in spans), default=0)
        end = max((s["end_ns"] for s in spans), default=0)
        return {
            "trace_id": trace_id,
            "start_ns": start,
            "end_ns": end,
            "duration_ms": round((end - start) / 1e6, 3),
            "root": roots[0]["name"] if roots else "",
            "service": roots[0]["service"] if roots else "",
            # False: no span of the trace is Plano's (another service exporting here)
            "plano": any(is_plano_service(s["service"]) for s in spans),
            "span_count": len(spans),
            "dropped_spans": self.dropped,
            "spans": spans,
        }


@dataclass(frozen=True)
class TraceQuery:
    """Which traces to return, newest (by start time) first."""

    trace_id: str | None = None  # 32 hex digits, or a prefix (the 8-hex short id)
    model: str | None = None  # glob over any span's llm.model or model.requested
    status: str | None = None  # an HTTP status code, or "error"
    since_ns: int | None = None  # traces that started at or after this wall time
    limit: int = 20
    # (attribute key, value as text): every pair is on some span of the trace
    where: tuple[tuple[str, str], ...] = ()
    flagged: bool = False  # only traces with a span flagged by agentic signals (🚩)
    service: str | None = None  # glob over the spans' service names (any span matching)

    def matches(self, trace: Mapping[str, Any]) -> bool:
        if self.trace_id and not trace["trace_id"].startswith(self.trace_id):
            return False
        if self.since_ns is not None and trace["start_ns"] < self.since_ns:
            return False
        spans: list[Span] = trace["spans"]
        if self.model and not any(_model_matches(s, self.model) for s in spans):
            return False
        for key, value in self.where:
            if not any(_attribute_is(s, key, value) for s in spans):
                return False
        if self.flagged and not any(is_flagged(s) for s in spans):
            return False
        if self.service and not any(_service_matches(s, self.service) for s in spans):
            return False
        return not self.status or any(_status_matches(s, self.status) for s in spans)


def attribute_text(value: Any) -> str:
    """An attribute value as `--where` compares it: strings as they are, booleans as
    `true`/`false`, numbers as Python prints them, arrays and maps as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) or value is None:
        return str(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _attribute_is(span: Span, key: str, value: str) -> bool:
    attrs = span["attributes"]
    if key not in attrs:
        return False
    found = attrs[key]
    if isinstance(found, bool):
        return attribute_text(found) == value.lower()
    return attribute_text(found) == value


def is_plano_service(service: str) -> bool:
    """`plano`, or one of its sub-services (`plano(llm)`, `plano(routing)`, ...)."""
    return service == SERVICE_NAME or service.startswith(SERVICE_NAME + "(")


def _service_matches(span: Span, pattern: str) -> bool:
    return fnmatch.fnmatchcase(str(span["service"]).lower(), pattern.lower())


def is_flagged(span: Span) -> bool:
    """The gateway flagged the span's conversation (its name ends with the 🚩)."""
    return str(span["name"]).endswith(SIGNALS_FLAG)


def _model_matches(span: Span, pattern: str) -> bool:
    attrs = span["attributes"]
    pattern = pattern.lower()
    return any(
        isinstance(attrs.get(key), str) and fnmatch.fnmatchcase(attrs[key].lower(), pattern)
        for key in ("llm.model", "model.requested")
    )


def _status_matches(span: Span, status: str) -> bool:
    code = span["attributes"].get("http.status_code")
    if status == "error":
        return span["status"] == "error" or (isinstance(code, int) and code >= 400)
    return str(code) == status


class TraceStore:
    """Thread-safe: the gRPC and HTTP servers add and query from their own threads."""

    def __init__(
        self, capacity: int = DEFAULT_CAPACITY, max_spans: int = MAX_SPANS_PER_TRACE
    ) -> None:
        if capacity < 1 or max_spans < 1:
            raise ValueError("capacity and max_spans must be at least 1")
        self.capacity = capacity
        self.max_spans = max_spans
        self._traces: OrderedDict[str, _Trace] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, spans: Iterable[Span]) -> None:
        with self._lock:
            for span in spans:
                trace_id = span["trace_id"]
                trace = self._traces.get(trace_id)
                if trace is None:
                    trace = self._traces[trace_id] = _Trace()
                    while len(self._traces) > self.capacity:
                        self._traces.popitem(last=False)
                else:
                    self._traces.move_to_end(trace_id)
                trace.add(span, self.max_spans)

    def unknown_keys(self, keys: Iterable[str]) -> list[str]:
        """The keys (in order) that no stored span has as an attribute; none when the store is
        empty (nothing is known yet)."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        with self._lock:
            if not self._traces:
                return []
            missing = set(wanted)
            for trace in self._traces.values():
                for span in trace.spans.values():
                    missing.difference_update(span["attributes"].keys())
                    if not missing:
                        return []
        return [k for k in wanted if k in missing]

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)

    def query(self, query: TraceQuery = TraceQuery()) -> list[dict[str, Any]]:
        with self._lock:
            traces = [t.summary(trace_id) for trace_id, t in self._traces.items()]
        traces.sort(key=lambda t: t["start_ns"], reverse=True)
        found = [t for t in traces if query.matches(t)]
        return found[: max(query.limit, 0)]
