"""The Plano-Orchestrator prompt (the original's v1 format) and the parsing of its answer.

Pure functions: `conversation_for` picks the messages the orchestrator sees, `orchestrator_prompt`
renders the prompt, `parse_routes` reads the model's `{"route": [...]}` answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from plano.routing.conversation import Turn
from plano.routing.orchestrator import (
    MAX_ROUTING_TURNS,
    PROMPT_TEMPLATE,
    TOKEN_DIVISOR,
    select_turns,
    trim_middle,
)

# The prompt format, its trimming rules and its token budget are the model router's: the
# Plano-Orchestrator model reads agents as routes, exactly like preference routes.
__all__ = ["MAX_ROUTING_TURNS", "PROMPT_TEMPLATE", "TOKEN_DIVISOR", "trim_middle"]


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
    turns = [
        Turn(str(m.get("role", "")), text)
        for m in messages
        if isinstance(m, dict) and (text := text_of(m.get("content")))
    ]
    return [{"role": r, "content": t} for r, t in select_turns(turns, context_length)]


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
