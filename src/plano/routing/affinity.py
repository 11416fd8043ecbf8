"""Session keys for model affinity: explicit (`X-Model-Affinity`) or implied by the prompt prefix.

Hashes are FNV-1a 64 over a salt and fields, each field followed by a 0x1f separator, as the
original computes them, so keys agree across gateway replicas and versions:

- prefix hash = H(tenant, system+developer texts joined by "\\n", tool names joined by ",");
  sent upstream as `x-plano-prefix-hash` (16 hex digits) for KV-cache-aware load balancing;
- implicit session key = H(tenant, system, tools, first user message) -> `implicit:<16 hex>`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Final

from plano.routing.conversation import Conversation

_OFFSET: Final = 0xCBF29CE484222325
_PRIME: Final = 0x100000001B3
_MASK: Final = 0xFFFFFFFFFFFFFFFF
_SALT: Final = b"plano-affinity-v1"
_SEP: Final = 0x1F


@lru_cache(maxsize=256)  # a conversation's prefix repeats every turn; ~0.4 ms per KB in Python
def fnv1a(fields: tuple[str, ...]) -> int:
    h = _OFFSET
    for chunk in (_SALT, *(f.encode() for f in fields)):
        for byte in chunk:
            h = ((h ^ byte) * _PRIME) & _MASK
        h = ((h ^ _SEP) * _PRIME) & _MASK
    return h


def prefix_hash(conversation: Conversation, tenant: str = "") -> str:
    return f"{fnv1a((tenant, conversation.system, conversation.tools)):016x}"


def implicit_session(conversation: Conversation, tenant: str = "") -> str | None:
    """`implicit:<16 hex>`, or None when there is no user message to key on."""
    first = conversation.first_user
    if first is None:
        return None
    h = fnv1a((tenant, conversation.system, conversation.tools, first))
    return f"implicit:{h:016x}"
