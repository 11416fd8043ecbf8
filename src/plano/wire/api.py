"""The wire API families the gateway speaks, client side and upstream side.

Lives in L0 so that translators (L1) can be keyed by it; `plano.providers.catalogue` re-exports it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import orjson

from plano.errors import MalformedJson


class Api(StrEnum):
    """Wire API families (client side and upstream side)."""

    OPENAI_CHAT = "openai_chat"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    OPENAI_RESPONSES = "openai_responses"
    GEMINI = "gemini"
    BEDROCK_CONVERSE = "bedrock_converse"


def request_object(body: bytes) -> dict[str, Any]:
    """A client request body as a JSON object; MalformedJson (400) when it is not one."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None
    if type(doc) is not dict:
        raise MalformedJson("request body must be a JSON object")
    return doc
