"""Gemini generateContent, as the mock answers it.

``POST …/models/{model}:generateContent`` answers one ``GenerateContentResponse``;
``…:streamGenerateContent?alt=sse`` answers one SSE event per response chunk
(``data: …\\r\\n\\r\\n``, no terminator), and without ``alt=sse`` a JSON array of the same
chunks, as Gemini does.

Chunks, in order: the thinking (a ``thought: true`` part) when the spec has some; the text in
``chunks`` pieces; all function calls in one chunk (each call whole; with thinking, the first
call carries a ``thoughtSignature``); the last chunk carries ``finishReason`` (``STOP`` unless the
spec says otherwise or ``maxOutputTokens`` cut the text: ``MAX_TOKENS``) and the full
``usageMetadata`` (with ``cachedContentTokenCount`` and ``thoughtsTokenCount`` when set).

The mock checks the key: a request without ``x-goog-api-key`` (or ``?key=``) gets Gemini's 403.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any, Final
from urllib.parse import unquote

import orjson

from plano.mock.openai_chat import DEFAULT_CHUNKS, split
from plano.mock.request import MockRequest
from plano.mock.response import EVENT_STREAM, Reply
from plano.mock.script import ReplySpec
from plano.wire.gemini import API_KEY_HEADER, GENERATE, STREAM_GENERATE, error_body

THOUGHT_SIGNATURE: Final = "bW9jay10aG91Z2h0LXNpZ25hdHVyZQ=="


class Gemini:
    name = "gemini"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._salt = secrets.token_hex(6)

    def matches(self, path: str) -> bool:
        return "/models/" in path and path.endswith((GENERATE, STREAM_GENERATE))

    def model(self, request: MockRequest) -> str | None:
        tail = request.path.rsplit("/models/", 1)[-1]
        return unquote(tail.rsplit(":", 1)[0]) or None

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        if not request.headers.get(API_KEY_HEADER) and "key=" not in request.query:
            return self.error(
                403,
                "Method doesn't allow unregistered callers (callers without established "
                "identity). Please use API Key or other form of API consumer identity to call "
                "this API.",
            )
        body = request.body if isinstance(request.body, dict) else {}
        chunks = _chunks(body, spec, self.model(request) or "mock-model", self._id())
        if not request.path.endswith(STREAM_GENERATE):
            return Reply(body=orjson.dumps(_merge(chunks)))
        if "alt=sse" not in request.query:
            return Reply(body=orjson.dumps(chunks))
        events = [b"data: " + orjson.dumps(c) + b"\r\n\r\n" for c in chunks]
        failure = error_body(500, spec.message or "An internal error has occurred.")
        stream_error = b"data: " + failure + b"\r\n\r\n"
        return Reply(events=events, content_type=EVENT_STREAM, stream_error=stream_error)

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=error_body(status, message))

    def _id(self) -> str:
        return f"mock{self._salt}{next(self._ids):08x}"


def user_text(body: dict[str, Any]) -> str:
    """The text of the last user turn."""
    contents = body.get("contents")
    for turn in reversed(contents if isinstance(contents, list) else []):
        if isinstance(turn, dict) and turn.get("role", "user") == "user":
            parts = turn.get("parts") or []
            return "".join(
                p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
    return ""


def _prompt_chars(body: dict[str, Any]) -> int:
    return len(orjson.dumps(body.get("contents") or [])) // 2


def _chunks(body: dict[str, Any], spec: ReplySpec, model: str, rid: str) -> list[dict[str, Any]]:
    calls = spec.tool_calls or ()
    text = spec.text
    if text is None and not calls:
        text = "mock reply to: " + user_text(body)[:40]
    finish = spec.finish_reason or "STOP"
    limit = (body.get("generationConfig") or {}).get("maxOutputTokens")
    if text and isinstance(limit, int) and 0 < limit * 4 < len(text) and not spec.finish_reason:
        text, finish = text[: limit * 4], "MAX_TOKENS"
    parts: list[list[dict[str, Any]]] = []
    if spec.thinking:
        parts.append([{"text": spec.thinking, "thought": True}])
    parts.extend([{"text": piece}] for piece in split(text or "", spec.chunks or DEFAULT_CHUNKS))
    if calls:
        fc: list[dict[str, Any]] = [
            {"functionCall": {"name": c.name, "args": orjson.loads(c.arguments)}} for c in calls
        ]
        if spec.thinking:
            fc[0]["thoughtSignature"] = THOUGHT_SIGNATURE
        parts.append(fc)
    if not parts:
        parts.append([{"text": ""}])
    out_chars = len(text or "") + sum(len(c.name) + len(c.arguments) for c in calls)
    prompt, output = spec.usage or (_prompt_chars(body) // 4, (out_chars + 3) // 4)
    thoughts = (len(spec.thinking) + 3) // 4 if spec.thinking else None
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt + output + (thoughts or 0),
    }
    if spec.cached_tokens:
        usage["cachedContentTokenCount"] = spec.cached_tokens
    if thoughts is not None:
        usage["thoughtsTokenCount"] = thoughts
    chunks: list[dict[str, Any]] = []
    for i, group in enumerate(parts):
        candidate: dict[str, Any] = {"content": {"parts": group, "role": "model"}, "index": 0}
        chunk: dict[str, Any] = {"candidates": [candidate]}
        if i == len(parts) - 1:
            candidate["finishReason"] = finish
            chunk["usageMetadata"] = usage
        else:
            chunk["usageMetadata"] = {"promptTokenCount": prompt, "totalTokenCount": prompt}
        chunk["modelVersion"] = model
        chunk["responseId"] = rid
        chunks.append(chunk)
    return chunks


def _merge(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The non-streamed response: every chunk's parts in one candidate (text pieces joined)."""
    parts: list[dict[str, Any]] = []
    for chunk in chunks:
        for part in chunk["candidates"][0]["content"]["parts"]:
            last_part = parts[-1] if parts else None
            if last_part and set(last_part) == {"text"} and set(part) == {"text"}:
                last_part["text"] += part["text"]
            else:
                parts.append(dict(part))
    last = chunks[-1]
    candidate = {**last["candidates"][0], "content": {"parts": parts, "role": "model"}}
    return {**last, "candidates": [candidate]}
