"""The seam a mocked API plugs into: one module per API (``openai_chat.py``; later Anthropic
Messages, OpenAI Responses, Gemini, Bedrock Converse), each answering the paths it owns."""

from __future__ import annotations

import itertools
import secrets
from typing import Protocol

from plano.mock.request import MockRequest
from plano.mock.response import Reply
from plano.mock.script import ReplySpec


class Dialect(Protocol):
    """Builds successful and error replies in one API's exact wire format.

    The server applies what is common to every API: scripted/raw ``body``, extra ``headers``,
    ``retry_after``, delays and faults. A dialect only builds the reply for a request and a
    fully resolved spec (server defaults already merged in).
    """

    name: str

    def matches(self, path: str) -> bool:
        """True when this dialect owns the path (``POST`` is answered, other methods get 405)."""
        ...

    def model(self, request: MockRequest) -> str | None:
        """The model the request asks for (used to match scripted specs and for ``/v1/models``)."""
        ...

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        """A successful reply (streamed when the request asks for a stream)."""
        ...

    def error(self, status: int, message: str) -> Reply:
        """An error reply in this API's error envelope."""
        ...


class MockIds:
    """Response ids: a prefix, a random salt per dialect instance (ids differ across mock
    instances and runs) and a counter."""

    __slots__ = ("_counter", "_salt")

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._salt = secrets.token_hex(6)

    def new(self, prefix: str) -> str:
        return f"{prefix}{self._salt}{next(self._counter):012x}"


def body_model(request: MockRequest) -> str | None:
    """The JSON body's `model` string, if it has one."""
    body = request.body
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) else None
