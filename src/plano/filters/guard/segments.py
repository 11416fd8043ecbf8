"""What the guard reads in a request body: the new user text and the new tool results.

The three client dialects are decoded to `Segment`s: Chat Completions (`messages`, `tool`
messages), Anthropic Messages (`messages`, `tool_result` blocks) and Responses (`input`,
`function_call_output` items). Only the turn being sent is read: what follows the last assistant
message (earlier turns were inspected when they were new). When that holds neither user text nor
a tool result (a prefilled assistant turn), the last user text is read instead.

A tool-result segment knows where its text lives (`owner[key]`) so `redact` can replace it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal

_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})
Where = Literal["user", "tool"]


@dataclass(frozen=True, slots=True)
class Segment:
    where: Where
    text: str
    owner: Any = None  # the dict holding a tool result's content (None for user text)
    key: str = ""


def dialect_of(path: str) -> str:
    if path.endswith("/messages"):
        return "messages"
    if path.endswith("/responses"):
        return "responses"
    return "chat"


def text_of(content: Any) -> str:
    """Plain text of a content value (a string or a list of parts), parts joined by a space
    (the same text the embedded router reads, so the embedding is shared)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") in _TEXT_PARTS:
            text = part.get("text")
            if isinstance(text, str):
                texts.append(text)
    return " ".join(texts)


def segments(doc: dict[str, Any], path: str) -> list[Segment]:
    """The segments of the turn being sent, user text first."""
    dialect = dialect_of(path)
    if dialect == "responses":
        items = doc.get("input")
        if isinstance(items, str):
            return [Segment("user", items)] if items.strip() else []
        found = list(_responses(_list(items)))
    elif dialect == "messages":
        found = list(_messages(_list(doc.get("messages"))))
    else:
        found = list(_chat(_list(doc.get("messages"))))
    found.sort(key=lambda s: s.where != "user")
    return [s for s in found if s.text.strip()]


def _list(value: Any) -> list[Any]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _tail(items: list[dict[str, Any]], is_assistant: Any) -> list[dict[str, Any]]:
    last = max((i for i, m in enumerate(items) if is_assistant(m)), default=-1)
    return items[last + 1 :]


def _last_user(items: list[dict[str, Any]], text: Any) -> Iterator[Segment]:
    for item in reversed(items):
        if item.get("role") == "user":
            t = text(item)
            if t.strip():
                yield Segment("user", t)
                return


def _chat(messages: list[dict[str, Any]]) -> Iterator[Segment]:
    tail = _tail(messages, lambda m: m.get("role") == "assistant")
    got = False
    for m in tail:
        role = m.get("role")
        if role == "user":
            got = True
            yield Segment("user", text_of(m.get("content")))
        elif role in ("tool", "function"):
            got = True
            yield Segment("tool", text_of(m.get("content")), m, "content")
    if not got:
        yield from _last_user(messages, lambda m: text_of(m.get("content")))


def _messages(messages: list[dict[str, Any]]) -> Iterator[Segment]:
    tail = _tail(messages, lambda m: m.get("role") == "assistant")
    got = False
    for m in tail:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, str):
            got = True
            yield Segment("user", content)
            continue
        blocks = _list(content)
        user = text_of(blocks)
        if user.strip():
            got = True
            yield Segment("user", user)
        for block in blocks:
            if block.get("type") == "tool_result":
                got = True
                yield Segment("tool", text_of(block.get("content")), block, "content")
    if not got:
        yield from _last_user(messages, lambda m: text_of(m.get("content")))


def _is_assistant_item(item: dict[str, Any]) -> bool:
    return item.get("role") == "assistant" or item.get("type") in ("function_call", "reasoning")


def _responses(items: list[dict[str, Any]]) -> Iterator[Segment]:
    got = False
    for item in _tail(items, _is_assistant_item):
        if item.get("type") == "function_call_output":
            got = True
            yield Segment("tool", text_of(item.get("output")), item, "output")
        elif item.get("role") == "user":
            got = True
            yield Segment("user", text_of(item.get("content")))
    if not got:
        yield from _last_user(items, lambda m: text_of(m.get("content")))


def chunks(text: str, limit: int, size: int = 600, step: int = 450) -> list[str]:
    """The windows of `text` the classifier embeds: the text itself when short, else up to
    `limit` windows of `size` characters spread over the whole text (the model reads ~128
    tokens of each). The first window is always the whole text, which the model reads from its
    start up to its 128-token limit, as the embedded router reads it: so the router's embedding
    of the same text is the guard's first window, shared through the request's memo (one
    batch, one ORT run)."""
    if len(text) <= size:
        return [text]
    starts = list(range(0, len(text) - size + 1, step))
    if starts[-1] != len(text) - size:
        starts.append(len(text) - size)
    if len(starts) > limit:
        spread = (len(starts) - 1) / max(limit - 1, 1)
        starts = [starts[round(i * spread)] for i in range(limit)]
    return [text, *(text[s : s + size] for s in starts[1:])]
