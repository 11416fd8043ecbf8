"""OpenAI Chat Completions, as the mock answers it: exact wire shapes, streamed or not.

Non-streaming: one ``chat.completion`` object. Streaming (``"stream": true``), one SSE event per
``chat.completion.chunk``, in this order: a ``delta.role`` chunk; the spec's ``thinking`` as
``delta.reasoning_content`` pieces (the extension vLLM and DeepSeek use; not streamed:
``message.reasoning_content``); the content split into ``chunks`` pieces; for each tool call
a chunk with its index, id, type, name and empty ``arguments``, then the arguments in
``chunks`` fragments; a chunk with ``finish_reason``; with ``stream_options.include_usage`` a
``choices: []`` chunk carrying ``usage`` (and ``"usage": null`` on every other chunk, as
OpenAI does); then ``data: [DONE]``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Final

import orjson

from plano.codec.sse import DONE, encode_event
from plano.mock.dialect import MockIds, body_model
from plano.mock.function_calling import logprobs
from plano.mock.request import MockRequest
from plano.mock.response import EVENT_STREAM, Reply
from plano.mock.script import ReplySpec, ToolCallSpec

DEFAULT_CHUNKS: Final = 5
FINGERPRINT: Final = "fp_plano_mock"
_ERRORS: Final = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    409: ("conflict_error", None),
    413: ("invalid_request_error", "request_too_large"),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


class OpenAIChat:
    """``POST …/chat/completions`` (OpenAI, Azure deployments, any OpenAI-compatible prefix)."""

    name = "openai_chat"

    def __init__(self) -> None:
        self._id = MockIds().new

    def matches(self, path: str) -> bool:
        return path.endswith("/chat/completions")

    def model(self, request: MockRequest) -> str | None:
        model = body_model(request)
        if model is not None:
            return model
        parts = request.path.split("/")  # Azure: /openai/deployments/{deployment}/chat/...
        if "deployments" in parts and parts.index("deployments") + 1 < len(parts):
            return parts[parts.index("deployments") + 1]
        return None

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        model = self.model(request) or "mock-model"
        text, finish = _text_and_finish(body, spec)
        calls = spec.tool_calls or ()
        answer = Answer(
            id=self._id("chatcmpl-"),
            model=model,
            text=text,
            calls=tuple((self._id("call_"), call) for call in calls),
            finish=finish,
            usage=_usage(body, spec, text, calls),
            thinking=spec.thinking,
            logprobs=logprobs(text, text, spec.uncertain or ())
            if body.get("logprobs") is True and text
            else None,
        )
        if body.get("stream") is True:
            opts = body.get("stream_options")
            with_usage = isinstance(opts, dict) and opts.get("include_usage") is True
            events = stream_events(answer, spec.chunks or DEFAULT_CHUNKS, with_usage=with_usage)
            stream_error = encode_event(error_body(500, spec.message or "The server had an error"))
            return Reply(events=events, content_type=EVENT_STREAM, stream_error=stream_error)
        return Reply(body=orjson.dumps(completion(answer)))

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=error_body(status, message))


def error_body(status: int, message: str) -> bytes:
    """OpenAI's error envelope ``{"error": {message, type, param, code}}``."""
    kind, code = _ERRORS.get(status) or ("server_error" if status >= 500 else "api_error", None)
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}})


def models_list(models: list[str]) -> bytes:
    """``GET /v1/models``."""
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "plano-mock"} for m in models]
    return orjson.dumps({"object": "list", "data": data})


@dataclass(frozen=True, slots=True)
class Answer:
    """What the assistant says, before it is shaped as a completion or a stream."""

    id: str
    model: str
    text: str | None  # None: "content": null
    calls: tuple[tuple[str, ToolCallSpec], ...]  # (call id, call)
    finish: str
    usage: dict[str, Any]
    thinking: str | None = None  # sent as ``reasoning_content`` (vLLM / DeepSeek extension)
    logprobs: list[dict[str, Any]] | None = None  # per-token, when the request asks for them


def completion(answer: Answer) -> dict[str, Any]:
    """A ``chat.completion`` object."""
    text, calls = answer.text, answer.calls
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if answer.thinking is not None:
        message["reasoning_content"] = answer.thinking
    if calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": c.name, "arguments": c.arguments},
            }
            for call_id, c in calls
        ]
    message["annotations"] = []
    return {
        "id": answer.id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None if answer.logprobs is None else {"content": answer.logprobs},
                "finish_reason": answer.finish,
            }
        ],
        "usage": answer.usage,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }


def stream_events(answer: Answer, chunks: int, *, with_usage: bool) -> list[bytes]:
    """The SSE events of a streamed completion, ``data: [DONE]`` included."""
    text = answer.text
    base: dict[str, Any] = {
        "id": answer.id,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": answer.model,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": None,
    }
    if with_usage:
        base["usage"] = None

    def event(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        base["choices"] = [choice]
        return encode_event(orjson.dumps(base))

    role = {"role": "assistant", "content": None if text is None else "", "refusal": None}
    events = [event(role)]
    thinking = split(answer.thinking or "", chunks)
    events.extend(event({"reasoning_content": piece}) for piece in thinking)
    events.extend(event({"content": piece}) for piece in split(text or "", chunks))
    for index, (call_id, call) in enumerate(answer.calls):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(event({"tool_calls": [head]}))
        for frag in split(call.arguments, chunks):
            part = {"index": index, "function": {"arguments": frag}}
            events.append(event({"tool_calls": [part]}))
    events.append(event({}, answer.finish))
    if with_usage:
        base["choices"] = []
        base["usage"] = answer.usage
        events.append(encode_event(orjson.dumps(base)))
    events.append(DONE)
    return events


def split(text: str, n: int) -> list[str]:
    """``text`` in at most ``n`` non-empty pieces of nearly equal length."""
    size = len(text)
    n = max(1, min(n, size))
    return [text[i * size // n : (i + 1) * size // n] for i in range(n)] if size else []


def _text_and_finish(body: dict[str, Any], spec: ReplySpec) -> tuple[str | None, str]:
    text = spec.text
    if text is None and not spec.tool_calls:
        text = default_text(body)
    finish = spec.finish_reason or ("tool_calls" if spec.tool_calls else "stop")
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    cap = limit * 4 if isinstance(limit, int) and limit > 0 else None  # ~4 characters a token
    if text and cap is not None and cap < len(text) and spec.finish_reason is None:
        text, finish = text[:cap], "length"
    return text, finish


def default_text(body: dict[str, Any]) -> str:
    """``mock reply to: <first 40 characters of the last user message>``."""
    messages = body.get("messages")
    if isinstance(messages, list):
        for msg in reversed(messages):
            if isinstance(msg, dict) and msg.get("role") == "user":
                return "mock reply to: " + content_text(msg.get("content"))[:40]
    return "mock reply"


def content_text(content: object) -> str:
    """The text of a message content: a string, or the ``text`` of its parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _usage(
    body: dict[str, Any], spec: ReplySpec, text: str | None, calls: tuple[ToolCallSpec, ...]
) -> dict[str, Any]:
    if spec.usage is not None:
        prompt, completion_tokens = spec.usage
    else:
        messages = body.get("messages")
        if not isinstance(messages, list):
            messages = []
        chars = sum(len(content_text(m.get("content"))) for m in messages if isinstance(m, dict))
        out_chars = len(text or "") + sum(len(c.name) + len(c.arguments) for c in calls)
        out_chars += len(spec.thinking or "")
        prompt, completion_tokens = (chars + 3) // 4, (out_chars + 3) // 4
    reasoning = min(reasoning_tokens(spec), completion_tokens)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": spec.cached_tokens or 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def reasoning_tokens(spec: ReplySpec) -> int:
    """Tokens of the spec's thinking text (~4 characters a token)."""
    return (len(spec.thinking) + 3) // 4 if spec.thinking else 0
