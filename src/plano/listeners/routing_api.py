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
from plano.listeners.asgi import JSON_CT, header, send_bytes
from plano.listeners.pipeline import (
    DONE,
    AnyStage,
    Call,
    DecodeJson,
    Outcome,
    Pipeline,
    ReadBody,
    Stage,
)
from plano.listeners.types import RawHeaders, Receive, Route, Scope, Send
from plano.observability.record import RequestRecord, RoutingNote
from plano.providers.catalogue import Api
from plano.routing.step import Routed, RoutingStep
from plano.translate.shapes import ShapeError, array, obj, opt_str, path_of
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


class RoutingCall(Call):
    """A routing decision request: a failed one is counted as a bad request or a policy
    error (`brightstaff_routing_service_requests_total{outcome}`)."""

    __slots__ = ()

    def failed(self, err: PlanoError) -> RawHeaders:
        self.record.router = note = RoutingNote(ROUTE_KIND)
        bad = isinstance(err, MalformedJson | ShapeError)
        note.outcome = BAD_REQUEST if bad else POLICY_ERROR
        return []


def check_conversation(doc: dict[str, Any], api: Api) -> None:
    """The fields the router reads, of the JSON types their API documents: the model, and the
    conversation (`messages`, or the Responses `input`) as an array of objects; `ShapeError`
    (400) naming the path otherwise. What a router does not read is left to the model call."""
    opt_str(doc, "model")
    key = "input" if api is Api.OPENAI_RESPONSES else "messages"
    items = doc.get(key)
    if items is None or (isinstance(items, str) and api is Api.OPENAI_RESPONSES):
        return
    for i, item in enumerate(array(items, key)):
        obj(item, path_of(key, i))


class Decide(Stage[RoutingCall]):
    """The routing step on the decoded body; the decision is the answer (no model called)."""

    def __init__(self, step: RoutingStep) -> None:
        self._step = step

    async def __call__(self, call: RoutingCall) -> Outcome:
        record = call.record
        try:
            check_conversation(call.doc, call.api)
        except ShapeError as err:
            return err
        routed = await self._step.route(call.doc, call.api, call.scope["headers"])
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
        body = decision_body(routed, _trace_id(call.scope, record))
        await send_bytes(call.send, 200, headers, body)
        return DONE


def routing_routes(step: RoutingStep, max_body_bytes: int) -> dict[tuple[str, str], Route]:
    """`POST /routing/v1/...`: ReadBody → DecodeJson → Decide, one pipeline per client API."""
    stages: list[AnyStage[RoutingCall]] = [ReadBody(max_body_bytes), DecodeJson(), Decide(step)]

    def route(api: Api) -> Route:
        def make(scope: Scope, receive: Receive, send: Send) -> RoutingCall:
            call = RoutingCall(scope, receive, send, api)
            call.record.client_api = api.value
            return call

        return Route("routing_decision", Pipeline(make, stages).handler)

    return {
        ("POST", PREFIX + openai_chat.PATH): route(Api.OPENAI_CHAT),
        ("POST", PREFIX + anthropic_messages.PATH): route(Api.ANTHROPIC_MESSAGES),
        ("POST", PREFIX + openai_responses.PATH): route(Api.OPENAI_RESPONSES),
    }
