"""The Redis store against the real Redis on 127.0.0.1:6379 (unique key prefix per test)."""

from __future__ import annotations

import asyncio
import socket
import uuid

import pytest
import redis

from plano.state.ratelimit_redis import RateLimitBackendError, RedisRateLimitStore

URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def prefix() -> object:
    p = f"plano-unit:{uuid.uuid4().hex}:"
    yield p
    with redis.Redis(host="127.0.0.1", port=6379) as r:
        for key in r.scan_iter(match=f"{p}*"):
            r.delete(key)


def test_atomic_bucket_under_concurrency(prefix: str) -> None:
    async def main() -> list[bool]:
        store = RedisRateLimitStore(URL, prefix=prefix, timeout=2.0)
        try:
            got = await asyncio.gather(*(store.take("k", 1, 10, 0.001) for _ in range(25)))
            return [d.allowed for d in got]
        finally:
            await store.close()

    assert sum(asyncio.run(main())) == 10


def test_decision_carries_the_wait(prefix: str) -> None:
    async def main() -> tuple[float, float]:
        store = RedisRateLimitStore(URL, prefix=prefix, timeout=2.0)
        try:
            await store.take("k", 4, 4, 1.0)
            d = await store.take("k", 2, 4, 1.0)
            big = await store.take("k", 9, 4, 1.0)
            assert not d.allowed
            return d.retry_after, big.retry_after
        finally:
            await store.close()

    wait, never = asyncio.run(main())
    assert 1.5 < wait <= 2.0
    assert never == float("inf")


def test_unreachable_redis_is_a_backend_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main() -> None:
        store = RedisRateLimitStore(f"redis://127.0.0.1:{port}/0", prefix="x:", timeout=0.5)
        try:
            await store.take("k", 1, 1, 1.0)
        finally:
            await store.close()

    with pytest.raises(RateLimitBackendError):
        asyncio.run(main())
