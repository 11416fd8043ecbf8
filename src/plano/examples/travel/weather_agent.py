"""Weather agent: answers the weather part of a travel question (the forecast text is the LLM's)."""

from __future__ import annotations

from typing import Any

from agent_base import agent_app
from service import parse_args, run_aiohttp

SYSTEM = (
    "You are WeatherAgent. Answer ONLY the weather part of the user's question, "
    "using the conversation to resolve which city is meant."
)


def history(messages: list[Any]) -> list[Any]:
    return [m for m in messages if m.get("role") in ("user", "assistant")]


if __name__ == "__main__":
    args = parse_args(10510)
    run_aiohttp(agent_app(SYSTEM, "gpt-4o-mini", history), args.host, args.port)
