"""State-store calls are bounded: a frozen PostgreSQL or Redis costs a request at most the
time left of its deadline or the store's per-call cap, never a hang.

The frozen servers are `freezable_proxy`s: a black hole that accepts and never answers, and a
proxy to the real PostgreSQL frozen after the startup. Every wait here is bounded by an outer
`asyncio.wait_for` far above the caps, so a store that hangs fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from plano.state.conversations import MemoryConversations
from plano.state.deadline import MIN_BUDGET_S, StateStoreTimeout, budget
from plano.state.postgres_conversations import PostgresConversations
from plano.state.session_cache import RedisSessionCache
from tests.unit.state.freezable import FreezableProxy, freezable_proxy

PG = "postgresql://postgres@127.0.0.1:{port}/test"
BOUND_S = 20.0  # far above every cap below: reaching it means the store hung
ITEMS = [{"type": "message", "role": "user", "content": "hi"}]


def test_budget_is_the_cap_or_the_time_left() -> None:
    assert budget(2.0, None) == 2.0
    assert budget(2.0, 0.5) == 0.5
    assert budget(2.0, 5.0) == 2.0
    assert budget(2.0, -3.0) == MIN_BUDGET_S  # deadline spent: one short try, then 504


def test_memory_store_takes_the_time_left() -> None:
    async def run() -> None:
        store = MemoryConversations()
        store.save("resp_a", ITEMS, "m", "p")
        assert await store.load("resp_a", within=0.5) == ITEMS

    asyncio.run(run())


def test_postgres_that_never_answers_is_a_504_within_the_cap() -> None:
    async def run(port: int) -> None:
        store = PostgresConversations(PG.format(port=port), call_timeout=0.3)
        for within in (None, 0.05):
            with pytest.raises(StateStoreTimeout) as info:
                await asyncio.wait_for(store.load("resp_x", within=within), BOUND_S)
            assert info.value.status == 504
            assert "conversation state store (postgres)" in str(info.value)
        store.save("resp_y", ITEMS, "m", "p")
        await asyncio.wait_for(store.flush(), BOUND_S)
        assert store.write_failures == 1
        await asyncio.wait_for(store.close(), BOUND_S)

    with freezable_proxy(None) as hole:
        asyncio.run(run(hole.port))
        assert hole.accepted >= 1  # the store did reach the frozen server


@pytest.fixture
def schema() -> Iterator[str]:
    name = f"plano_deadline_{os.getpid()}_{os.urandom(4).hex()}"
    yield name

    async def drop() -> None:
        import asyncpg

        conn = await asyncpg.connect(PG.format(port=5432))
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_postgres_frozen_after_startup_then_thawed(schema: str) -> None:
    """Reads time out (504) and writes are counted while frozen; the store recovers after."""

    async def run(proxy: FreezableProxy, port: int) -> None:
        store = PostgresConversations(PG.format(port=port), schema=schema, call_timeout=0.5)
        store.save("resp_a", ITEMS, "m", "p")
        assert await asyncio.wait_for(store.load("resp_a"), BOUND_S) == ITEMS
        proxy.freeze()
        with pytest.raises(StateStoreTimeout):
            await asyncio.wait_for(store.load("resp_a"), BOUND_S)
        store.save("resp_b", ITEMS, "m", "p")
        with pytest.raises(StateStoreTimeout):  # waits for its own pending write, bounded
            await asyncio.wait_for(store.load("resp_b", within=0.2), BOUND_S)
        await asyncio.wait_for(store.flush(), BOUND_S)
        assert store.write_failures == 1
        proxy.thaw()
        await asyncio.wait_for(until_loads(store, "resp_a"), BOUND_S)
        assert store.write_failures == 1
        await asyncio.wait_for(store.close(), BOUND_S)

    with freezable_proxy(5432) as proxy:
        asyncio.run(run(proxy, proxy.port))


def test_redis_that_never_answers_fails_open_within_the_cap() -> None:
    async def run(port: int) -> None:
        cache = RedisSessionCache(f"redis://127.0.0.1:{port}/0", timeout=0.2)
        assert await asyncio.wait_for(cache.get("k"), BOUND_S) is None
        await asyncio.wait_for(cache.put("k", {"model": "m"}, 60), BOUND_S)
        assert cache.failures == 2
        await asyncio.wait_for(cache.close(), BOUND_S)

    with freezable_proxy(None) as hole:
        asyncio.run(run(hole.port))


async def until_loads(store: PostgresConversations, rid: str) -> None:
    """Load until the thawed store answers again (the caller bounds the wait)."""
    while True:
        try:
            if await store.load(rid) == ITEMS:
                return
        except StateStoreTimeout:
            pass
        await asyncio.sleep(0.05)
