"""Session cache for routing affinity: session key -> binding (a small JSON object), with a TTL.

Two backends behind one protocol:

- `MemorySessionCache`: per process, LRU bounded by `max_entries`, per-entry expiry.
- `RedisSessionCache`: shared by every worker and replica; keys `plano:affinity:<key>`, JSON
  values, `SET EX ttl`. `redis.asyncio` is imported when the cache is first used. The client
  reconnects by itself after a Redis restart; while Redis is unreachable, lookups answer "no
  binding" and writes are dropped (routing still works, without stickiness), with a warning in the
  log at most every 30 s and the failures counted in `failures`. Every call, reconnects and the
  client's own retries included, is bounded by `timeout` (0.5 s): a Redis that accepts and never
  answers costs a request at most that.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from typing import Any, Final, Protocol

import orjson

log = logging.getLogger("plano.state")

KEY_PREFIX: Final = "plano:affinity:"
_WARN_EVERY_S: Final = 30.0
_REDIS_TIMEOUT_S: Final = 0.5


class SessionCache(Protocol):
    @property
    def backend(self) -> str: ...

    @property
    def failures(self) -> int:
        """Failed operations so far (a shared backend that is unreachable)."""
        ...

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any], ttl: int) -> None: ...

    async def close(self) -> None: ...


class MemorySessionCache:
    backend: Final = "memory"
    failures: Final = 0

    def __init__(self, max_entries: int, clock: Any = time.monotonic) -> None:
        self._max = max_entries
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    async def get(self, key: str) -> dict[str, Any] | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        self._items.move_to_end(key)
        return item[1]

    async def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        self._items[key] = (self._clock() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def close(self) -> None:
        self._items.clear()


def client_name() -> str:
    """The Redis CLIENT name of this process's session cache connections."""
    return f"plano-affinity-{os.getpid()}"


class RedisSessionCache:
    backend: Final = "redis"

    def __init__(self, url: str, timeout: float = _REDIS_TIMEOUT_S) -> None:
        self._url = url
        self._timeout = timeout
        self._client: Any = None
        self.failures = 0
        self._last_warning = 0.0

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio as aioredis

            self._client = aioredis.from_url(
                self._url,
                socket_timeout=self._timeout,
                socket_connect_timeout=self._timeout,
                health_check_interval=15,
                client_name=client_name(),
            )
        return self._client

    async def get(self, key: str) -> dict[str, Any] | None:
        try:
            async with asyncio.timeout(self._timeout):
                raw = await self._redis().get(KEY_PREFIX + key)
        except Exception as exc:  # redis errors, OSError, timeouts: fail open
            self._failed("get", exc)
            return None
        if raw is None:
            return None
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None

    async def put(self, key: str, value: dict[str, Any], ttl: int) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await self._redis().set(KEY_PREFIX + key, orjson.dumps(value), ex=ttl)
        except Exception as exc:
            self._failed("set", exc)

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def _failed(self, op: str, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "session cache: redis %s failed (%s); routing continues without stickiness"
                " (%d failures so far)",
                op,
                type(exc).__name__,
                self.failures,
            )
