"""The Plano-Orchestrator prompt (the original's v1 format) and the parsing of its answer.

Pure functions: `conversation_for` picks the messages the orchestrator sees, `orchestrator_prompt`
renders the prompt, `parse_routes` reads the model's `{"route": [...]}` answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

MAX_ROUTING_TURNS: Final = 16
TOKEN_DIVISOR: Final = 4
TRIM_MARKER: Final = "…"

# The wire format the Plano-Orchestrator model was trained on: keep it byte for byte.
PROMPT_TEMPLATE: Final = """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{routes}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
{conversation}
</conversation>

## Instructions
1. Analyze the latest user intent from the conversation.
2. Compare it against the available routes to find which routes can help fulfill the request.
3. Respond only with the exact route names from <routes>.
4. If no routes can help or the intent is already fulfilled, return an empty list.

## Response Format
Return your answer strictly in JSON as follows:
{{"route": ["route_name_1", "route_name_2", "..."]}}
If no routes are needed, return an empty list for `route`.
"""

_SKIPPED_ROLES: Final = frozenset({"system", "developer", "tool"})


class RouteParseError(ValueError):
    """The orchestrator's answer is not `{"route": [...]}`."""


@dataclass(frozen=True, slots=True)
class AgentRoute:
    """One route offered to the orchestrator: an agent id and its description."""

    name: str
    description: str


def routes_text(routes: Sequence[AgentRoute]) -> str:
    """One JSON object per line, with Python's default `", "` / `": "` spacing."""
    params = {"type": "object", "properties": {}, "required": []}
    return "\n".join(
        json.dumps(
            {"name": r.name, "description": r.description, "parameters": params},
            ensure_ascii=False,
        )
        for r in routes
    )


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the text parts of a part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            p["text"]
            for p in content
            if isinstance(p, dict) and isinstance(p.get("text"), str) and p.get("type") != "image"
        ]
        return " ".join(parts)
    return ""


def conversation_for(messages: Sequence[Any], context_length: int) -> list[dict[str, str]]:
    """The messages the orchestrator sees, newest kept first, within the token budget."""
    kept = [
        (m.get("role", ""), text)
        for m in messages
        if isinstance(m, dict)
        and m.get("role") not in _SKIPPED_ROLES
        and (text := text_of(m.get("content")))
    ]
    window = kept[-MAX_ROUTING_TURNS:]
    budget = len(PROMPT_TEMPLATE) // TOKEN_DIVISOR
    chosen: list[dict[str, str]] = []
    for role, text in reversed(window):
        cost = len(text.encode()) // TOKEN_DIVISOR
        if budget + cost > context_length:
            remaining = context_length - budget
            if role == "user" and remaining > 0:
                chosen.append({"role": "user", "content": trim_middle(text, remaining * 4)})
            break
        budget += cost
        chosen.append({"role": role, "content": text})
    if not chosen and window:
        role, text = window[-1]
        chosen.append({"role": role, "content": text})
    chosen.reverse()
    return chosen


def trim_middle(text: str, max_bytes: int) -> str:
    """At most `max_bytes` UTF-8 bytes: ~60% head, a marker, ~40% tail, on character bounds."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    marker = TRIM_MARKER.encode()
    if max_bytes <= len(marker):
        return raw[:max_bytes].decode("utf-8", "ignore")
    available = max_bytes - len(marker)
    head = raw[: available * 3 // 5].decode("utf-8", "ignore")
    tail_len = available - len(head.encode())
    tail = raw[len(raw) - tail_len :].decode("utf-8", "ignore") if tail_len else ""
    return head + TRIM_MARKER + tail


def orchestrator_prompt(routes: str, conversation: list[dict[str, str]]) -> str:
    rendered = json.dumps(conversation, indent=4, ensure_ascii=False)
    return PROMPT_TEMPLATE.replace("{routes}", routes).replace("{conversation}", rendered)


def parse_routes(content: str) -> list[str]:
    """Route names in the model's order; empty content or an empty list means none."""
    if not content:
        return []
    fixed = content.replace("'", '"').replace("\\n", "")
    try:
        doc = json.loads(fixed)
    except json.JSONDecodeError as exc:
        raise RouteParseError(f"orchestrator answer is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise RouteParseError("orchestrator answer is not a JSON object")
    routes = doc.get("route") or []
    if not isinstance(routes, list):
        raise RouteParseError("orchestrator answer's `route` is not a list")
    return [r for r in routes if isinstance(r, str) and r]
