"""The routing decision API: `POST /routing/v1/{chat/completions,messages,responses}`.

It takes a normal client body (plus inline `routing_preferences` and the affinity and budget
headers), runs the same routing step as the proxy, calls no model, and answers with the decision:

    {"models": [...], "route": "...", "trace_id": "<32 hex>", "session_id": "...",
     "pinned": false, "switched": false}

`models[0]` is the decided model; no route fits -> `{"models": ["none"], "route": null, ...}`.
`session_id` is present only when the request has a session. Failover across `models` is the
client's business.
"""

from __future__ import annotations

import os
from typing import Any, Final

import orjson

from plano.errors import MalformedJson, PlanoError
from plano.listeners.asgi import (
    JSON_CT,
    ClientDisconnected,
    header,
    read_body,
    send_bytes,
    send_error,
)
from plano.listeners.types import Receive, Route, Scope, Send
from plano.observability.record import RequestRecord, RoutingNote
from plano.providers.catalogue import Api
from plano.routing.step import Routed, RoutingStep
from plano.wire import anthropic_messages, openai_chat, openai_responses

PREFIX: Final = "/routing"
# `brightstaff_routing_service_requests_total{outcome}` values (the original's first three).
ROUTE_KIND: Final = "routing"
SERVED: Final = "decision_served"
NO_CANDIDATES: Final = "no_candidates"
POLICY_ERROR: Final = "policy_error"  # the request's routing preferences are invalid
BAD_REQUEST: Final = "bad_request"  # the body is not a JSON object


def note_served(record: RequestRecord, routed: Routed) -> None:
    """Metrics of a decision answered: a `routing` router decision and its service outcome."""
    note = routed.note
    if note is None:
        return
    note.kind = ROUTE_KIND
    note.outcome = SERVED if routed.decision.model else NO_CANDIDATES
    if note.fallback:
        note.selected = "none"  # what the answer names: `{"models": ["none"]}`
    record.router = note


def decision_body(routed: Routed, trace_id: str) -> bytes:
    d = routed.decision
    out: dict[str, Any] = {
        "models": list(d.models) if d.model else ["none"],
        "route": d.route if d.model else None,
        "trace_id": trace_id,
    }
    if d.session_id:
        out["session_id"] = d.session_id
    out["pinned"] = d.pinned
    out["switched"] = d.switched
    return orjson.dumps(out)


def _trace_id(scope: Scope, record: RequestRecord) -> str:
    for value in (record.traceparent, _header_text(scope, b"traceparent")):
        if value:
            parts = value.split("-")
            if len(parts) >= 3 and len(parts[1]) == 32:
                return parts[1]
    return os.urandom(16).hex()


def _header_text(scope: Scope, name: bytes) -> str | None:
    value = header(scope, name)
    return value.decode("latin-1") if value is not None else None


def routing_routes(step: RoutingStep, max_body_bytes: int) -> dict[tuple[str, str], Route]:
    def handler(api: Api) -> Route:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            path: str = scope["path"]
            record: RequestRecord = scope["plano.record"]
            record.client_api = api.value
            try:
                body = await read_body(scope, receive, max_body_bytes)
                record.bytes_in = len(body)
                routed = await step.route_body(body, api, scope["headers"])
            except ClientDisconnected:
                record.error_kind = "client_gone"
                return
            except PlanoError as err:
                record.error_kind = err.kind
                record.router = failed = RoutingNote(ROUTE_KIND)
                failed.outcome = BAD_REQUEST if isinstance(err, MalformedJson) else POLICY_ERROR
                await send_error(send, path, err)
                return
            d = routed.decision
            note_served(record, routed)
            requested = routed.doc.get("model")
            record.requested_model = requested if isinstance(requested, str) else None
            record.model = d.model
            record.route = d.route
            record.routing = d.reason
            record.session_cache_error = d.cache_error
            record.session_id = d.session_id
            headers = [JSON_CT, *routed.response_headers]
            await send_bytes(send, 200, headers, decision_body(routed, _trace_id(scope, record)))

        return Route("routing_decision", handle)

    return {
        ("POST", PREFIX + openai_chat.PATH): handler(Api.OPENAI_CHAT),
        ("POST", PREFIX + anthropic_messages.PATH): handler(Api.ANTHROPIC_MESSAGES),
        ("POST", PREFIX + openai_responses.PATH): handler(Api.OPENAI_RESPONSES),
    }
