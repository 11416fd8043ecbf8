"""The exchange engine: one upstream request in, the answer to relay out (or why there is none).

`Exchange.commit(up, record, requested)` returns a `Committed` answer or the `PlanoError` the
request ends in, as a value. Until it returns, nothing has reached the client, so any failure may
still be retried (same model, with backoff and Retry-After, within the request's deadline) or
handed to the next fallback model; once it returns, the answer is committed: a stream that breaks
later is never sent again from the start; the relay continues it on a fallback (`resume`, with
the request of `upstream.continuation`) or ends it with the dialect's error event.

Three paths, chosen per request by the provider's policy (built once, `upstream.policies`):

- **direct** (nothing configured for the provider): one send, the answer as it comes;
- **inline first** (retries or fallbacks, but no balancer, breaker or extra timeouts): the first
  attempt is sent exactly like a direct call and only judged (`_judge_first`); nearly always
  that check is all the resilience a request costs. A failed first attempt starts the loop, and
  so does a provider whose circuit is not closed;
- **the loop** (`_run`): provider circuits (`upstream.health`: an open provider is skipped while
  a fallback is left), endpoint choice, breakers, first-byte and first-token limits
  (`upstream.first_token`; a stall goes to the next fallback rather than a retry), retries,
  fallbacks.

Non-streamed answers (and every error answer) are read whole before they are judged, so a body
that is cut, malformed or too slow is retried too. Transport failures arrive already mapped onto
`plano.errors` by the transport (`upstream.transport`).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Final

from plano.errors import Overloaded, PlanoError, UpstreamTimeout, UpstreamUnavailable
from plano.observability.record import RequestRecord
from plano.upstream.clusters import Resolved
from plano.upstream.first_token import prime
from plano.upstream.outcome import Failed, check_whole, fails_over
from plano.upstream.policies import NO_POLICY, ClusterPolicy, ResilienceEvents
from plano.upstream.request import Committed, Held, Rebuild, Upstream
from plano.upstream.retry import Outcome, retry_after_seconds
from plano.upstream.transport import Limits, Transport, UpstreamResponse

Sleep = Callable[[float], Awaitable[None]]

PREFIX_HASH_HEADER: Final = b"x-plano-prefix-hash"  # ring_hash key, as the original's
_POST: Final = b"POST"
_FRESH: Final = 0.05  # an attempt this close to the request's start uses the shared timeouts
_MAYBE: Final = frozenset({400, 413, 429})  # statuses that may send the request to a fallback
_SSE: Final = "text/event-stream"


class Exchange:
    def __init__(
        self,
        transport: Transport,
        policies: Mapping[str, ClusterPolicy],
        alias_fallbacks: Mapping[str, tuple[Resolved, ...]],
        *,
        deadline: float,
        connect_timeout: float | None,
        rebuild: Rebuild,
        events: ResilienceEvents | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self._transport = transport
        self._policies = dict(policies)
        self._alias_fallbacks = dict(alias_fallbacks)
        self._configured = bool(self._policies or self._alias_fallbacks)
        self._deadline = deadline
        self._rebuild = rebuild
        self._events = events
        self._sleep = sleep
        self._rand = rand
        self._direct = Limits(total=deadline, connect=connect_timeout)
        # The first attempt's limits, made once per connect timeout in use.
        self._fresh: dict[float | None, Limits] = {
            p.connect: Limits(total=deadline, connect=p.connect)
            for p in (*self._policies.values(), NO_POLICY)
        }
        self._fresh_after = deadline - _FRESH

    def _policy_for(self, up: Upstream, requested: str | None) -> ClusterPolicy | None:
        """The policy a request needs, or None for the direct path (nothing configured)."""
        if not self._configured:
            return None
        policy = self._policies.get(up.resolved.cluster.name)
        if policy is None and self._alias_fallbacks and requested in self._alias_fallbacks:
            return NO_POLICY
        return policy

    async def commit(
        self, up: Upstream, record: RequestRecord, requested: str | None
    ) -> Committed | PlanoError:
        """The answer to relay, or the error the request ends in."""
        record.upstream_sent = time.perf_counter_ns()
        policy = self._policy_for(up, requested)
        if policy is None:
            record.attempts += 1
            try:
                resp = await self._transport.send(_POST, up.url, up.headers, up.body, self._direct)
            except PlanoError as err:
                return err
            return Committed(resp, up)
        if policy.inline_first:
            return await self._inline_first(up, record, requested, policy)
        return await self._run(up, record, requested)

    def _fallbacks(self, policy: ClusterPolicy, requested: str | None) -> tuple[Resolved, ...]:
        """The models tried after the requested one: the alias's list, else the model's."""
        return self._alias_fallbacks.get(requested or "") or policy.fallbacks

    # -- the first attempt, sent like a direct call ------------------------------------------------

    async def _inline_first(
        self, up: Upstream, record: RequestRecord, requested: str | None, policy: ClusterPolicy
    ) -> Committed | PlanoError:
        if policy.health is not None and policy.health.state:  # open or half-open: the loop
            return await self._run(up, record, requested)
        record.attempts += 1
        resp: UpstreamResponse | None = None
        try:
            resp = await self._transport.send(
                _POST, up.url, up.headers, up.body, self._fresh[policy.connect]
            )
            failed = await self._judge_first(resp, up, policy, requested)
        except PlanoError as err:
            if resp is not None:
                resp.release()
            self._note(policy, 0, up, ok=False)
            if policy.health is not None:
                policy.health.failure()
            failed = Failed.of(err)
        if failed is None:
            assert resp is not None
            return Committed(resp, up, policy.guard)
        # The deadline counts from the first send.
        loop = asyncio.get_running_loop()
        started = loop.time() - (time.perf_counter_ns() - record.upstream_sent) / 1e9
        return await self._run(up, record, requested, failed, started)

    async def _judge_first(
        self, resp: UpstreamResponse, up: Upstream, policy: ClusterPolicy, requested: str | None
    ) -> Failed | None:
        """None when the first answer is to be relayed; else what the loop starts from."""
        status = resp.status
        if status < 300:
            if resp.content_type != _SSE:
                check_whole(status, await resp.read(), up)
            if policy.outlier is not None:
                policy.outlier.success(0)
            if policy.health is not None:
                policy.health.success()
            return None
        await resp.read()
        held = Held()
        held.resp = resp
        last = not self._fallbacks(policy, requested)
        got = self._judge(resp, up, held, policy, 0, last=last)
        if isinstance(got, Failed):
            return got
        held.resp = None  # relayed as it is: the caller's Committed releases the response
        return None

    # -- the loop ---------------------------------------------------------------------------------

    async def _run(
        self,
        up: Upstream,
        record: RequestRecord,
        requested: str | None,
        pending: Failed | None = None,
        started: float | None = None,
    ) -> Committed | PlanoError:
        """Each candidate model in turn (the requested one, then its fallbacks) with its
        retries; `pending` is a first attempt already made on endpoint 0 at loop time
        `started`."""
        loop = asyncio.get_running_loop()
        deadline = (loop.time() if started is None else started) + self._deadline
        first = self._policies.get(up.resolved.cluster.name, NO_POLICY)
        candidates = [up.resolved, *self._fallbacks(first, requested)]
        last: PlanoError | None = None
        for c, resolved in enumerate(candidates):
            policy = self._policies.get(resolved.cluster.name, NO_POLICY)
            if c:
                pending = None
                try:
                    up = self._rebuild(up, resolved, record)
                except PlanoError as err:
                    last = err
                    continue
                if self._events is not None:
                    self._events.failover(resolved.cluster.provider, resolved.model_id)
            more = c + 1 < len(candidates)
            got = await self._candidate(up, record, policy, deadline, more, pending)
            if isinstance(got, Committed):
                return got
            last = got
        return last or Overloaded("no upstream could take the request")

    async def _candidate(
        self,
        up: Upstream,
        record: RequestRecord,
        policy: ClusterPolicy,
        deadline: float,
        more: bool,
        pending: Failed | None,
    ) -> Committed | PlanoError:
        """One model with its retries: a committed answer, or why it failed."""
        retry = policy.retry
        loop = asyncio.get_running_loop()
        tried = 0
        n = 0
        while True:
            if pending is not None:
                got: Committed | Failed = pending
                pending = None
                tried = 1
            else:
                if more and not self._admitted(up, policy):
                    return UpstreamUnavailable(
                        f"provider '{up.resolved.cluster.name}' skipped: its circuit is open"
                    )
                target, i = self._endpoint(up, policy, tried, record)
                tried |= 1 << i
                got = await self._attempt(target, record, policy, i, deadline, last=not more)
            if isinstance(got, Committed):
                return got
            if got.outcome is Outcome.RESET and self._events is not None:
                self._events.reset(up.resolved.cluster.provider, up.resolved.model_id)
            final = not retry.retriable(got.outcome, got.status) or n == retry.num_retries
            if got.stalled and more and retry.failover_on_stall:
                final = final or "unavailable" in policy.fallback_on
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
                if more and fails_over(policy.fallback_on, got.outcome, got.status, got.body):
                    got.discard()
                    return got.error
                return got.committed(policy.guard)
            got.discard()
            if self._events is not None:
                self._events.retry(up.resolved.cluster.provider, up.resolved.model_id)
            if wait > 0:
                await self._sleep(wait)

    def _admitted(self, up: Upstream, policy: ClusterPolicy) -> bool:
        """Whether the provider's circuit lets an attempt through that a fallback could serve."""
        health = policy.health
        if health is None or "unavailable" not in policy.fallback_on or health.admits():
            return True
        if self._events is not None:
            self._events.health_skipped(up.resolved.cluster.provider, up.resolved.model_id)
        return False

    def _endpoint(
        self, up: Upstream, policy: ClusterPolicy, tried: int, record: RequestRecord
    ) -> tuple[Upstream, int]:
        balancer = policy.balancer
        if balancer is None:
            return up, 0
        key = None
        if balancer.wants_key:
            key = next((v for k, v in up.headers_in or () if k == PREFIX_HASH_HEADER), None)
        i = balancer.pick(tried, key)
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
        *,
        last: bool,
    ) -> Committed | Failed:
        held = await self._hold(up, policy, i)
        if held is None:
            return Failed(
                Overloaded(f"provider '{up.resolved.cluster.name}' is at its max_requests"),
                Outcome.CONNECT,
            )
        record.attempts += 1
        loop = asyncio.get_running_loop()
        sent = loop.time()
        remaining = max(0.001, deadline - sent)
        limits = self._limits(policy, remaining)
        head_limit = policy.first_byte
        first_token = policy.first_token if up.stream else None
        if first_token is not None:
            head_limit = first_token if head_limit is None else min(head_limit, first_token)
        priming = False
        try:
            if head_limit is None:  # the attempt's total deadline bounds it all
                resp = await self._send(held, up, limits)
            else:
                async with asyncio.timeout(min(head_limit, remaining)):
                    resp = await self._send(held, up, limits)
            if first_token is not None and resp.status < 300 and resp.content_type == _SSE:
                left = min(first_token, remaining) - (loop.time() - sent)
                priming = True
                async with asyncio.timeout(max(0.0, left)):
                    resp = held.resp = await prime(resp)
        except (PlanoError, TimeoutError) as exc:
            head = held.resp
            held.release()
            self._note(policy, i, up, ok=False)
            if policy.health is not None:
                policy.health.failure()
            if priming and isinstance(exc, TimeoutError):
                return self._no_first_token(up, policy)
            return Failed.of(exc, headless=head is None)
        return self._judge(resp, up, held, policy, i, last=last)

    def _no_first_token(self, up: Upstream, policy: ClusterPolicy) -> Failed:
        """A stream's head came, its first content did not in time: a stall, like no head."""
        if self._events is not None:
            self._events.first_token_timeout(up.resolved.cluster.provider, up.resolved.model_id)
        failed = Failed(
            UpstreamTimeout("upstream sent no first token in time", phase="first_token"),
            Outcome.TIMEOUT,
        )
        failed.stalled = True
        return failed

    async def _hold(self, up: Upstream, policy: ClusterPolicy, i: int) -> Held | None:
        """What the attempt takes (breaker slot, load count); None when the breaker is full."""
        held = Held()
        breaker = policy.breaker
        if breaker is not None:
            try:
                await breaker.enter()
            except PlanoError:
                if self._events is not None:
                    r = up.resolved
                    self._events.breaker_rejected(r.cluster.provider, r.model_id)
                return None
            held.callback(breaker.leave)
        if policy.balancer is not None:
            active = policy.balancer.active
            active[i] += 1
            held.callback(_decrement, active, i)
        return held

    def _judge(
        self,
        resp: UpstreamResponse,
        up: Upstream,
        held: Held,
        policy: ClusterPolicy,
        i: int,
        *,
        last: bool,
    ) -> Committed | Failed:
        """An answer (head read, a body that is not a success stream read whole): to relay,
        or a failure that a retry or the next model may do better than."""
        status = resp.status
        health = policy.health
        if health is not None and status != 429:  # a 429 says nothing about health
            if status >= 500:
                health.failure()
            else:
                health.success()
        if status >= 500 or status in policy.retry.statuses or (status in _MAYBE and not last):
            self._note(policy, i, up, ok=status < 500)
            hint = retry_after_seconds(resp.header("retry-after"))
            body = resp.body or b""
            return Failed(
                None, Outcome.STATUS, status, held=held, up=up, body=body, retry_after=hint
            )
        if policy.outlier is not None:
            self._note(policy, i, up, ok=True)
        return Committed(resp, up, policy.guard, held)

    def _limits(self, policy: ClusterPolicy, remaining: float) -> Limits:
        """The attempt's timeouts; the common first-attempt one is made once."""
        if policy.total is None and remaining > self._fresh_after:
            found = self._fresh.get(policy.connect)
            if found is not None:
                return found
        total = min(policy.total, remaining) if policy.total else remaining
        return Limits(total=total, connect=policy.connect)

    async def _send(self, held: Held, up: Upstream, limits: Limits) -> UpstreamResponse:
        """Send, wait for the head; read a body that is not a success event stream whole."""
        resp = held.resp = await self._transport.send(_POST, up.url, up.headers, up.body, limits)
        status = resp.status
        if status < 300 and resp.content_type == _SSE:
            return resp
        check_whole(status, await resp.read(), up)
        return resp

    # -- mid-stream continuation (`upstream.continuation`) ------------------------------------

    def continuation_targets(self, up: Upstream, requested: str | None) -> tuple[Resolved, ...]:
        """The models a stream of `up` that broke midway may be continued on, in order: the
        fallbacks of the request (the alias's, else the model's), less the model that served;
        () when there are none or the provider says `stream_continuation: false`."""
        if not self._configured:
            return ()
        policy = self._policies.get(up.resolved.cluster.name)
        if policy is None:
            if requested not in self._alias_fallbacks:
                return ()
            policy = NO_POLICY
        if not policy.continuation:
            return ()
        serving = up.resolved.name
        return tuple(r for r in self._fallbacks(policy, requested) if r.name != serving)

    async def resume(
        self,
        targets: tuple[Resolved, ...],
        make: Callable[[Resolved], Upstream],
        record: RequestRecord,
    ) -> Committed | PlanoError:
        """The continuation request (`make` builds it per target) through the loop: each
        target with its retries and breakers, within what is left of the request's deadline.
        The answer may be an error response (the caller relays only a success stream)."""
        spent = (time.perf_counter_ns() - record.upstream_sent) / 1e9
        left = self._deadline - spent
        if left <= 0:
            return UpstreamTimeout("no time was left to continue the stream", phase="total")
        deadline = asyncio.get_running_loop().time() + left
        last: PlanoError | None = None
        for c, resolved in enumerate(targets):
            try:
                up = make(resolved)
            except PlanoError as err:
                last = err
                continue
            if self._events is not None:
                self._events.failover(resolved.cluster.provider, resolved.model_id)
            policy = self._policies.get(resolved.cluster.name, NO_POLICY)
            got = await self._candidate(up, record, policy, deadline, c + 1 < len(targets), None)
            if isinstance(got, Committed):
                return got
            last = got
        return last or Overloaded("no fallback could continue the stream")

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
