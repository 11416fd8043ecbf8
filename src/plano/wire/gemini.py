"""Gemini `generateContent` / `streamGenerateContent` wire facts: paths, statuses, error envelope.

Gemini (Google AI, `generativelanguage.googleapis.com/v1beta`) authenticates with the
``x-goog-api-key`` header. Errors are Google RPC status objects:
``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``; the same object may
arrive as one SSE event of a stream that fails after it started.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

API_KEY_HEADER: Final = "x-goog-api-key"
GENERATE: Final = ":generateContent"
STREAM_GENERATE: Final = ":streamGenerateContent"

# Google RPC status names by HTTP status.
_STATUS: Final = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_HTTP: Final = {name: code for code, name in _STATUS.items() if code != 413}


def rpc_status(status: int) -> str:
    return _STATUS.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")


def error_body(status: int, message: str) -> bytes:
    return orjson.dumps(
        {"error": {"code": status, "message": message, "status": rpc_status(status)}}
    )


def parse_error(doc: Any) -> tuple[int, str] | None:
    """(HTTP status, message) of a Google error object, or None if `doc` is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("error"), dict):
        return None
    err = doc["error"]
    message = err.get("message") if isinstance(err.get("message"), str) else "Gemini error"
    code = err.get("code")
    if not isinstance(code, int) or not 400 <= code <= 599:
        code = _HTTP.get(str(err.get("status")), 502)
    return code, message


def error_message(body: bytes) -> tuple[int, str] | None:
    """The error carried by a non-2xx Gemini response body, if it is Google's envelope."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, list) and doc:  # streamGenerateContent without alt=sse wraps in a list
        doc = doc[0]
    return parse_error(doc)
