"""OpenAI Chat Completions (`POST /v1/chat/completions`) wire shapes.

Only what the gateway must emit lives here for now: the OpenAI error envelope (which OpenAI's
Responses API shares) and its in-stream form. Request and response shapes arrive with the
translation hub.
"""

from __future__ import annotations

from typing import Final

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
