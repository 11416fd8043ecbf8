"""The attempt loop of the model proxy: retries, endpoint choice, circuit breaking and failover.

`Attempts.open(up, record)` is an async context manager yielding the upstream response to relay
(and the `Upstream` that produced it). Before it yields nothing has reached the client, so any
failure may still be retried (same model, with backoff and Retry-After, within the request's
deadline) or handed to the next fallback model. Once it yields, the response is committed: a
stream that breaks later ends with the dialect's error event (the listener's job), never a retry.

Non-streamed responses (and every error response) are read whole inside the attempt, so a body
that is cut, malformed or too slow is retried as well. The policy objects are built once per
provider at load (`build_policies`); a provider without any resilience key has no policy and its
requests take the listener's direct path, untouched.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Protocol

import aiohttp

from plano.config.resilience import DEFAULT_FALLBACK_ON
from plano.errors import (
    Overloaded,
    PlanoError,
)
from plano.observability.record import RequestRecord
from plano.providers.catalogue import Api
from plano.upstream.balancer import Balancer
from plano.upstream.breaker import Breaker
from plano.upstream.client import UpstreamClient
from plano.upstream.clusters import Cluster, Resolved
from plano.upstream.outcome import (
    Committed,
    Failed,
    Held,
    Response,
    check_whole,
    fails_over,
)
from plano.upstream.outlier import OutlierState
from plano.upstream.retry import NO_RETRIES, Outcome, RetryPolicy, retry_after_seconds
from plano.upstream.stream_guard import StreamGuard

Sleep = Callable[[float], Awaitable[None]]

PREFIX_HASH_HEADER: Final = b"x-plano-prefix-hash"  # ring_hash key, as the original's
_FRESH: Final = 0.05  # an attempt this close to the request's start uses the shared timeouts
_MAYBE: Final = frozenset({400, 413, 429})  # statuses that may send the request to a fallback


@dataclass(frozen=True, slots=True)
class Upstream:
    """Everything decided about one request before it leaves (one per attempt target)."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes
    resolved: Resolved
    request_id: bytes
    route_headers: tuple[tuple[bytes, bytes], ...] = ()
    translation: Any = None  # a `translated.Translation` when client and upstream APIs differ;
    # `body` is then already encoded for the upstream API (the translated exchange decodes the
    # answer), so the loop sends every target's body alike.
    # What a retry on another endpoint or model needs to rebuild the request:
    scope: Any = None
    doc: dict[str, Any] | None = None
    api: Api = Api.OPENAI_CHAT


class Rebuild(Protocol):
    def __call__(self, up: Upstream, resolved: Resolved, record: RequestRecord) -> Upstream: ...


class ResilienceEvents(Protocol):
    """What the attempt loop reports (the Prometheus sink implements it)."""

    def retry(self, provider: str, model: str) -> None: ...
    def ejection(self, provider: str, model: str) -> None: ...
    def failover(self, provider: str, model: str) -> None: ...
    def breaker_rejected(self, provider: str, model: str) -> None: ...


@dataclass(slots=True)
class ClusterPolicy:
    """Resilience for one provider, built once."""

    retry: RetryPolicy
    endpoints: tuple[Cluster, ...]  # the provider's endpoint variants; index 0 is the cluster
    balancer: Balancer | None
    outlier: OutlierState | None
    breaker: Breaker | None
    connect: float | None
    first_byte: float | None
    total: float | None
    guard: StreamGuard | None
    fallbacks: tuple[Resolved, ...] = ()
    fallback_on: frozenset[str] = frozenset()
    # The first attempt needs none of the loop's machinery: the listener makes it directly.
    inline_first: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.inline_first = (
            self.balancer is None
            and self.breaker is None
            and self.first_byte is None
            and self.total is None
        )


class Attempts:
    def __init__(
        self,
        policies: Mapping[str, ClusterPolicy],
        alias_fallbacks: Mapping[str, tuple[Resolved, ...]],
        client: UpstreamClient,
        *,
        deadline: float,
        rebuild: Rebuild,
        events: ResilienceEvents | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._policies = dict(policies)
        self._alias_fallbacks = dict(alias_fallbacks)
        self._client = client
        self._deadline = deadline
        self._rebuild = rebuild
        self._events = events
        self._sleep = sleep
        self._rand = rand
        self._fresh: dict[float | None, aiohttp.ClientTimeout] = {}
        self._fresh_after = deadline - _FRESH
        for policy in (*self._policies.values(), _EMPTY):
            self._limits(policy, deadline)  # the first attempt's timeouts, made once

    def policy_for(self, up: Upstream, requested: str | None) -> ClusterPolicy | None:
        """The policy a request needs, or None for the direct path (nothing configured)."""
        policy = self._policies.get(up.resolved.cluster.name)
        if policy is None and self._alias_fallbacks and requested in self._alias_fallbacks:
            return _EMPTY
        return policy

    def open(self, up: Upstream, record: RequestRecord, requested: str | None) -> Opened:
        """`async with attempts.open(...) as (resp, up, guard)`: the committed answer."""
        return Opened(self, up, record, requested)

    # -- the first attempt, made by the listener like a direct call ------------------------------
    #
    # For a policy with `inline_first`, the listener sends the first attempt itself, exactly as
    # it would without resilience (same client call, timeouts from `first_limits`), and asks
    # `judge_first` about the answer before relaying anything. When the answer will do, which
    # is nearly always, that check is all the resilience the request costs. Otherwise the
    # exchange is released and `resume` runs the loop from there, with the failure as its
    # first attempt.

    def first_limits(self, policy: ClusterPolicy) -> aiohttp.ClientTimeout:
        return self._fresh[policy.connect]

    def judge_first(
        self,
        resp: Response,
        up: Upstream,
        policy: ClusterPolicy,
        requested: str | None,
        body: bytes | None,
    ) -> Failed | None:
        """None when the first answer is to be relayed; else what the loop starts from.
        `body` is the whole body, read by the caller, unless the answer is a success stream."""
        status = resp.status
        if status < 300:
            if body is not None:
                check_whole(status, body, up)
            if policy.outlier is not None:
                policy.outlier.success(0)
            return None
        last = not self.fallbacks(policy, requested)
        got = self._judge(resp, up, Held(), policy, 0, last=last)
        return got if isinstance(got, Failed) else None

    def failed_first(self, err: PlanoError, policy: ClusterPolicy, up: Upstream) -> Failed:
        """The first attempt raised before anything was relayed."""
        self._note(policy, 0, up, ok=False)
        return Failed.of(err)

    def resume(
        self, up: Upstream, record: RequestRecord, requested: str | None, failed: Failed, sent: int
    ) -> Opened:
        """The attempt loop after a first attempt that failed (sent at `sent`, a
        `time.perf_counter_ns()` value: the request's deadline counts from then)."""
        loop = asyncio.get_running_loop()
        started = loop.time() - (time.perf_counter_ns() - sent) / 1e9
        return Opened(self, up, record, requested, failed, started)

    def fallbacks(self, policy: ClusterPolicy, requested: str | None) -> tuple[Resolved, ...]:
        """The models tried after the requested one: the alias's list, else the model's."""
        return self._alias_fallbacks.get(requested or "") or policy.fallbacks

    async def run(
        self,
        up: Upstream,
        record: RequestRecord,
        requested: str | None,
        pending: Committed | Failed | None = None,
        started: float | None = None,
    ) -> tuple[Response, Upstream, Held, StreamGuard | None]:
        """The attempt loop; `pending` is the outcome of a first attempt already made on the
        requested model's endpoint 0 (at loop time `started`)."""
        loop = asyncio.get_running_loop()
        deadline = (loop.time() if started is None else started) + self._deadline
        first = self._policies.get(up.resolved.cluster.name, _EMPTY)
        fallbacks = self.fallbacks(first, requested)
        if pending is None and first.balancer is None:  # without the per-model frame
            pending = await self._attempt(up, record, first, 0, deadline, loop, last=not fallbacks)
        if type(pending) is tuple:
            return pending[0], pending[1], pending[2], first.guard
        candidates = [up.resolved, *fallbacks]
        last: PlanoError | None = None
        for c, resolved in enumerate(candidates):
            policy = self._policies.get(resolved.cluster.name, _EMPTY)
            more = c + 1 < len(candidates)
            if c:
                pending = None
                try:
                    up = self._rebuild(up, resolved, record)
                except PlanoError as err:
                    last = err
                    continue
                if self._events is not None:
                    self._events.failover(resolved.cluster.provider, resolved.model_id)
            got = await self._on_candidate(up, record, policy, deadline, more, loop, pending)
            if isinstance(got, PlanoError):
                last = got
                continue
            return got[0], got[1], got[2], policy.guard
        raise last or Overloaded("no upstream could take the request")

    async def _on_candidate(
        self,
        up: Upstream,
        record: RequestRecord,
        policy: ClusterPolicy,
        deadline: float,
        more: bool,
        loop: asyncio.AbstractEventLoop,
        pending: Committed | Failed | None = None,
    ) -> Committed | PlanoError:
        """Try one model (with its retries); a committed response, or why it failed.
        `pending` is the outcome of a first attempt already made (on endpoint 0)."""
        retry = policy.retry
        tried = 0
        n = 0
        while True:
            if isinstance(pending, Failed):
                got: Committed | Failed = pending
                pending = None
                tried = 1
            else:
                target, i = (
                    (up, 0)
                    if policy.balancer is None
                    else self._endpoint(up, policy, tried, record)
                )
                tried |= 1 << i
                got = await self._attempt(target, record, policy, i, deadline, loop, last=not more)
            if isinstance(got, tuple):
                return got
            final = not retry.retriable(got.outcome, got.status) or n == retry.num_retries
            n += 1
            wait = 0.0
            if not final:
                hint = got.retry_after
                wait = max(retry.backoff(n, self._rand), hint or 0.0)
                if hint is not None and hint > retry.max_retry_after:
                    final = more  # with a fallback, it serves now rather than later
                    wait = retry.max_retry_after
                final = final or loop.time() + wait >= deadline
            if final:
                if not more or not fails_over(
                    policy.fallback_on, got.outcome, got.status, got.body
                ):
                    return got.response_or_error()
                await got.discard()
                return got.error
            await got.discard()
            if self._events is not None:
                self._events.retry(up.resolved.cluster.provider, up.resolved.model_id)
            if wait > 0:
                await self._sleep(wait)

    def _endpoint(
        self, up: Upstream, policy: ClusterPolicy, tried: int, record: RequestRecord
    ) -> tuple[Upstream, int]:
        if policy.balancer is None:
            return up, 0
        key = None
        if policy.balancer.wants_key:
            key = next((v for k, v in up.scope["headers"] if k == PREFIX_HASH_HEADER), None)
        i = policy.balancer.pick(tried, key)
        chosen = policy.endpoints[i]
        if chosen is up.resolved.cluster:
            return up, i
        return self._rebuild(up, replace(up.resolved, cluster=chosen), record), i

    async def _attempt(
        self,
        up: Upstream,
        record: RequestRecord,
        policy: ClusterPolicy,
        i: int,
        deadline: float,
        loop: asyncio.AbstractEventLoop,
        *,
        last: bool,
    ) -> Committed | Failed:
        breaker = policy.breaker
        if breaker is not None:
            try:
                await breaker.enter()
            except Overloaded:
                if self._events is not None:
                    provider, model = up.resolved.cluster.provider, up.resolved.model_id
                    self._events.breaker_rejected(provider, model)
                return Failed(
                    Overloaded(f"provider '{up.resolved.cluster.name}' is at its max_requests"),
                    Outcome.CONNECT,
                )
        stack = Held()
        if breaker is not None:
            stack.callback(breaker.leave)
        if policy.balancer is not None:
            active = policy.balancer.active
            active[i] += 1
            stack.callback(_decrement, active, i)
        record.attempts += 1
        remaining = max(0.001, deadline - loop.time())
        limits = self._fresh.get(policy.connect) if remaining > self._fresh_after else None
        if limits is None or policy.total is not None:
            limits = self._limits(policy, remaining)
        try:
            if policy.first_byte is None:  # the attempt's total deadline bounds it all
                resp = await self._exchange(stack, up, limits)
            else:
                async with asyncio.timeout(min(policy.first_byte, remaining)):
                    resp = await self._exchange(stack, up, limits)
        except (PlanoError, TimeoutError, aiohttp.ClientError, ConnectionError) as exc:
            return await self._failed(stack, exc, policy, i, up)
        return self._judge(resp, up, stack, policy, i, last=last)

    async def _failed(
        self, stack: Held, exc: BaseException, policy: ClusterPolicy, i: int, up: Upstream
    ) -> Failed:
        """An attempt that raised: release what it held, note it, say why."""
        await stack.aclose()
        failed = Failed.of(exc)
        self._note(policy, i, up, ok=False)
        return failed

    def _judge(
        self,
        resp: Response,
        up: Upstream,
        stack: Held,
        policy: ClusterPolicy,
        i: int,
        *,
        last: bool,
    ) -> Committed | Failed:
        """An answer (head read, a body that is not a success stream read whole): to relay,
        or a failure that a retry or the next model may do better than."""
        status = resp.status
        if status >= 500 or status in policy.retry.statuses or (status in _MAYBE and not last):
            self._note(policy, i, up, ok=status < 500)
            hint = retry_after_seconds(resp.headers.get("retry-after"))
            return Failed(
                None,
                Outcome.STATUS,
                status,
                stack=stack,
                resp=resp,
                up=up,
                body=resp._body or b"",
                retry_after=hint,
            )
        if policy.outlier is not None:
            self._note(policy, i, up, ok=True)
        return resp, up, stack

    def _limits(self, policy: ClusterPolicy, remaining: float) -> aiohttp.ClientTimeout:
        """The attempt's client timeouts; the common first-attempt one is made once."""
        if policy.total is None and remaining > self._deadline - _FRESH:
            found = self._fresh.get(policy.connect)
            if found is None:
                found = self._fresh[policy.connect] = aiohttp.ClientTimeout(
                    total=self._deadline, sock_connect=policy.connect
                )
            return found
        total = min(policy.total, remaining) if policy.total else remaining
        return aiohttp.ClientTimeout(total=total, sock_connect=policy.connect)

    async def _exchange(self, stack: Held, up: Upstream, limits: aiohttp.ClientTimeout) -> Response:
        """Send, wait for the head; read a body that is not a success event stream whole
        (both clients' responses keep it: the listener's `read()` gets it again)."""
        cm = self._client.post(up.url, up.headers, up.body, limits)
        resp = await cm.__aenter__()
        stack._cm = cm  # entered: the holder exits it
        status = resp.status
        if status < 300 and resp.content_type == "text/event-stream":
            return resp
        check_whole(status, await resp.read(), up)
        return resp

    def _note(self, policy: ClusterPolicy, i: int, up: Upstream, *, ok: bool) -> None:
        outlier = policy.outlier
        if outlier is None:
            return
        if ok:
            outlier.success(i)
        elif outlier.failure(i) and self._events is not None:
            self._events.ejection(up.resolved.cluster.provider, up.resolved.model_id)


def _decrement(active: list[int], i: int) -> None:
    active[i] -= 1


class Opened:
    """`Attempts.open`: runs the attempt loop on enter, releases the answer on exit."""

    __slots__ = ("_attempts", "_held", "_pending", "_record", "_requested", "_started", "_up")

    def __init__(
        self,
        attempts: Attempts,
        up: Upstream,
        record: RequestRecord,
        requested: str | None,
        pending: Failed | None = None,
        started: float | None = None,
    ) -> None:
        self._attempts = attempts
        self._up = up
        self._record = record
        self._requested = requested
        self._pending = pending
        self._started = started
        self._held: Held | None = None

    async def __aenter__(self) -> tuple[Response, Upstream, StreamGuard | None]:
        resp, up, held, guard = await self._attempts.run(
            self._up, self._record, self._requested, self._pending, self._started
        )
        self._held = held
        return resp, up, guard

    def __aexit__(self, et: Any, ev: Any, tb: Any) -> Coroutine[Any, Any, bool | None]:
        # The holder's own exit, awaited by `async with`: no frame of ours.
        held, self._held = self._held, None
        return held.__aexit__(et, ev, tb) if held is not None else _not_entered()


async def _not_entered() -> bool:
    return False


_EMPTY: Final = ClusterPolicy(
    NO_RETRIES, (), None, None, None, None, None, None, None, (), frozenset(DEFAULT_FALLBACK_ON)
)
