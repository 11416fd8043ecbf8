"""Native tool calling: the targets as `tools` on an ordinary chat request (any provider, any
dialect: the translation hub carries it), the model's `tool_calls` or text read back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from plano.agents.prompt_targets.answer import Detection, ToolCall

NO_MATCH: Final = "NO_MATCHING_FUNCTION"
INSTRUCTIONS: Final = (
    "You route the user's latest request to one of the given functions. Call a function only"
    " with argument values the user gave; when a required value is missing, ask the user for"
    " it in one short question. If no function fits the request, reply with exactly"
    f' "{NO_MATCH}" and nothing else.'
)


def chat_messages(messages: Sequence[Any]) -> list[Any]:
    """The client's conversation for the tool-calling model: its system messages replaced by
    ours, everything else as it is."""
    kept = [m for m in messages if isinstance(m, dict) and m.get("role") != "system"]
    return [{"role": "system", "content": INSTRUCTIONS}, *kept]


def request_body(model: str, tools: Sequence[Any], messages: Sequence[Any]) -> dict[str, Any]:
    return {
        "model": model,
        "messages": chat_messages(messages),
        "tools": list(tools),
        "tool_choice": "auto",
        "temperature": 0.1,
        "stream": False,
    }


def detection(message: Any) -> Detection:
    """A chat completion's first message as a decision."""
    if not isinstance(message, dict):
        return Detection()
    calls = []
    for c in message.get("tool_calls") or ():
        fn = c.get("function") if isinstance(c, dict) else None
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            calls.append(ToolCall(str(c.get("id") or ""), fn["name"], fn.get("arguments", "{}")))
    content = message.get("content")
    text = content.strip() if isinstance(content, str) else ""
    if calls:
        return Detection(calls=tuple(calls), raw=text)
    if not text or NO_MATCH in text:
        return Detection(raw=text)
    return Detection(clarification=text, raw=text)
