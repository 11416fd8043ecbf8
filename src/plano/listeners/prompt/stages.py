"""The prompt listener's stages (see `listener.py` for the order)."""

from __future__ import annotations

from typing import Any, Final

from plano.agents.prompt_targets import replies
from plano.agents.prompt_targets.tools import TargetTable
from plano.errors import BadRequest, PlanoError
from plano.filters.chain import Chain, passed_headers
from plano.listeners.pipeline import Outcome, Stage, SyncStage
from plano.listeners.prompt.backends import FunctionCaller
from plano.listeners.prompt.call import PromptCall
from plano.listeners.types import RequestIds
from plano.observability import names as n
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.wire import openai_chat
from plano.wire.api import request_object

_SUBCALL: Final = frozenset({b"authorization", b"x-api-key", b"x-request-id"})


class Guards(Stage[PromptCall]):
    """The `prompt_guards` guard on the conversation, before anything else reads it (the
    original's key was meant for this listener): a block ends the request in OpenAI's error
    shape; a redacted tool result replaces the body the next stages read."""

    def __init__(self, chain: Chain, telemetry: Telemetry) -> None:
        self._chain = chain
        self._telemetry = telemetry

    async def __call__(self, call: PromptCall) -> Outcome:
        record = call.record
        body = await self._chain.run(
            call.body,
            openai_chat.PATH,
            passed_headers(call.scope["headers"]),
            telemetry=self._telemetry,
            record=record,
        )
        if body is not call.body and body != call.body:
            call.body = body
            call.doc = request_object(body)
        return None


class ChatView(SyncStage[PromptCall]):
    """The chat request as the prompt pipeline reads it; `x-arch-state` messages joined in."""

    def __call__(self, call: PromptCall) -> Outcome:
        doc = call.doc
        messages = doc.get("messages")
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            return BadRequest("`messages` must be a list of message objects", param="messages")
        stream = doc.get("stream")
        if stream is not None and not isinstance(stream, bool):
            return BadRequest("stream: expected a boolean", param="stream")
        model = doc.get("model")
        if model is not None and not isinstance(model, str):
            return BadRequest("model: expected a string", param="model")
        call.stream = call.record.stream = stream is True
        call.record.requested_model = model
        state = replies.state_messages(doc.get("metadata"))
        call.messages = replies.with_state(messages, state)
        return None


class SubCallHeaders(SyncStage[PromptCall]):
    """The headers of the model sub-calls: the client's credentials (passthrough providers) and
    its request id, or one of ours."""

    def __init__(self, ids: RequestIds) -> None:
        self._ids = ids

    def __call__(self, call: PromptCall) -> Outcome:
        kept = [(k, v) for k, v in call.scope["headers"] if k in _SUBCALL]
        rid = next((v.decode("latin-1") for k, v in kept if k == b"x-request-id"), None)
        if rid is None:
            rid = self._ids.new()
            kept.append((b"x-request-id", rid.encode()))
        call.record.request_id = rid
        call.headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in kept]
        return None


class DetectIntent(Stage[PromptCall]):
    """Asks the function-calling model which target (if any) the conversation wants."""

    def __init__(self, caller: FunctionCaller, table: TargetTable, telemetry: Telemetry) -> None:
        self._caller = caller
        self._offered = bool(table.tools)
        self._telemetry = telemetry

    async def __call__(self, call: PromptCall) -> Outcome:
        if not self._offered or replies.last_user_index(call.messages) < 0:
            return None
        record = call.record
        span = self._telemetry.child(record, n.SPAN_INTENT, n.SERVICE_PROMPT)
        sub = RequestRecord(record.listener, "prompt", "POST", openai_chat.PATH)
        sub.traceparent = span.traceparent or record.traceparent
        sub.request_id = record.request_id
        headers = [(k.encode(), v.encode()) for k, v in call.headers]
        attributes: dict[str, Any] = {
            n.ATTR_PROMPT_BACKEND: self._caller.kind,
            n.ATTR_PROMPT_MODEL: self._caller.model,
        }
        try:
            found = await self._caller.detect(call.messages, headers, sub)
        except PlanoError as err:
            span.end(error=err.code, attributes=attributes)
            raise
        call.detection = found
        if found.calls:
            attributes[n.ATTR_PROMPT_TARGET] = found.calls[0].name
        attributes[n.ATTR_PROMPT_OUTCOME] = (
            "call" if found.calls else "clarification" if found.clarification else "no_intent"
        )
        span.end(attributes=attributes)
        return None
