"""The request span's context and naming: the client's W3C `traceparent` read as the SDK's
propagator reads it, the span's name (the original's, or the GenAI form), and a guard verdict
as attributes. Split from `otel_spans` (which makes and queues the spans)."""

from __future__ import annotations

import re
from typing import Any, Final

from plano.observability import names as n
from plano.observability.genai import genai_span_name
from plano.observability.otlp_encoding import span_flags, varint
from plano.observability.record import GuardNote, RequestRecord

# The W3C grammar exactly as the SDK's TraceContextTextMapPropagator checks it (same regex, same
# rejections); `parse_traceparent` is tested against the propagator. Calling the propagator
# itself costs ~4 µs per request (it builds a Context and a NonRecordingSpan) against ~0.8 here.
_TRACEPARENT: Final = re.compile(
    r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:(-.*)|[ \t]*)$"
)
_TRACEPARENT_MAX: Final = 512
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16
FLAGS_LOCAL: Final = span_flags(False)
FLAGS_REMOTE: Final = span_flags(True)  # the request span's parent is always the client's


def traceparent_fields(header: str) -> tuple[str, str, str] | None:
    """(trace id, parent span id, trace flags) of a valid `traceparent`, in hex, else None."""
    if len(header) > _TRACEPARENT_MAX:
        return None
    m = _TRACEPARENT.match(header)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or version == "ff":
        return None
    if version == "00" and rest:
        return None
    return trace_id, span_id, flags


def parse_traceparent(header: str) -> tuple[int, int, int] | None:
    """(trace id, parent span id, trace flags) of a valid `traceparent`, else None."""
    fields = traceparent_fields(header)
    if fields is None:
        return None
    trace_id, span_id, flags = fields
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


def client_context(parent_id: bytes, trace_state: str) -> bytes:
    """The `trace_state`, `parent_span_id` and `flags` fields of a span whose parent is the
    client's (remote) span."""
    raw = trace_state.encode()
    state = b"\x1a" + varint(len(raw)) + raw if raw else b""
    return state + b"\x22\x08" + parent_id + FLAGS_REMOTE


def guard_attributes(g: GuardNote, into: dict[str, Any]) -> None:
    """A guard verdict as request-span attributes."""
    into[n.ATTR_GUARD_FILTER] = g.filter
    into[n.ATTR_GUARD_VERDICT] = g.verdict
    into[n.ATTR_GUARD_SOURCE] = g.source
    into[n.ATTR_GUARD_SCORE] = round(g.score, 4)
    if g.rule:
        into[n.ATTR_GUARD_RULE] = g.rule


def span_name(r: RequestRecord) -> str:
    """`POST /v1/chat/completions gpt-4o`, or `... <requested> -> <resolved>` when the model
    served is not the one the client named (alias, routing), like the original."""
    requested = r.requested_model
    if requested is None:
        return f"{r.method} {r.path} {r.model}" if r.model else f"{r.method} {r.path}"
    if r.model and requested not in (r.model, r.upstream_model):
        return f"{r.method} {r.path} {requested} -> {r.model}"
    return f"{r.method} {r.path} {requested}"


def flagged_name(r: RequestRecord, genai: bool = False) -> str:
    """The span's name (`span_name`, or with `genai` the `{operation} {model}` form for LLM
    calls), with ` 🚩` when the request's signals are concerning (reference §9.3)."""
    name = (genai_span_name(r) if genai else None) or span_name(r)
    note = r.signals
    return name + n.SIGNALS_FLAG if note is not None and note.flagged else name
