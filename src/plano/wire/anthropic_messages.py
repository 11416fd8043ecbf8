"""Anthropic Messages (`POST /v1/messages`) wire shapes: error envelopes for now.

The full request/response/stream shapes arrive with the translation hub.
"""

from __future__ import annotations

from typing import Final

import orjson

from plano.errors import PlanoError

PATH: Final = "/v1/messages"

_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


def error_type(status: int) -> str:
    return _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")


def error_envelope(err: PlanoError) -> bytes:
    """`{"type": "error", "error": {"type", "message"}}` as Anthropic sends it."""
    return orjson.dumps(
        {
            "type": "error",
            "error": {"type": error_type(err.status), "message": err.message},
        }
    )


def stream_error_event(err: PlanoError) -> bytes:
    return b"event: error\ndata: " + error_envelope(err) + b"\n\n"
