"""`type: http` filters: the raw body is POSTed to `{url}{path}`; a 2xx body is the new body.

4xx rejects the request with the filter's status and body; 5xx, a transport error or a timeout is a
fatal `FilterFailed`. With a `retry_policy` on the filter (ours; off by default, since a filter
may not be idempotent) the call is first retried as the policy says. Requests carry the client's
headers plus the original's internal headers (`x-arch-upstream: <filter id>`,
`x-envoy-max-retries: 3`) and JSON content type and accept.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Final

import aiohttp

from plano.config.sections import FilterConfig
from plano.errors import PlanoError
from plano.filters.chain import FilterFailed, FilterRejected, Headers
from plano.observability import names as n
from plano.upstream.client import UpstreamClient
from plano.upstream.retry import Outcome, RetryPolicy

log = logging.getLogger("plano.filters")

_FIXED: Final = (
    ("content-type", "application/json"),
    ("accept", "application/json"),
    ("x-envoy-max-retries", "3"),
)


class HttpFilter:
    __slots__ = ("_base", "_client", "_fixed", "_retry", "_timeout", "id", "span_name")

    def __init__(self, config: FilterConfig, client: UpstreamClient, *, timeout: float) -> None:
        self.id = config.id
        self.span_name = n.SPAN_HTTP_FILTER.format(config.id)
        self._base = str(config.url).rstrip("/")
        self._client = client
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._fixed = (*_FIXED, ("x-arch-upstream", config.id))
        self._retry = RetryPolicy.of(config.retry_policy, 0) if config.retry_policy else None

    async def apply(self, body: bytes, path: str, headers: Headers) -> bytes:
        policy = self._retry
        if policy is None:  # the default: one call, never retried (it may not be idempotent)
            return await self._call(body, path, headers)
        retry = 0
        while True:
            try:
                return await self._call(body, path, headers)
            except (FilterFailed, FilterRejected) as err:
                retry += 1
                if retry > policy.num_retries or not policy.retriable(*_outcome(err)):
                    raise
                log.info("filter %s failed (%s); retry %d", self.id, err, retry)
                await asyncio.sleep(policy.backoff(retry))

    async def _call(self, body: bytes, path: str, headers: Headers) -> bytes:
        sent = [*headers, *self._fixed]
        try:
            async with self._client.post(self._base + path, sent, body, self._timeout) as resp:
                data: bytes = await resp.read()
                status = resp.status
        except PlanoError as err:
            raise FilterFailed(self.id, err.message) from err
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as err:
            raise FilterFailed(self.id, f"reading the answer failed: {type(err).__name__}") from err
        if 200 <= status < 300:
            return data
        if 400 <= status < 500:
            raise FilterRejected(self.id, status, data)
        raise FilterFailed(self.id, f"answered with status {status}", answered=status)

    async def close(self) -> None:
        return None


def _outcome(err: FilterFailed | FilterRejected) -> tuple[Outcome, int]:
    """How a failed call failed, for the retry policy."""
    if isinstance(err, FilterRejected):
        return Outcome.STATUS, err.status
    if err.answered:
        return Outcome.STATUS, err.answered
    cause = err.__cause__
    kind = cause.kind if isinstance(cause, PlanoError) else ""
    if kind == "timeout" or isinstance(cause, TimeoutError):
        return Outcome.TIMEOUT, 0
    if kind == "connect" and "could not connect" in str(cause):
        return Outcome.CONNECT, 0
    return Outcome.RESET, 0
