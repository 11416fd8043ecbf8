"""Anthropic Messages (``POST …/v1/messages``), as the mock answers it: exact wire shapes.

Non-streaming: one ``message`` object whose ``content`` holds, in order, a ``thinking`` block
(with a ``signature``) when the spec has ``thinking``, a ``text`` block when there is text, and
one ``tool_use`` block per tool call (``input`` is the parsed arguments object).

Streaming (``"stream": true``): named SSE events ``message_start`` (empty content, input usage),
``ping``, then per block ``content_block_start`` / ``content_block_delta``\\* /
``content_block_stop`` (``thinking_delta`` pieces then one ``signature_delta``; ``text_delta``
pieces; ``input_json_delta`` fragments of the arguments), then ``message_delta`` (``stop_reason``,
``usage.output_tokens``) and ``message_stop``. The ``error_event`` fault ends the stream with an
``event: error`` carrying ``overloaded_error``, as Anthropic does when it is overloaded mid-stream.

Usage: the spec's ``prompt_tokens`` is the whole prompt; ``cached_tokens`` of it are reported as
``cache_read_input_tokens``, ``cache_write_tokens`` as ``cache_creation_input_tokens`` and the
rest as ``input_tokens`` (Anthropic counts them apart).
Requests are checked as Anthropic does: ``model``, ``max_tokens`` and ``messages`` are required.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import orjson

from plano.codec.sse import encode_event
from plano.mock.dialect import MockIds, body_model
from plano.mock.openai_chat import DEFAULT_CHUNKS, content_text, default_text, split
from plano.mock.request import MockRequest
from plano.mock.response import EVENT_STREAM, Reply
from plano.mock.script import ReplySpec, ToolCallSpec

ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_STOP: Final = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}


def error_type(status: int) -> str:
    """Anthropic's ``error.type`` for an HTTP status."""
    return ERROR_TYPES.get(status) or ("api_error" if status >= 500 else "invalid_request_error")


def error_body(status: int, message: str) -> bytes:
    """``{"type": "error", "error": {"type", "message"}}``."""
    return orjson.dumps(
        {"type": "error", "error": {"type": error_type(status), "message": message}}
    )


class AnthropicMessages:
    """``POST …/v1/messages``."""

    name = "anthropic_messages"

    def __init__(self) -> None:
        self._id = MockIds().new

    def matches(self, path: str) -> bool:
        return path.endswith("/messages")

    def model(self, request: MockRequest) -> str | None:
        return body_model(request)

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        problem = check_request(body)
        if problem is not None:
            return self.error(400, problem)
        message = self.message(body, spec)
        if body.get("stream") is True:
            events = stream_events(message, spec.chunks or DEFAULT_CHUNKS)
            stream_error = encode_event(
                error_body(529, spec.message or "Overloaded"), event="error"
            )
            return Reply(events=events, content_type=EVENT_STREAM, stream_error=stream_error)
        return Reply(body=orjson.dumps(message))

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=error_body(status, message))

    def message(self, body: dict[str, Any], spec: ReplySpec) -> dict[str, Any]:
        """The ``message`` object answering ``body``."""
        text = spec.text
        if text is None and not spec.tool_calls:
            text = default_text(body)
        stop = _STOP.get(spec.finish_reason or "", spec.finish_reason)
        if stop is None:
            stop = "tool_use" if spec.tool_calls else "end_turn"
        limit = body.get("max_tokens")
        cap = limit * 4 if isinstance(limit, int) and limit > 0 else None
        if text and cap is not None and cap < len(text) and spec.finish_reason is None:
            text, stop = text[:cap], "max_tokens"
        content: list[dict[str, Any]] = []
        if spec.thinking is not None:
            content.append(
                {"type": "thinking", "thinking": spec.thinking, "signature": signature(spec)}
            )
        if text:
            content.append({"type": "text", "text": text})
        for call in spec.tool_calls or ():
            content.append(
                {
                    "type": "tool_use",
                    "id": self._id("toolu_"),
                    "name": call.name,
                    "input": arguments_object(call),
                }
            )
        return {
            "id": self._id("msg_"),
            "type": "message",
            "role": "assistant",
            "model": self.model_of(body),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": usage(body, spec, text, spec.tool_calls or ()),
        }

    @staticmethod
    def model_of(body: dict[str, Any]) -> str:
        model = body.get("model")
        return model if isinstance(model, str) else "mock-model"


def check_request(body: dict[str, Any]) -> str | None:
    """Anthropic's 400 message for a request it would refuse, or ``None``."""
    if not isinstance(body.get("model"), str):
        return "model: Field required"
    max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        return "max_tokens: Field required"
    if max_tokens < 1:
        return "max_tokens: Input should be greater than or equal to 1"
    messages = body.get("messages")
    if not isinstance(messages, list):
        return "messages: Field required"
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            return f"messages.{i}.role: Input should be 'user' or 'assistant'"
    system = body.get("system")
    if system is not None and not isinstance(system, str | list):
        return "system: Input should be a valid string or a list of text blocks"
    return None


def arguments_object(call: ToolCallSpec) -> Any:
    """The arguments as a JSON value (``tool_use.input``); text that is not JSON stays a string."""
    try:
        return orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        return call.arguments


def signature(spec: ReplySpec) -> str:
    """A stable stand-in for the opaque signature Anthropic puts on thinking blocks."""
    return hashlib.sha256((spec.thinking or "").encode()).hexdigest()


def usage(
    body: dict[str, Any], spec: ReplySpec, text: str | None, calls: tuple[ToolCallSpec, ...]
) -> dict[str, Any]:
    if spec.usage is not None:
        prompt, output = spec.usage
    else:
        messages = body.get("messages")
        chars = len(content_text(body.get("system")) if body.get("system") else "")
        if isinstance(messages, list):
            chars += sum(
                len(content_text(m.get("content"))) for m in messages if isinstance(m, dict)
            )
        out_chars = len(text or "") + len(spec.thinking or "")
        out_chars += sum(len(c.name) + len(c.arguments) for c in calls)
        prompt, output = (chars + 3) // 4, (out_chars + 3) // 4
    cached = min(spec.cached_tokens or 0, prompt)
    written = min(spec.cache_write_tokens or 0, prompt - cached)
    return {
        "input_tokens": prompt - cached - written,
        "cache_creation_input_tokens": written,
        "cache_read_input_tokens": cached,
        "output_tokens": output,
        "service_tier": "standard",
    }


def _event(kind: str, data: dict[str, Any]) -> bytes:
    return encode_event(orjson.dumps({"type": kind, **data}), event=kind)


def _block_events(index: int, block: dict[str, Any], chunks: int) -> list[bytes]:
    kind = block["type"]
    start: dict[str, Any]
    deltas: list[dict[str, Any]]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": p} for p in split(block["thinking"], chunks)
        ]
        deltas.append({"type": "signature_delta", "signature": block["signature"]})
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": p} for p in split(block["text"], chunks)]
    else:
        start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
        args = orjson.dumps(block["input"]).decode()
        deltas = [{"type": "input_json_delta", "partial_json": p} for p in split(args, chunks)]
    out = [_event("content_block_start", {"index": index, "content_block": start})]
    out.extend(_event("content_block_delta", {"index": index, "delta": d}) for d in deltas)
    out.append(_event("content_block_stop", {"index": index}))
    return out


def stream_events(message: dict[str, Any], chunks: int) -> list[bytes]:
    """The SSE events of a streamed message."""
    final_usage = message["usage"]
    start_usage = {**final_usage, "output_tokens": 1}
    head = {**message, "content": [], "stop_reason": None, "usage": start_usage}
    events = [_event("message_start", {"message": head}), _event("ping", {})]
    for index, block in enumerate(message["content"]):
        events.extend(_block_events(index, block, chunks))
    delta = {"stop_reason": message["stop_reason"], "stop_sequence": None}
    events.append(
        _event(
            "message_delta",
            {"delta": delta, "usage": {"output_tokens": final_usage["output_tokens"]}},
        )
    )
    events.append(_event("message_stop", {}))
    return events
