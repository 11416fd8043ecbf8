"""The wire API families the gateway speaks, client side and upstream side.

Lives in L0 so that translators (L1) can be keyed by it; `plano.providers.catalogue` re-exports it.
"""

from __future__ import annotations

from enum import StrEnum


class Api(StrEnum):
    """Wire API families (client side and upstream side)."""

    OPENAI_CHAT = "openai_chat"
    ANTHROPIC_MESSAGES = "anthropic_messages"
    OPENAI_RESPONSES = "openai_responses"
    GEMINI = "gemini"
    BEDROCK_CONVERSE = "bedrock_converse"
