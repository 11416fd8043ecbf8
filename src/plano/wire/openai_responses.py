"""OpenAI Responses (`POST /v1/responses`) wire shapes. Errors share the OpenAI envelope."""

from __future__ import annotations

from typing import Final

import orjson

from plano.errors import PlanoError
from plano.wire import openai_chat

PATH: Final = "/v1/responses"


def error_envelope(err: PlanoError) -> bytes:
    return openai_chat.error_envelope(err)


def stream_error_event(err: PlanoError) -> bytes:
    # Responses streams name their events; an `error` event carries code and message.
    payload = orjson.dumps(
        {"type": "error", "code": err.code, "message": err.message, "param": err.param}
    )
    return b"event: error\ndata: " + payload + b"\n\n"
