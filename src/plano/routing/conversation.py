"""The conversation as routing sees it: role + plain text per message, for every client API.

Routing needs only text (what the router reads), the stable prefix (system/developer text and tool
names, for session keys) and whether the last turn is a user's. Chat Completions, Anthropic
Messages and Responses bodies are all reduced to the same `Conversation`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from plano.providers.catalogue import Api

_TEXT_PARTS: Final = frozenset({"text", "input_text", "output_text"})
# Harness envelopes that are not the user's words (an unterminated tag swallows the rest).
_ENVELOPES: Final = re.compile(
    r"<(system-reminder|user-prompt-submit-hook)>.*?(?:</\1>|\Z)", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class Turn:
    role: str  # user, assistant, system, developer, tool
    text: str
    media: bool = False  # has a non-text part (image, file, audio)


@dataclass(frozen=True, slots=True)
class Conversation:
    turns: tuple[Turn, ...]
    system: str  # system + developer texts joined by "\n"
    tools: str  # tool names joined by ","

    @property
    def first_user(self) -> str | None:
        return next((t.text for t in self.turns if t.role == "user"), None)

    @property
    def last_user_text(self) -> str:
        return next((t.text for t in reversed(self.turns) if t.role == "user" and t.text), "")

    def is_user_turn(self) -> bool:
        """The last message is the user's own words (not a tool result or a harness note)."""
        if not self.turns:
            return False
        last = self.turns[-1]
        if last.role != "user":
            return False
        return last.media or bool(_ENVELOPES.sub("", last.text).strip())


def text_of(content: Any) -> tuple[str, bool]:
    """Plain text of a content value (string or parts) and whether it holds non-text parts."""
    if isinstance(content, str):
        return content, False
    if not isinstance(content, list):
        return "", False
    texts: list[str] = []
    media = False
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict):
            kind = part.get("type")
            if isinstance(kind, str) and kind in _TEXT_PARTS and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind not in ("tool_use", "tool_result", "function_call", "thinking"):
                media = True
    return " ".join(texts), media


def conversation_of(doc: dict[str, Any], api: Api) -> Conversation:
    if api is Api.ANTHROPIC_MESSAGES:
        return _messages(doc)
    if api is Api.OPENAI_RESPONSES:
        return _responses(doc)
    return _chat(doc)


def _items(value: Any) -> list[Any]:
    """A list field as read for routing: anything else (a wrong type) reads as empty."""
    return value if isinstance(value, list) else []


def _tool_names(tools: Any) -> str:
    names: list[str] = []
    if isinstance(tools, list):
        for t in tools:
            if isinstance(t, dict):
                fn = t.get("function")
                name = fn.get("name") if isinstance(fn, dict) else t.get("name")
                if isinstance(name, str):
                    names.append(name)
    return ",".join(names)


def _chat(doc: dict[str, Any]) -> Conversation:
    turns: list[Turn] = []
    system: list[str] = []
    for m in _items(doc.get("messages")):
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        text, media = text_of(m.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        if isinstance(role, str):
            turns.append(Turn(role, text, media))
    return Conversation(tuple(turns), "\n".join(system), _tool_names(doc.get("tools")))


def _messages(doc: dict[str, Any]) -> Conversation:
    turns: list[Turn] = []
    system, _ = text_of(doc.get("system"))
    for m in _items(doc.get("messages")):
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        content = m.get("content")
        text, media = text_of(content)
        if role == "user" and isinstance(content, list) and content and not text and not media:
            role = "tool"  # a turn of tool results only
        if isinstance(role, str):
            turns.append(Turn(role, text, media))
    return Conversation(tuple(turns), system, _tool_names(doc.get("tools")))


def _responses(doc: dict[str, Any]) -> Conversation:
    turns: list[Turn] = []
    system: list[str] = []
    if isinstance(doc.get("instructions"), str):
        system.append(doc["instructions"])
    items = doc.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in _items(items):
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "function_call_output":
            turns.append(Turn("tool", ""))
            continue
        role = item.get("role")
        if kind != "message" or not isinstance(role, str):
            continue
        text, media = text_of(item.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        turns.append(Turn(role, text, media))
    return Conversation(tuple(turns), "\n".join(system), _tool_names(doc.get("tools")))
