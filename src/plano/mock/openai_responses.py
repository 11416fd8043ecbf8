"""OpenAI Responses (``POST …/v1/responses``), as the mock answers it: exact wire shapes.

Non-streaming: one ``response`` object whose ``output`` holds, in order, a ``reasoning`` item
(its ``summary`` is the spec's ``thinking``), a ``message`` item with one ``output_text`` part
when there is text, and one ``function_call`` item per tool call. ``status`` is ``completed``, or
``incomplete`` (``incomplete_details.reason = "max_output_tokens"``) when ``max_output_tokens``
truncates the text or the spec's ``finish_reason`` is ``length``.

Streaming (``"stream": true``): named SSE events, each with a growing ``sequence_number``:
``response.created``, ``response.in_progress``; per output item ``response.output_item.added``,
then for reasoning ``response.reasoning_summary_part.added`` / ``…summary_text.delta``\\* /
``…summary_text.done`` / ``…summary_part.done``, for a message ``response.content_part.added`` /
``response.output_text.delta``\\* / ``response.output_text.done`` / ``response.content_part.done``,
for a function call ``response.function_call_arguments.delta``\\* / ``….done``; then
``response.output_item.done``; finally ``response.completed`` (or ``response.incomplete``) with the
whole response. The ``error_event`` fault ends the stream with an ``error`` event.

Usage: ``input_tokens`` is the whole prompt, ``input_tokens_details.cached_tokens`` the cached
part; ``output_tokens_details.reasoning_tokens`` counts the thinking text.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

from plano.codec.sse import encode_event
from plano.mock.dialect import MockIds, body_model
from plano.mock.openai_chat import DEFAULT_CHUNKS, content_text, error_body, reasoning_tokens, split
from plano.mock.request import MockRequest
from plano.mock.response import EVENT_STREAM, Reply
from plano.mock.script import ReplySpec

_INCOMPLETE: Final = {"reason": "max_output_tokens"}


class OpenAIResponses:
    """``POST …/v1/responses``."""

    name = "openai_responses"

    def __init__(self) -> None:
        self._id = MockIds().new

    def matches(self, path: str) -> bool:
        return path.endswith("/responses")

    def model(self, request: MockRequest) -> str | None:
        return body_model(request)

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        if not isinstance(body.get("model"), str):
            return self.error(400, "Missing required parameter: 'model'.")
        response = self.response(body, spec)
        if body.get("stream") is True:
            events = stream_events(response, spec.chunks or DEFAULT_CHUNKS)
            error = {
                "type": "error",
                "code": "server_error",
                "message": spec.message or "The server had an error while processing your request.",
                "param": None,
                "sequence_number": len(events),
            }
            stream_error = encode_event(orjson.dumps(error), event="error")
            return Reply(events=events, content_type=EVENT_STREAM, stream_error=stream_error)
        return Reply(body=orjson.dumps(response))

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=error_body(status, message))

    def response(self, body: dict[str, Any], spec: ReplySpec) -> dict[str, Any]:
        """The ``response`` object answering ``body``."""
        text = spec.text
        if text is None and not spec.tool_calls:
            text = "mock reply to: " + last_user_text(body)[:40]
        incomplete = spec.finish_reason == "length"
        limit = body.get("max_output_tokens")
        cap = limit * 4 if isinstance(limit, int) and limit > 0 else None
        if text and cap is not None and cap < len(text) and spec.finish_reason is None:
            text, incomplete = text[:cap], True
        item_status = "incomplete" if incomplete else "completed"
        output: list[dict[str, Any]] = []
        if spec.thinking is not None:
            summary = [{"type": "summary_text", "text": spec.thinking}]
            output.append({"id": self._id("rs_"), "type": "reasoning", "summary": summary})
        if text:
            part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
            output.append(
                {
                    "id": self._id("msg_"),
                    "type": "message",
                    "status": item_status,
                    "role": "assistant",
                    "content": [part],
                }
            )
        for call in spec.tool_calls or ():
            output.append(
                {
                    "id": self._id("fc_"),
                    "type": "function_call",
                    "status": "completed",
                    "call_id": self._id("call_"),
                    "name": call.name,
                    "arguments": call.arguments,
                }
            )
        out_chars = len(text or "") + len(spec.thinking or "")
        out_chars += sum(len(c.name) + len(c.arguments) for c in spec.tool_calls or ())
        return envelope(body, self._id("resp_"), output, usage(body, spec, out_chars), incomplete)


def envelope(
    body: dict[str, Any],
    rid: str,
    output: list[dict[str, Any]],
    used: dict[str, Any],
    incomplete: bool,
) -> dict[str, Any]:
    """The response object around ``output``, echoing the request's settings as OpenAI does."""
    return {
        "id": rid,
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete else "completed",
        "error": None,
        "incomplete_details": _INCOMPLETE if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": body["model"],
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": {"effort": None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "truncation": "disabled",
        "usage": used,
        "user": None,
        "metadata": body.get("metadata") or {},
    }


def last_user_text(body: dict[str, Any]) -> str:
    """The text of the last user input (``input`` is a string or a list of items)."""
    items = body.get("input")
    if isinstance(items, str):
        return items
    if isinstance(items, list):
        for item in reversed(items):
            if isinstance(item, dict) and item.get("role") == "user":
                return content_text(item.get("content"))
    return ""


def usage(body: dict[str, Any], spec: ReplySpec, out_chars: int) -> dict[str, Any]:
    if spec.usage is not None:
        prompt, completion = spec.usage
    else:
        chars = len(content_text(body.get("instructions")) if body.get("instructions") else "")
        items = body.get("input")
        if isinstance(items, str):
            chars += len(items)
        elif isinstance(items, list):
            chars += sum(len(content_text(i.get("content"))) for i in items if isinstance(i, dict))
        prompt, completion = (chars + 3) // 4, (out_chars + 3) // 4
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": min(spec.cached_tokens or 0, prompt)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": min(reasoning_tokens(spec), completion)},
        "total_tokens": prompt + completion,
    }


class _Stream:
    """Numbers events as they are added."""

    def __init__(self) -> None:
        self.events: list[bytes] = []

    def add(self, kind: str, **data: Any) -> None:
        payload = {"type": kind, "sequence_number": len(self.events), **data}
        self.events.append(encode_event(orjson.dumps(payload), event=kind))


def _reasoning(out: _Stream, index: int, item: dict[str, Any], chunks: int) -> None:
    text = item["summary"][0]["text"]
    ids = {"item_id": item["id"], "output_index": index, "summary_index": 0}
    out.add(
        "response.reasoning_summary_part.added", **ids, part={"type": "summary_text", "text": ""}
    )
    for piece in split(text, chunks):
        out.add("response.reasoning_summary_text.delta", **ids, delta=piece)
    out.add("response.reasoning_summary_text.done", **ids, text=text)
    out.add("response.reasoning_summary_part.done", **ids, part=item["summary"][0])


def _message(out: _Stream, index: int, item: dict[str, Any], chunks: int) -> None:
    part = item["content"][0]
    ids = {"item_id": item["id"], "output_index": index, "content_index": 0}
    out.add("response.content_part.added", **ids, part={**part, "text": ""})
    for piece in split(part["text"], chunks):
        out.add("response.output_text.delta", **ids, delta=piece, logprobs=[])
    out.add("response.output_text.done", **ids, text=part["text"], logprobs=[])
    out.add("response.content_part.done", **ids, part=part)


def _function_call(out: _Stream, index: int, item: dict[str, Any], chunks: int) -> None:
    ids = {"item_id": item["id"], "output_index": index}
    for piece in split(item["arguments"], chunks):
        out.add("response.function_call_arguments.delta", **ids, delta=piece)
    out.add("response.function_call_arguments.done", **ids, arguments=item["arguments"])


_ITEM_EVENTS: Final = {
    "reasoning": _reasoning,
    "message": _message,
    "function_call": _function_call,
}


def _started(item: dict[str, Any]) -> dict[str, Any]:
    """An output item as ``response.output_item.added`` announces it (nothing generated yet)."""
    kind = item["type"]
    if kind == "reasoning":
        return {**item, "summary": []}
    if kind == "message":
        return {**item, "status": "in_progress", "content": []}
    return {**item, "status": "in_progress", "arguments": ""}


def stream_events(response: dict[str, Any], chunks: int) -> list[bytes]:
    """The SSE events of a streamed response."""
    out = _Stream()
    pending = {
        **response,
        "status": "in_progress",
        "incomplete_details": None,
        "output": [],
        "usage": None,
    }
    out.add("response.created", response=pending)
    out.add("response.in_progress", response=pending)
    for index, item in enumerate(response["output"]):
        out.add("response.output_item.added", output_index=index, item=_started(item))
        _ITEM_EVENTS[item["type"]](out, index, item, chunks)
        out.add("response.output_item.done", output_index=index, item=item)
    final = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
    out.add(final, response=response)
    return out.events
