"""Decoding one line of a conversations file (JSONL) for offline analysis (`plano signals`).

A line is the replay format `{"id": ..., "messages": [{"from": ..., "value": ...}]}`, an object
with OpenAI chat `messages` (and an optional `id`), or a bare JSON array of OpenAI messages.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal


class ReplayLineError(ValueError):
    """A line that is not a conversation; the message says why (without the line's content)."""


@dataclass(frozen=True, slots=True)
class ReplayConversation:
    id: Any
    messages: list[Mapping[str, Any]]
    shape: Literal["openai", "sharegpt"]


def decode_line(line: str, lineno: int) -> ReplayConversation | None:
    """The conversation on `line` (None for a blank line); raises ReplayLineError otherwise."""
    if not line.strip():
        return None
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise ReplayLineError(f"not valid JSON ({_reason(exc)})") from None
    conv_id: Any = lineno
    if isinstance(value, Mapping):
        if "id" in value:
            conv_id = value["id"]
            if not isinstance(conv_id, str | int | float) or isinstance(conv_id, bool):
                raise ReplayLineError('"id" must be a string or a number')
        messages = value.get("messages")
        if not isinstance(messages, list):
            raise ReplayLineError('expected a "messages" array')
    elif isinstance(value, list):
        messages = value
    else:
        raise ReplayLineError('expected an object with "messages" or an array of messages')
    shape = _shape(messages)
    return ReplayConversation(conv_id, messages, shape)


def _shape(messages: list[Any]) -> Literal["openai", "sharegpt"]:
    shapes: set[str] = set()
    for n, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ReplayLineError(f"message {n} is not an object")
        if isinstance(message.get("role"), str):
            shapes.add("openai")
        elif isinstance(message.get("from"), str):
            shapes.add("sharegpt")
        else:
            raise ReplayLineError(f'message {n} has neither a "role" nor a "from" string')
    if len(shapes) > 1:
        raise ReplayLineError('messages mix "role" (OpenAI) and "from" (ShareGPT) shapes')
    return "sharegpt" if shapes == {"sharegpt"} else "openai"


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at column {exc.colno}"
    return "undecodable text"
