"""The model listener's chat pipeline, called in-process by the prompt listener.

Both model calls of a prompt request (the function-calling model, the final LLM) go through the
same stages as a client's request on the model listener: model resolution, the translation hub
(any provider, any dialect), the exchange with its retries and failover, usage accounting. No
internal HTTP hop: the pipeline is run with a scope of our own and a `send` that captures or
rewrites the answer.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano.listeners.model.call import ModelCall
from plano.listeners.model.listener import ModelListener
from plano.listeners.pipeline import DecodeJson, Pipeline, ReadBody
from plano.listeners.types import Message, Receive, RequestIds, Scope, Send
from plano.observability.record import RequestRecord
from plano.wire import openai_chat
from plano.wire.api import Api

RawHeaders = list[tuple[bytes, bytes]]


async def _nothing_to_read() -> Message:  # the body is given, never read
    return {"type": "http.disconnect"}


class Captured:
    """An ASGI `send` that keeps the whole answer (status, headers, body)."""

    __slots__ = ("body", "headers", "parts", "status")

    def __init__(self) -> None:
        self.status = 0
        self.headers: RawHeaders = []
        self.parts: list[bytes] = []
        self.body = b""

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        else:
            chunk = message.get("body", b"")
            if chunk:
                self.parts.append(chunk)
            if not message.get("more_body"):
                self.body = b"".join(self.parts)


class InnerModel:
    """`run` relays the answer to a `send`; `complete` returns it whole."""

    def __init__(self, listener: ModelListener) -> None:
        full = listener.pipeline(Api.OPENAI_CHAT, openai_chat.PATH)
        stages = [s for s in full.stages if not isinstance(s, ReadBody | DecodeJson)]
        self._ids = RequestIds()
        self._pipeline = Pipeline(self._make, stages)

    def _make(self, scope: Scope, receive: Receive, send: Send) -> ModelCall:
        call = ModelCall(scope, receive, send, Api.OPENAI_CHAT, self._ids)
        call.doc = scope["plano.doc"]
        call.body = orjson.dumps(call.doc)
        call.record.bytes_in = call.record.bytes_in or len(call.body)
        return call

    async def run(
        self, doc: dict[str, Any], headers: RawHeaders, record: RequestRecord, send: Send
    ) -> None:
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": openai_chat.PATH,
            "query_string": b"",
            "headers": headers,
            "plano.record": record,
            "plano.doc": doc,
        }
        await self._pipeline.run(scope, _nothing_to_read, send)

    async def complete(
        self, doc: dict[str, Any], headers: RawHeaders, record: RequestRecord
    ) -> Captured:
        captured = Captured()
        await self.run(doc, headers, record, captured)
        return captured
