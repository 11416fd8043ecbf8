"""Redis rate-limit store: one atomic Lua script per decision, exact across workers and replicas.

The script refills and takes from a hash ``{tokens, ts}`` using Redis's own clock (``TIME``), so
gateways with skewed clocks still agree, and sets a TTL so idle buckets disappear. `redis.asyncio`
is imported lazily; the client keeps a connection pool and reconnects by itself after Redis comes
back. Every failure (Redis down, slow, refusing) is raised as :class:`RateLimitBackendError` so the
limiter can apply ``on_backend_error``.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

from plano.state.ratelimit_memory import Decision

_SCRIPT: Final = """
local cost = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(s[1])
local ts = tonumber(s[2])
if tokens == nil or ts == nil then
  tokens = cap
  ts = now
end
local elapsed = now - ts
if elapsed < 0 then elapsed = 0 end
tokens = math.min(cap, tokens + elapsed * rate)
local allowed = 0
local wait = -1
if cost <= cap then
  if cost <= tokens then
    tokens = tokens - cost
    allowed = 1
    wait = 0
  else
    wait = (cost - tokens) / rate
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 1)
return {allowed, tostring(wait)}
"""


class RateLimitBackendError(Exception):
    """The shared store could not decide (unreachable, timed out, failed)."""


class RedisRateLimitStore:
    name = "redis"

    def __init__(self, url: str, *, prefix: str, timeout: float) -> None:
        self._url = url
        self._prefix = prefix
        self._timeout = timeout
        self._client: Any = None
        self._script: Any = None

    def _connect(self) -> Any:
        import redis.asyncio as aioredis  # lazy: only configs with a Redis backend need it
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._client = aioredis.Redis.from_url(
            self._url,
            socket_timeout=self._timeout,
            socket_connect_timeout=self._timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._script = self._client.register_script(_SCRIPT)
        return self._script

    async def take(self, key: str, cost: int, capacity: int, rate: float) -> Decision:
        script = self._script or self._connect()
        try:
            async with asyncio.timeout(self._timeout):
                allowed, wait = await script(keys=[self._prefix + key], args=[cost, capacity, rate])
        except Exception as exc:  # redis errors, OSError, timeouts: all mean "no decision"
            raise RateLimitBackendError(type(exc).__name__) from exc
        seconds = float(wait)
        return Decision(bool(int(allowed)), math.inf if seconds < 0 else seconds)

    async def close(self) -> None:
        client, self._client, self._script = self._client, None, None
        if client is not None:
            await client.aclose()
