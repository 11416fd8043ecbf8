"""What a client has read of a broken stream, from the events the relay sent it (decoded only
when the stream broke): the answer's text, its ids, whether it can be continued, and what the
broken attempt was billed. One reader per client API that continuation serves."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from plano import ir
from plano.codec.sse_scan import block_data
from plano.wire.api import Api


@dataclass(slots=True)
class Prefix:
    """The answer so far, as the client read it."""

    id: str = ""
    model: str = ""
    created: int | None = None
    text: list[str] = field(default_factory=list)
    tools: bool = False  # a tool call went out
    finished: bool = False  # the answer's end (finish/stop reason) went out
    open_text: int | None = None  # the text block still open (Messages), continued by the rest
    open_other: bool = False  # another block still open (thinking): not continued
    next_index: int = 0  # the next content block index (Messages)
    usage: ir.Usage = field(default_factory=ir.Usage)

    @property
    def continuable(self) -> bool:
        return bool(self.id) and not (self.tools or self.finished or self.open_other)


def read_prefix(api: Api, blocks: list[bytes]) -> Prefix | None:
    """The answer in the events sent (whole events); None when one cannot be read."""
    reader = _READERS.get(api)
    if reader is None:
        return None
    out = Prefix()
    for block in blocks:
        for data in block_data(block):
            if data == b"[DONE]":
                out.finished = True
                continue
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
            if not isinstance(doc, dict):
                return None
            reader(doc, out)
    return out


def _chat(doc: dict[str, Any], out: Prefix) -> None:
    if not out.id and isinstance(doc.get("id"), str):
        out.id, out.model = doc["id"], str(doc.get("model") or "")
        created = doc.get("created")
        out.created = created if isinstance(created, int) else None
    usage = doc.get("usage")
    if isinstance(usage, dict):
        out.usage.input = usage.get("prompt_tokens")
        out.usage.output = usage.get("completion_tokens")
    for choice in doc.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason"):
            out.finished = True
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
            if isinstance(text, str):
                out.text.append(text)
            if delta.get("tool_calls") or delta.get("function_call"):
                out.tools = True


def _messages(doc: dict[str, Any], out: Prefix) -> None:
    kind = doc.get("type")
    if kind == "content_block_delta":
        delta = doc.get("delta") or {}
        if delta.get("type") == "text_delta" and isinstance(delta.get("text"), str):
            out.text.append(delta["text"])
    elif kind == "content_block_start":
        index = doc.get("index")
        if not isinstance(index, int):
            return
        out.next_index = max(out.next_index, index + 1)
        block = doc.get("content_block") or {}
        if block.get("type") == "text":
            out.open_text = index
            if isinstance(block.get("text"), str):
                out.text.append(block["text"])
        elif block.get("type") in ("tool_use", "server_tool_use"):
            out.tools = True
        else:
            out.open_other = True
    elif kind == "content_block_stop":
        if doc.get("index") == out.open_text:
            out.open_text = None
        else:
            out.open_other = False
    elif kind == "message_start":
        message = doc.get("message") or {}
        out.id, out.model = str(message.get("id") or ""), str(message.get("model") or "")
        usage = message.get("usage") or {}
        out.usage.input = usage.get("input_tokens")
    elif kind in ("message_delta", "message_stop"):
        out.finished = True


_READERS: Final[dict[Api, Callable[[dict[str, Any], Prefix], None]]] = {
    Api.OPENAI_CHAT: _chat,
    Api.ANTHROPIC_MESSAGES: _messages,
}


def _estimate(chars: int) -> int:
    return (chars + 3) // 4  # about four characters a token


def primary_usage(prefix: Prefix, doc: dict[str, Any] | None, text: str) -> ir.Usage:
    """What the broken attempt was billed: its own report, else an estimate from the request's
    message text and the answer's text so far."""
    reported = prefix.usage
    prompt = reported.input
    if prompt is None:
        messages = doc.get("messages") if doc is not None else None
        chars = 0
        for m in messages if isinstance(messages, list) else ():
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
        prompt = _estimate(chars)
    completion = reported.output if reported.output is not None else _estimate(len(text))
    return ir.Usage(input=prompt, output=completion)
