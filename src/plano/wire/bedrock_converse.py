"""Bedrock Converse / ConverseStream wire facts: error envelope and exception names.

A failed Converse call answers with its HTTP status, a ``{"message": "..."}`` body and the
exception name in the ``x-amzn-ErrorType`` header (``ValidationException:http://...``). Inside a
ConverseStream, failures arrive as event-stream frames with ``:message-type: exception`` and
``:exception-type: <name>`` (camel case), payload ``{"message": "..."}``.
"""

from __future__ import annotations

from typing import Final

import orjson

STREAM_CONTENT_TYPE: Final = "application/vnd.amazon.eventstream"
ERROR_TYPE_HEADER: Final = "x-amzn-errortype"

# Exception names by HTTP status, as Bedrock Runtime documents them.
EXCEPTIONS: Final = {
    400: "ValidationException",
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
# Status of each exception (stream exception types are the same names, lower camel case).
_STATUS: Final = {name.lower(): code for code, name in EXCEPTIONS.items()} | {
    "modelstreamerrorexception": 424,
    "modelnotreadyexception": 429,
    "servicequotaexceededexception": 429,
    "missingauthenticationtokenexception": 403,
    "serviceunavailable": 503,
}


def exception_name(status: int) -> str:
    return EXCEPTIONS.get(
        status, "InternalServerException" if status >= 500 else "ValidationException"
    )


def status_of(exception: str, default: int = 502) -> int:
    """HTTP status for an exception name (header value or stream `:exception-type`)."""
    return _STATUS.get(exception.split(":", 1)[0].strip().lower(), default)


def error_body(message: str) -> bytes:
    return orjson.dumps({"message": message})


def error_message(body: bytes) -> str | None:
    """The message of a Bedrock error body (`message` or `Message`), if it has one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict):
        for key in ("message", "Message"):
            if isinstance(doc.get(key), str):
                return str(doc[key])
    return None
