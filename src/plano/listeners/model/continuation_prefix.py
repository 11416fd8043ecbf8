"""What a client has read of a broken stream, from the events the relay sent it (decoded only
when the stream broke): the answer's text, its ids, whether it can be continued, and what the
broken attempt was billed. One reader per client API that continuation serves (a Responses
stream also gives its next `sequence_number`, the output items it finished and the id of the
message whose text part is open, to prime the encoder that writes the rest)."""

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
    next_index: int = 0  # the next content block index (Messages), output index (Responses)
    usage: ir.Usage = field(default_factory=ir.Usage)
    # Responses: the next sequence_number, the items finished, the open message item's id and
    # where its open text part's text starts in `text`
    seq: int = 0
    done: list[dict[str, Any]] = field(default_factory=list)
    item_id: str = ""
    open_from: int = 0

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


def _responses(doc: dict[str, Any], out: Prefix) -> None:
    seq = doc.get("sequence_number")
    if isinstance(seq, int):
        out.seq = max(out.seq, seq + 1)
    kind = doc.get("type")
    if kind == "response.output_text.delta":
        if isinstance(doc.get("delta"), str):
            out.text.append(doc["delta"])
        return
    index = doc.get("output_index")
    if kind == "response.output_item.added":
        item = doc.get("item") or {}
        if isinstance(index, int):
            out.next_index = max(out.next_index, index + 1)
        if item.get("type") == "message":
            out.item_id = str(item.get("id") or "")
            out.open_other = True  # until its text part opens
        elif item.get("type") == "reasoning":
            out.open_other = True
        else:  # a function call, a hosted tool's call
            out.tools = True
    elif kind == "response.content_part.added":
        part = doc.get("part") or {}
        if part.get("type") == "output_text" and doc.get("content_index") == 0:
            out.open_text, out.open_other = index, False
            out.open_from = len(out.text)
            if isinstance(part.get("text"), str) and part["text"]:
                out.text.append(part["text"])
    elif kind in ("response.output_text.done", "response.content_part.done"):
        out.open_text, out.open_other = None, True  # the item is still open, its text is not
    elif kind == "response.output_item.done":
        item = doc.get("item")
        if isinstance(item, dict):
            out.done.append(item)
        out.open_text, out.open_other = None, False
    elif kind == "response.created":
        r = doc.get("response") or {}
        out.id, out.model = str(r.get("id") or ""), str(r.get("model") or "")
        created = r.get("created_at")
        out.created = created if isinstance(created, int) else None
    elif kind in ("response.completed", "response.incomplete", "response.failed", "error"):
        out.finished = True


_READERS: Final[dict[Api, Callable[[dict[str, Any], Prefix], None]]] = {
    Api.OPENAI_CHAT: _chat,
    Api.ANTHROPIC_MESSAGES: _messages,
    Api.OPENAI_RESPONSES: _responses,
}


def _estimate(chars: int) -> int:
    return (chars + 3) // 4  # about four characters a token


def primary_usage(prefix: Prefix, doc: dict[str, Any] | None, text: str) -> ir.Usage:
    """What the broken attempt was billed: its own report, else an estimate from the request's
    message text and the answer's text so far."""
    reported = prefix.usage
    prompt = reported.input
    if prompt is None:
        doc = doc or {}
        messages = doc.get("messages", doc.get("input"))  # chat and Messages, or Responses
        chars = 0
        if isinstance(doc.get("instructions"), str):  # Responses
            chars += len(doc["instructions"])
        if isinstance(messages, str):
            chars += len(messages)
        for m in messages if isinstance(messages, list) else ():
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
        prompt = _estimate(chars)
    completion = reported.output if reported.output is not None else _estimate(len(text))
    return ir.Usage(input=prompt, output=completion)
