"""Flight agent: answers the flight part of a travel question (schedule text comes from the LLM)."""

from __future__ import annotations

from typing import Any

from agent_base import agent_app
from service import parse_args, run_aiohttp

SYSTEM = (
    "You are FlightAgent. Answer ONLY the flight part of the user's question; "
    "infer origin and destination from earlier turns when the user does not repeat them."
)


def history(messages: list[Any]) -> list[Any]:
    return [m for m in messages if m.get("role") in ("user", "assistant")]


if __name__ == "__main__":
    args = parse_args(10520)
    run_aiohttp(agent_app(SYSTEM, "gpt-4o-mini", history), args.host, args.port)
