"""Encoding a request span from the values `OtelTracing.finish` captured (`PendingSpan`).

`render_span` turns such a tuple into a `Span` message body, once its batch is complete
(`SpanBatcher`): the shared fields come encoded already (`_Head.fields` in `otel_spans`), and the
values that change from request to request are appended from prepared encodings
(`AttributeKey`). Fields are written in the order that is cheapest here: protobuf allows any
order, and the repeated attributes keep theirs.
"""

from __future__ import annotations

import struct
from typing import Final

from plano.observability import names as n
from plano.observability.otlp_encoding import (
    SPAN_ATTRIBUTE,
    AttributeKey,
    OtlpEncoder,
    event_field,
    event_prefix,
    key_field,
    pack_times,
    varint,
)
from plano.observability.signals_note import SignalsNote

# The attributes whose values change from request to request, their encodings prepared.
_K_DURATION: Final = AttributeKey(n.ATTR_LLM_DURATION_MS)
_K_REQUEST_ID: Final = AttributeKey(n.ATTR_REQUEST_ID)
_K_SESSION_ID: Final = AttributeKey(n.ATTR_SESSION_ID)
_K_PROMPT: Final = AttributeKey(n.ATTR_USAGE_PROMPT)
_K_COMPLETION: Final = AttributeKey(n.ATTR_USAGE_COMPLETION)
_K_TOTAL: Final = AttributeKey(n.ATTR_USAGE_TOTAL)
_K_CACHED: Final = AttributeKey(n.ATTR_USAGE_CACHED)
_K_BYTES: Final = AttributeKey(n.ATTR_LLM_RESPONSE_BYTES)
_K_TTFT: Final = AttributeKey(n.ATTR_LLM_TTFT)
_K_GEN_AI_INPUT: Final = AttributeKey(n.ATTR_GEN_AI_INPUT_TOKENS)
_K_GEN_AI_OUTPUT: Final = AttributeKey(n.ATTR_GEN_AI_OUTPUT_TOKENS)
_K_CACHE_CREATION: Final = AttributeKey(n.ATTR_USAGE_CACHE_CREATION)
_K_GEN_AI_CACHE_READ: Final = AttributeKey(n.ATTR_GEN_AI_CACHE_READ)
_K_GEN_AI_CACHE_CREATION: Final = AttributeKey(n.ATTR_GEN_AI_CACHE_CREATION)
_K_INPUT_COST: Final = AttributeKey(n.ATTR_USAGE_INPUT_COST)
_K_OUTPUT_COST: Final = AttributeKey(n.ATTR_USAGE_OUTPUT_COST)
_K_TOTAL_COST: Final = AttributeKey(n.ATTR_USAGE_TOTAL_COST)
_K_KEY_NAME: Final = AttributeKey(n.ATTR_KEY_NAME)
_K_KEY_TEAM: Final = AttributeKey(n.ATTR_KEY_TEAM)
_ALERT_KEY: Final = key_field(n.ATTR_KEY_BUDGET_ALERT)
# The whole `plano.key.budget_alert = true` attribute (AnyValue field 2: bool_value).
_KEY_ALERT_TRUE: Final = (
    SPAN_ATTRIBUTE + varint(len(_ALERT_KEY) + 4) + _ALERT_KEY + b"\x12\x02\x10\x01"
)
_K_TTFT_EVENT: Final = AttributeKey(n.ATTR_LLM_TTFT, tag=b"\x1a")  # in `Event.attributes`
_TTFT_EVENT_NAME: Final = event_prefix(n.EVENT_TTFT)
# `start_time_unix_nano`, `end_time_unix_nano` (fixed64) and, for requests that went upstream,
# the overhead attribute (a double), in one pack (without it: `pack_times`).
_OVERHEAD_PREFIX: Final = AttributeKey(n.ATTR_OVERHEAD_MS).double_prefix
_pack_times_overhead: Final = struct.Struct(f"<BQBQ{len(_OVERHEAD_PREFIX)}sd").pack
# Every attribute `render_span` writes per span (extra attributes never repeat them).
PER_REQUEST: Final = frozenset(
    {
        n.ATTR_LLM_DURATION_MS,
        n.ATTR_REQUEST_ID,
        n.ATTR_SESSION_ID,
        n.ATTR_USAGE_PROMPT,
        n.ATTR_USAGE_COMPLETION,
        n.ATTR_USAGE_TOTAL,
        n.ATTR_USAGE_CACHED,
        n.ATTR_LLM_RESPONSE_BYTES,
        n.ATTR_OVERHEAD_MS,
        n.ATTR_LLM_TTFT,
        n.ATTR_GEN_AI_INPUT_TOKENS,
        n.ATTR_GEN_AI_OUTPUT_TOKENS,
        n.ATTR_USAGE_CACHE_CREATION,
        n.ATTR_GEN_AI_CACHE_READ,
        n.ATTR_GEN_AI_CACHE_CREATION,
        n.ATTR_USAGE_INPUT_COST,
        n.ATTR_USAGE_OUTPUT_COST,
        n.ATTR_USAGE_TOTAL_COST,
    }
)
_TRACE_ID_TAG: Final = b"\x0a\x10"
_SPAN_ID_TAG: Final = b"\x12\x08"


# A request span as `finish` leaves it for its batch: the shared fields (`_Head.fields`),
# trace id, span id, client-context fields, wall start (ns), duration (ns), overhead (ns, None: no
# upstream call), request id, session id, prompt / completion / cached tokens, response bytes,
# time to first token (ns, 0: none) and further attributes already encoded (or None).
PendingSpan = tuple[
    bytes, bytes, bytes, bytes, int, int, int | None, str | None, str | None,
    int | None, int | None, int | None, int, int, bytes | None,
]  # fmt: skip


def usage_attributes(
    prompt: int | None,
    completion: int | None,
    cache_write: int | None,
    cost: tuple[float, float, float, float, float] | None,
    cache_read: int | None = None,
) -> bytes:
    """The OTel GenAI token counts (cache reads and writes too), cache writes under the
    original's name, and the cost (input = uncached input, cache reads and cache writes),
    encoded; called only for requests that reported usage."""
    parts: list[bytes] = []
    if prompt is not None:
        _K_GEN_AI_INPUT.put_int(parts, prompt)
    if completion is not None:
        _K_GEN_AI_OUTPUT.put_int(parts, completion)
    if cache_read is not None:
        _K_GEN_AI_CACHE_READ.put_int(parts, cache_read)
    if cache_write is not None:
        _K_CACHE_CREATION.put_int(parts, cache_write)
        _K_GEN_AI_CACHE_CREATION.put_int(parts, cache_write)
    if cost is not None:
        inp, out, read, write, total = cost
        _K_INPUT_COST.put_double(parts, inp + read + write)
        _K_OUTPUT_COST.put_double(parts, out)
        _K_TOTAL_COST.put_double(parts, total)
    return b"".join(parts)


def key_attributes(name: str, team: str | None, alert: bool) -> bytes:
    """The gateway key that made the request (its name, never the key), its team, and whether
    its budget is past the alert threshold; encoded, for requests made with a key."""
    parts: list[bytes] = []
    _K_KEY_NAME.put_str(parts, name)
    if team is not None:
        _K_KEY_TEAM.put_str(parts, team)
    if alert:
        parts.append(_KEY_ALERT_TRUE)
    return b"".join(parts)


def render_span(span: bytes | PendingSpan) -> bytes:
    """A `Span` message body from what `OtelTracing` queued (child spans come encoded already)."""
    if isinstance(span, bytes):
        return span
    (
        fields,
        trace_id,
        span_id,
        context,
        start,
        elapsed,
        overhead,
        request_id,
        session_id,
        prompt,
        completion,
        cached,
        bytes_out,
        ttft,
        extra,
    ) = span
    end = start + elapsed
    if overhead is not None:
        # The gateway's own time in ms, to the µs (the overhead header's precision).
        ms = ((overhead + 500) // 1000) / 1000
        times = _pack_times_overhead(0x39, start, 0x41, end, _OVERHEAD_PREFIX, ms)
    else:
        times = pack_times(0x39, start, 0x41, end)
    parts = [fields, _TRACE_ID_TAG, trace_id, _SPAN_ID_TAG, span_id, context, times]
    add = parts.append
    _K_DURATION.put_int(parts, elapsed // 1_000_000)
    if prompt is not None:
        _K_PROMPT.put_int(parts, prompt)
    if completion is not None:
        _K_COMPLETION.put_int(parts, completion)
    if prompt is not None or completion is not None:
        _K_TOTAL.put_int(parts, (prompt or 0) + (completion or 0))
    if cached is not None:
        _K_CACHED.put_int(parts, cached)
    if bytes_out:
        _K_BYTES.put_int(parts, bytes_out)
    if request_id:
        _K_REQUEST_ID.put_str(parts, request_id)
    if session_id:
        _K_SESSION_ID.put_str(parts, session_id)
    if extra:
        add(extra)
    if ttft:
        ttft_ms = ttft // 1_000_000
        _K_TTFT.put_int(parts, ttft_ms)
        event_attributes: list[bytes] = []
        _K_TTFT_EVENT.put_int(event_attributes, ttft_ms)
        add(event_field(_TTFT_EVENT_NAME, start + ttft, b"".join(event_attributes)))
    return b"".join(parts)


def signals_fields(encoder: OtlpEncoder, note: SignalsNote, at: int) -> bytes:
    """A request span's agentic-signals fields (reference §9.3): the report's attributes and one
    `signal.<type>` event per instance, at `at` (wall ns: the request's end), encoded to be
    appended to the span's other fields."""
    parts = [encoder.attributes(SPAN_ATTRIBUTE, note.span_attributes())]
    for name, attributes in note.span_events():
        parts.append(encoder.event(name, at, attributes))
    return b"".join(parts)
