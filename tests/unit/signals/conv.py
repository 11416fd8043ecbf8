"""Builders of OpenAI chat messages for the signals tests."""

from __future__ import annotations

import json
from typing import Any

_ids = iter(range(1, 1_000_000))


def u(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def a(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


def call(name: str, **args: Any) -> dict[str, Any]:
    fn = {"name": name, "arguments": json.dumps(args)}
    tool_call = {"id": f"c{next(_ids)}", "type": "function", "function": fn}
    return {"role": "assistant", "content": None, "tool_calls": [tool_call]}


def obs(text: str) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": "c", "content": text}


def chat(*user_texts: str) -> list[dict[str, Any]]:
    """User messages, each followed by a neutral assistant reply."""
    out: list[dict[str, Any]] = []
    for n, text in enumerate(user_texts):
        out += [u(text), a(f"Reply number {n} with some details.")]
    return out
