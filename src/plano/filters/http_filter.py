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

from plano.config.sections import FilterConfig
from plano.errors import PlanoError, UpstreamConnectFailed
from plano.filters.types import FilterContext, FilterFailed, FilterRejected, Headers
from plano.observability import names as n
from plano.upstream.retry import Outcome, RetryPolicy
from plano.upstream.transport import Limits, Transport, exchange

log = logging.getLogger("plano.filters")

_FIXED: Final = (
    ("content-type", "application/json"),
    ("accept", "application/json"),
    ("x-envoy-max-retries", "3"),
)


class HttpFilter:
    __slots__ = ("_base", "_fixed", "_limits", "_retry", "_transport", "id", "span_name")

    def __init__(self, config: FilterConfig, transport: Transport, *, timeout: float) -> None:
        self.id = config.id
        self.span_name = n.SPAN_HTTP_FILTER.format(config.id)
        self._base = str(config.url).rstrip("/")
        self._transport = transport
        self._limits = Limits(total=timeout)
        self._fixed = (*_FIXED, ("x-arch-upstream", config.id))
        self._retry = RetryPolicy.of(config.retry_policy, 0) if config.retry_policy else None

    async def apply(self, body: bytes, path: str, headers: Headers, ctx: FilterContext) -> bytes:
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
        url = self._base + path
        try:
            async with exchange(self._transport, b"POST", url, sent, body, self._limits) as resp:
                data = await resp.read()
                status = resp.status
        except PlanoError as err:
            raise FilterFailed(self.id, err.message) from err
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
    if isinstance(cause, PlanoError) and cause.kind == "timeout":
        return Outcome.TIMEOUT, 0
    if isinstance(cause, UpstreamConnectFailed):
        return Outcome.CONNECT, 0
    return Outcome.RESET, 0
