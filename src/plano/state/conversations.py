"""Conversation state for `/v1/responses`: the items of each stored response, by response id.

What is stored for a response is the whole conversation up to and including it, as Responses
input items (JSON): the chain it continued, the new input, and the output converted to input
items. A follow-up request with `previous_response_id` loads that list and prepends it.

Writes are off the hot path: `save` returns at once and the backend writes in the background; a
`load` of an id whose write is still pending awaits that write first, so a follow-up request sent
right after a response (to the same process) always finds it. Across workers or replicas the
Postgres backend (`postgres_conversations`) is the shared one.

A load is bounded (`within`: the seconds left of the request's deadline, and the backend's
per-call cap, 2 s by default); past that it raises `StateStoreTimeout` (504, naming the store).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any, Final, Protocol

from plano.config import StateStorageConfig
from plano.errors import PlanoError
from plano.state.postgres_conversations import PostgresConversations

Items = list[dict[str, Any]]

DEFAULT_MAX_ENTRIES: Final = 10_000


class ConversationNotFound(PlanoError):
    """`previous_response_id` names a response this gateway has no state for (original: 409)."""

    status = 409
    code = "conversation_state_not_found"
    kind = "client"


class ConversationStoreUnavailable(PlanoError):
    """The store could not be read (database down); the request is not sent without its state."""

    status = 503
    code = "conversation_state_unavailable"


class ConversationStore(Protocol):
    async def load(self, response_id: str, *, within: float | None = None) -> Items | None:
        """The stored items of a response, or None when the id is unknown; `StateStoreTimeout`
        past `within` seconds (the request's time left) or the backend's own cap."""
        ...

    def save(self, response_id: str, items: Items, model: str, provider: str) -> None:
        """Store (or replace) a response's items; returns at once."""
        ...

    async def close(self) -> None: ...


class MemoryConversations:
    """In-process store: bounded (least recently used evicted first), optional time to live."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, ttl_s: float | None = None) -> None:
        self._max = max_entries
        self._ttl = ttl_s
        self._data: OrderedDict[str, tuple[float, Items]] = OrderedDict()

    async def load(self, response_id: str, *, within: float | None = None) -> Items | None:
        entry = self._data.get(response_id)
        if entry is None:
            return None
        if self._ttl is not None and time.monotonic() - entry[0] > self._ttl:
            del self._data[response_id]
            return None
        self._data.move_to_end(response_id)
        return entry[1]

    def save(self, response_id: str, items: Items, model: str, provider: str) -> None:
        self._data[response_id] = (time.monotonic(), items)
        self._data.move_to_end(response_id)
        while len(self._data) > self._max:
            self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    async def close(self) -> None:
        self._data.clear()


def build_conversations(cfg: StateStorageConfig | None) -> ConversationStore | None:
    """The store `state_storage` asks for; None when conversation state is off."""
    if cfg is None:
        return None
    if cfg.type == "postgres":
        return PostgresConversations(cfg.connection_string or "")
    return MemoryConversations()
