from __future__ import annotations

import asyncio

from plano.state.session_cache import MemorySessionCache


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_ttl_and_lru_bound() -> None:
    async def run() -> None:
        clock = Clock()
        cache = MemorySessionCache(2, clock)
        await cache.put("a", {"v": 1}, ttl=10)
        await cache.put("b", {"v": 2}, ttl=10)
        assert await cache.get("a") == {"v": 1}  # a is now most recent
        await cache.put("c", {"v": 3}, ttl=10)
        assert await cache.get("b") is None and len(cache) == 2
        clock.now = 10.0
        assert await cache.get("a") is None and await cache.get("c") is None

    asyncio.run(run())
