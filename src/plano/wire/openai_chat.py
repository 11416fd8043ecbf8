"""OpenAI Chat Completions (`POST /v1/chat/completions`) wire shapes.

Only what the gateway must read or emit lives here: the request *view* (the few fields routing
needs, read from the parsed body without copying it) and the OpenAI error envelope, which
OpenAI's Responses API shares.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano.errors import PlanoError

PATH: Final = "/v1/chat/completions"

# OpenAI's `error.type` values by status class; the SDK maps statuses to exception classes itself.
_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")


def error_envelope(err: PlanoError) -> bytes:
    """`{"error": {"message", "type", "param", "code"}}` as OpenAI sends it."""
    return orjson.dumps(
        {
            "error": {
                "message": err.message,
                "type": error_type(err.status),
                "param": err.param,
                "code": err.code,
            }
        }
    )


def stream_error_event(err: PlanoError) -> bytes:
    """An SSE event carrying an error after a stream has started (headers already sent)."""
    return b"data: " + error_envelope(err) + b"\n\n"


def requested_model(body: dict[str, Any]) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) and model else None


def is_stream(body: dict[str, Any]) -> bool:
    return body.get("stream") is True
