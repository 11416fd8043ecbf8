"""The PostHog `$ai_generation` event of one LLM request (reference §9.1), built in the exporter's
thread from the `Item` its `write` queued (see `posthog`), and encoded once per destination:

    {"event": "$ai_generation", "distinct_id": "...", "timestamp": "2025-01-01T12:00:00.123Z",
     "uuid": "...", "properties": {...}}

Properties: `$ai_trace_id` / `$ai_span_id` (the request span's W3C ids, hex), `$ai_parent_id`
(the client's span, when it sent a `traceparent`), `$ai_model`, `$ai_provider`, `$ai_latency`
and `$ai_time_to_first_token` (seconds), `$ai_stream`, `$ai_input_tokens`, `$ai_output_tokens`,
`$ai_http_status`, `$ai_input_cost_usd` / `$ai_output_cost_usd` / `$ai_total_cost_usd` (when
the model has a price), `$ai_is_error` (+ `$ai_error`, the error kind), with `capture_messages`
`$ai_input` and, for a request analysed for agentic signals, `$ai_signals_quality`,
`$ai_signals_quality_score`, `$ai_signals_flagged`, `$ai_signals_categories` (instances per
`layer.category`) and `$ai_signals_types` (the signal types found).
`distinct_id` is the value of the `distinct_id_header` request header, else the trace id with
`$process_person_profile: false` (an anonymous event: PostHog makes no person for it).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from plano.observability.signals_note import SignalsNote

EVENT: Final = "$ai_generation"
MAX_DISTINCT_ID: Final = 200  # characters kept of a distinct-id header value

# What the exporter's `write` keeps of a record (one tuple, unpacked in the exporter's thread).
Item = tuple[
    str,  # traceparent (ours: 00-<trace id>-<span id>-01)
    str,  # canonical model (provider/model)
    str | None,  # model id sent upstream
    str | None,  # provider
    bool,  # stream
    int,  # status to the client
    int,  # upstream status
    str | None,  # error kind
    int | None,  # prompt tokens
    int | None,  # completion tokens
    int,  # start (perf_counter_ns)
    int,  # end
    int,  # first body bytes to the client
    int,  # wall-clock start (time_ns)
    Sequence[tuple[bytes, bytes]],  # the client's request headers
    bytes | None,  # the request body, when captured
    tuple[float, float, float, float, float] | None,  # cost: input, output, cache r/w, total
    SignalsNote | None,  # agentic signals, when the request was analysed
]


class Event:
    """An item turned into what every destination shares, plus what differs per destination."""

    __slots__ = ("body", "headers", "properties", "timestamp", "trace_id", "uuid")

    def __init__(
        self,
        properties: dict[str, Any],
        trace_id: str,
        timestamp: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> None:
        self.properties = properties
        self.trace_id = trace_id
        self.timestamp = timestamp
        self.headers = headers
        self.body = body
        self.uuid = str(uuid.uuid4())


def build_event(item: Item) -> Event:
    """The event of one queued item, before what each destination adds (`encode_event`)."""
    (
        tp,
        model,
        upstream_model,
        provider,
        stream,
        status,
        upstream_status,
        error_kind,
        prompt,
        completion,
        start,
        end,
        first_chunk,
        wall_start,
        headers,
        body,
        cost,
        signals,
    ) = item
    trace_id, span_id = tp[3:35], tp[36:52]
    status = status or upstream_status
    failed = status >= 400 or (error_kind is not None and error_kind != "client_gone")
    props: dict[str, Any] = {
        "$ai_trace_id": trace_id,
        "$ai_span_id": span_id,
        "$ai_model": upstream_model or model,
        "$ai_provider": provider,
        "$ai_latency": max(end - start, 0) / 1e9,
        "$ai_stream": stream,
        "$ai_http_status": status,
        "$ai_is_error": failed,
    }
    parent = _client_parent(headers, trace_id)
    if parent is not None:
        props["$ai_parent_id"] = parent
    if stream and first_chunk:
        props["$ai_time_to_first_token"] = max(first_chunk - start, 0) / 1e9
    if prompt is not None:
        props["$ai_input_tokens"] = prompt
    if completion is not None:
        props["$ai_output_tokens"] = completion
    if cost is not None:  # input: uncached input, cache reads and cache writes
        props["$ai_input_cost_usd"] = cost[0] + cost[2] + cost[3]
        props["$ai_output_cost_usd"] = cost[1]
        props["$ai_total_cost_usd"] = cost[4]
    if failed and error_kind is not None:
        props["$ai_error"] = error_kind
    if signals is not None:
        props.update(signals.posthog_properties())
    return Event(props, trace_id, _iso(wall_start + max(end - start, 0)), headers, body)


def encode_event(event: Event, distinct_id_header: bytes | None, capture: bool) -> bytes:
    """The JSON of `event` for one destination: its `distinct_id` from `distinct_id_header`
    (lower-case), else anonymous under the trace id; `$ai_input` when it `capture`s messages."""
    props = dict(event.properties)
    distinct = _header(event.headers, distinct_id_header) if distinct_id_header else None
    if not distinct:
        distinct = event.trace_id
        props["$process_person_profile"] = False
    if capture and event.body is not None:
        messages = input_messages(event.body)
        if messages is not None:
            props["$ai_input"] = messages
    return orjson.dumps(
        {
            "event": EVENT,
            "distinct_id": distinct,
            "timestamp": event.timestamp,
            "uuid": event.uuid,
            "properties": props,
        }
    )


def _iso(wall_ns: int) -> str:
    """ISO 8601 UTC with milliseconds: 2025-01-01T12:00:00.123Z."""
    moment = datetime.fromtimestamp(wall_ns // 1_000_000 / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            try:
                text = value.decode()
            except UnicodeDecodeError:
                text = value.decode("latin-1")
            return text.strip()[:MAX_DISTINCT_ID] or None
    return None


def _client_parent(headers: Sequence[tuple[bytes, bytes]], trace_id: str) -> str | None:
    """The client's span id from its `traceparent`, if the request span continued its trace."""
    header = _header(headers, b"traceparent")
    if header is None:
        return None
    from plano.observability.span_context import parse_traceparent

    parsed = parse_traceparent(header)
    if parsed is None or f"{parsed[0]:032x}" != trace_id:
        return None
    return f"{parsed[1]:016x}"


def input_messages(body: bytes) -> list[Any] | None:
    """`$ai_input` of a request body: chat `messages` (Anthropic: `system` first, as a system
    message), or Responses `input` (a string becomes one user message; `instructions` first, as a
    system message). None when the body has neither."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    messages = doc.get("messages")
    if isinstance(messages, list):
        system = doc.get("system")
        if isinstance(system, str | list) and system:
            return [{"role": "system", "content": system}, *messages]
        return messages
    given = doc.get("input")
    if isinstance(given, str):
        out: list[Any] = [{"role": "user", "content": given}]
    elif isinstance(given, list):
        out = given
    else:
        return None
    instructions = doc.get("instructions")
    if isinstance(instructions, str) and instructions:
        return [{"role": "system", "content": instructions}, *out]
    return out
