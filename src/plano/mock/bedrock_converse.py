"""Bedrock Converse / ConverseStream, as the mock answers it.

``POST /model/{modelId}/converse`` answers one Converse JSON reply;
``…/converse-stream`` answers ``application/vnd.amazon.eventstream`` frames (one HTTP chunk
each): ``messageStart``; with thinking, ``reasoningContent`` text deltas and a signature delta,
then ``contentBlockStop``; the text as ``chunks`` text deltas and its ``contentBlockStop``; per
tool call ``contentBlockStart`` (id, name), the input JSON in ``chunks`` fragments and
``contentBlockStop``; ``messageStop`` (``end_turn``, ``tool_use``, or ``max_tokens`` when
``inferenceConfig.maxTokens`` cut the text); ``metadata`` with usage (cache reads included).

Auth: a bearer token (Bedrock API key) or a well-formed SigV4 ``Authorization`` header with
``x-amz-date``; anything else gets Bedrock's 403 ``MissingAuthenticationTokenException`` /
``UnrecognizedClientException``. Errors carry ``x-amzn-ErrorType``.
"""

from __future__ import annotations

import itertools
import re
import secrets
from typing import Any, Final
from urllib.parse import unquote

import orjson

from plano.codec.aws_eventstream import encode_frame
from plano.mock.openai_chat import DEFAULT_CHUNKS, split
from plano.mock.request import MockRequest
from plano.mock.response import Reply
from plano.mock.script import ReplySpec
from plano.wire.bedrock_converse import STREAM_CONTENT_TYPE, error_body, exception_name

SIGNATURE: Final = "bW9jay1yZWFzb25pbmctc2lnbmF0dXJl"
_PATH: Final = re.compile(r"/model/([^/]+)/(converse|converse-stream)$")
_SIGV4: Final = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=[^/\s]+/\d{8}/[a-z0-9-]+/bedrock/aws4_request, "
    r"SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$"
)
_ERROR_SUFFIX: Final = ":http://internal.amazon.com/coral/com.amazon.bedrock/"


class BedrockConverse:
    name = "bedrock_converse"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._salt = secrets.token_hex(6)

    def matches(self, path: str) -> bool:
        return _PATH.search(path) is not None

    def model(self, request: MockRequest) -> str | None:
        match = _PATH.search(request.path)
        return unquote(match.group(1)) if match else None

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        denied = _check_auth(request.headers)
        if denied is not None:
            return denied
        body = request.body if isinstance(request.body, dict) else {}
        answer = _answer(body, spec, self._tool_id)
        if request.path.endswith("/converse-stream"):
            failure = error_body(spec.message or "The system encountered an unexpected error.")
            stream_error = encode_frame(
                {":exception-type": "internalServerException", ":message-type": "exception"},
                failure,
            )
            return Reply(
                events=_frames(answer, spec.chunks or DEFAULT_CHUNKS),
                content_type=STREAM_CONTENT_TYPE,
                stream_error=stream_error,
            )
        return Reply(body=orjson.dumps(_converse(answer)))

    def error(self, status: int, message: str) -> Reply:
        return _error(status, exception_name(status), message)

    def _tool_id(self) -> str:
        return f"tooluse_{self._salt}{next(self._ids):010x}"


def _error(status: int, name: str, message: str) -> Reply:
    headers = (("x-amzn-ErrorType", name + _ERROR_SUFFIX),)
    return Reply(status=status, body=error_body(message), headers=headers)


def _check_auth(headers: dict[str, str]) -> Reply | None:
    auth = headers.get("authorization", "")
    if auth.startswith("Bearer ") and auth[7:].strip():
        return None
    if auth.startswith("AWS4-HMAC-SHA256"):
        if _SIGV4.match(auth) and headers.get("x-amz-date"):
            return None
        return _error(
            403,
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
        )
    return _error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")


def _answer(body: dict[str, Any], spec: ReplySpec, new_id: Any) -> dict[str, Any]:
    calls = [(new_id(), c) for c in spec.tool_calls or ()]
    text = spec.text
    if text is None and not calls:
        text = "mock reply to: " + _user_text(body)[:40]
    stop = spec.finish_reason or ("tool_use" if calls else "end_turn")
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    if text and isinstance(limit, int) and 0 < limit * 4 < len(text) and not spec.finish_reason:
        text, stop = text[: limit * 4], "max_tokens"
    out_chars = len(text or "") + len(spec.thinking or "")
    out_chars += sum(len(c.name) + len(c.arguments) for _, c in calls)
    prompt_chars = len(orjson.dumps(body.get("messages") or [])) // 2
    prompt, output = spec.usage or ((prompt_chars + 3) // 4, (out_chars + 3) // 4)
    usage: dict[str, Any] = {
        "inputTokens": prompt,
        "outputTokens": output,
        "totalTokens": prompt + output,
    }
    if spec.cached_tokens:
        usage["cacheReadInputTokens"] = spec.cached_tokens
        usage["cacheWriteInputTokens"] = 0
    return {"text": text, "thinking": spec.thinking, "calls": calls, "stop": stop, "usage": usage}


def _user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages")
    for msg in reversed(messages if isinstance(messages, list) else []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            blocks = msg.get("content") or []
            return "".join(
                b["text"] for b in blocks if isinstance(b, dict) and isinstance(b.get("text"), str)
            )
    return ""


def _converse(answer: dict[str, Any]) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if answer["thinking"]:
        reasoning = {"text": answer["thinking"], "signature": SIGNATURE}
        content.append({"reasoningContent": {"reasoningText": reasoning}})
    if answer["text"]:
        content.append({"text": answer["text"]})
    for tool_id, call in answer["calls"]:
        use = {"toolUseId": tool_id, "name": call.name, "input": orjson.loads(call.arguments)}
        content.append({"toolUse": use})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": answer["stop"],
        "usage": answer["usage"],
        "metrics": {"latencyMs": 1},
    }


def _event(kind: str, payload: dict[str, Any]) -> bytes:
    headers: dict[str, Any] = {
        ":event-type": kind,
        ":content-type": "application/json",
        ":message-type": "event",
    }
    return encode_frame(headers, orjson.dumps(payload))


def _frames(answer: dict[str, Any], chunks: int) -> list[bytes]:
    frames = [_event("messageStart", {"role": "assistant"})]
    index = 0

    def delta(value: dict[str, Any]) -> bytes:
        return _event("contentBlockDelta", {"contentBlockIndex": index, "delta": value})

    if answer["thinking"]:
        frames.extend(
            delta({"reasoningContent": {"text": p}}) for p in split(answer["thinking"], chunks)
        )
        frames.append(delta({"reasoningContent": {"signature": SIGNATURE}}))
        frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    if answer["text"]:
        frames.extend(delta({"text": p}) for p in split(answer["text"], chunks))
        frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    for tool_id, call in answer["calls"]:
        start = {"toolUse": {"toolUseId": tool_id, "name": call.name}}
        frames.append(_event("contentBlockStart", {"contentBlockIndex": index, "start": start}))
        frames.extend(delta({"toolUse": {"input": p}}) for p in split(call.arguments, chunks))
        frames.append(_event("contentBlockStop", {"contentBlockIndex": index}))
        index += 1
    frames.append(_event("messageStop", {"stopReason": answer["stop"]}))
    frames.append(_event("metadata", {"usage": answer["usage"], "metrics": {"latencyMs": 1}}))
    return frames
