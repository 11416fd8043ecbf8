"""Conversation stores: the bounded memory store and the PostgreSQL store on the real server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import pytest

from plano.config import StateStorageConfig
from plano.state.conversations import MemoryConversations, build_conversations
from plano.state.postgres_conversations import PostgresConversations

DSN = "postgresql://postgres@127.0.0.1:5432/test"
ITEMS: list[dict[str, Any]] = [
    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "héllo"}]},
    {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
]


def test_memory_store_is_bounded_lru() -> None:
    async def run() -> None:
        store = MemoryConversations(max_entries=2)
        store.save("resp_a", ITEMS, "m", "p")
        store.save("resp_b", ITEMS[:1], "m", "p")
        assert await store.load("resp_a") == ITEMS  # a is now the most recently used
        store.save("resp_c", [], "m", "p")
        assert await store.load("resp_b") is None
        assert await store.load("resp_a") == ITEMS and await store.load("resp_c") == []
        assert len(store) == 2

    asyncio.run(run())


def test_build_from_config() -> None:
    assert build_conversations(None) is None
    assert isinstance(build_conversations(StateStorageConfig(type="memory")), MemoryConversations)
    pg = build_conversations(StateStorageConfig(type="postgres", connection_string=DSN))
    assert isinstance(pg, PostgresConversations)


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"plano_test_{os.getpid()}_{os.urandom(4).hex()}"
    yield name

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_postgres_store_creates_its_schema_and_upserts(schema: str) -> None:
    async def run() -> None:
        store = PostgresConversations(DSN, schema=schema)
        try:
            assert await store.load("resp_missing") is None
            store.save("resp_1", ITEMS, "openai/gpt-4o", "openai")
            # a load right after the save awaits the pending write: no sleep, no race
            assert await store.load("resp_1") == ITEMS
            store.save("resp_1", ITEMS[:1], "openai/gpt-4o", "openai")
            assert await store.load("resp_1") == ITEMS[:1]
        finally:
            await store.close()
        again = PostgresConversations(DSN, schema=schema)  # a new process sees the same rows
        try:
            assert await again.load("resp_1") == ITEMS[:1]
        finally:
            await again.close()

    asyncio.run(run())


def test_postgres_store_rejects_unsafe_identifiers() -> None:
    with pytest.raises(ValueError):
        PostgresConversations(DSN, schema='x"; DROP TABLE y; --')
