"""How a prompt request is answered: a question back to the user, the endpoint's answer as it
is, or the final LLM's answer (through the model pipeline) with the original's `metadata` or
its two prepended stream chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from plano.agents.prompt_targets import replies
from plano.listeners.asgi import JSON_CT, send_bytes
from plano.listeners.pipeline import DONE, Outcome, Stage
from plano.listeners.prompt.call import PromptCall
from plano.listeners.prompt.inner import InnerModel
from plano.listeners.types import Message, Send
from plano.observability import names as n
from plano.observability.telemetry import Telemetry
from plano.routing.resolve import ModelTable

SSE_CT: Final = (b"content-type", b"text/event-stream")
_SSE: Final = b"text/event-stream"


class Outcomes:
    """Counts each request's outcome per target (`plano_prompt_target_calls_total`) when the
    metrics sink has the family (the Prometheus one); looked up once, at config load."""

    def __init__(self, telemetry: Telemetry) -> None:
        self._count: Callable[[str, str], None] | None = getattr(
            telemetry.metrics, "prompt_target", None
        )

    def note(self, call: PromptCall, outcome: str) -> None:
        call.outcome = outcome
        if self._count is not None:
            self._count(call.target.name if call.target is not None else "-", outcome)


async def clarify(call: PromptCall, outcomes: Outcomes, text: str, outcome: str) -> Outcome:
    """A question back to the user instead of a call."""
    outcomes.note(call, outcome)
    raw = call.detection.raw or text
    if call.stream:
        await send_bytes(call.send, 200, [SSE_CT], replies.clarification_stream(raw, text))
    else:
        body = replies.completion(replies.FC_MODEL, text, {"x-arch-fc-model-response": raw})
        await send_bytes(call.send, 200, [JSON_CT], body)
    return DONE


class Clarify(Stage[PromptCall]):
    """The function-calling model asked back (a required value is missing, or a value it gave
    was a guess): its question is the answer."""

    def __init__(self, outcomes: Outcomes) -> None:
        self._outcomes = outcomes

    async def __call__(self, call: PromptCall) -> Outcome:
        found = call.detection
        if not found.clarification:
            return None
        outcome = "hallucination" if found.hallucinated else "clarification"
        return await clarify(call, self._outcomes, found.clarification, outcome)


class Respond(Stage[PromptCall]):
    """The answer: the endpoint's as it is (`auto_llm_dispatch_on_response: false`), else the
    default LLM's with the endpoint's answer as context (or the plain conversation when no
    target fits and there is no default target)."""

    def __init__(
        self,
        inner: InnerModel,
        models: ModelTable,
        system_prompt: str | None,
        telemetry: Telemetry,
        outcomes: Outcomes,
    ) -> None:
        self._inner = inner
        self._outcomes = outcomes
        default = models.default
        self._model = f"{default.provider}/{default.model_id}" if default is not None else None
        self._system = system_prompt
        self._telemetry = telemetry

    async def __call__(self, call: PromptCall) -> Outcome:
        target, body = call.target, call.api_body
        outcome = "called" if call.tool_call is not None else "default" if target else "no_intent"
        self._outcomes.note(call, outcome)
        if target is not None and body is not None and not target.dispatch:
            await self._as_is(call, body)
            return DONE
        context = None
        if body is not None:
            context = body.decode("utf-8", "replace")
            if call.tool_call is None:  # a default target answers a chat completion
                context = replies.api_answer(body)[1]
        system = target.system_prompt if target is not None and target.system_prompt else None
        # The default provider answers (the original's rule); without one, the client's model.
        model = self._model or call.record.requested_model
        doc = replies.llm_request(
            call.doc, call.messages, model or "", system or self._system, context
        )
        if model is None:
            doc.pop("model")
        send = self._wrap(call, body)
        record = call.record
        span = self._telemetry.child(record, n.SPAN_PROMPT_LLM, n.SERVICE_PROMPT)
        headers = [(k.encode(), v.encode()) for k, v in call.headers]
        ours = record.traceparent
        if span.traceparent is not None:  # the LLM joins the trace under this span
            record.traceparent = span.traceparent
        try:
            await self._inner.run(doc, headers, record, send)
        finally:
            record.traceparent = ours
            span.end(attributes={n.ATTR_PROMPT_OUTCOME: outcome})
        return DONE

    async def _as_is(self, call: PromptCall, body: bytes) -> None:
        if call.stream:
            await send_bytes(call.send, 200, [SSE_CT], replies.api_stream(body))
        elif replies.is_completion(body):
            await send_bytes(call.send, 200, [JSON_CT], body)
        else:
            model, text = replies.api_answer(body)
            meta = self._meta(call, body)
            await send_bytes(call.send, 200, [JSON_CT], replies.completion(model, text, meta))

    def _meta(self, call: PromptCall, body: bytes | None) -> dict[str, str]:
        api = body.decode("utf-8", "replace") if body is not None else None
        return replies.metadata(call.tool_call, call.detection.raw, api)

    def _wrap(self, call: PromptCall, body: bytes | None) -> Send:
        if call.tool_call is None or body is None:
            return call.send
        api = body.decode("utf-8", "replace")
        if call.stream:
            return Prepend(
                call.send, replies.prepended_chunks(call.tool_call, call.detection.raw, api)
            )
        return Enrich(call.send, self._meta(call, body))


class Prepend:
    """A stream's first bytes are the two chunks of the tool call and the API's answer."""

    __slots__ = ("_chunks", "_send")

    def __init__(self, send: Send, chunks: bytes) -> None:
        self._send = send
        self._chunks = chunks

    async def __call__(self, message: Message) -> None:
        await self._send(message)
        if message["type"] == "http.response.start" and message["status"] == 200:
            headers = dict(message.get("headers", []))
            if headers.get(b"content-type", b"").startswith(_SSE):
                body = {"type": "http.response.body", "body": self._chunks, "more_body": True}
                await self._send(body)


class Enrich:
    """A JSON answer gets the original's `metadata`; its content-length follows."""

    __slots__ = ("_meta", "_parts", "_send", "_start")

    def __init__(self, send: Send, meta: dict[str, str]) -> None:
        self._send = send
        self._meta = meta
        self._start: Message | None = None
        self._parts: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self._start = message
            return
        self._parts.append(message.get("body", b""))
        if message.get("more_body"):
            return
        start = self._start
        assert start is not None
        body = b"".join(self._parts)
        if start["status"] == 200:
            body = replies.enrich(body, self._meta)
        headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        await self._send({**start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})
