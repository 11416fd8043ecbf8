"""Access control with gateway keys, as one worker enforces it (`KeyAccess`, built at load).

Per request: the key is read from `Authorization: Bearer`, `x-api-key` or the configured header
(`keys.KeyHeaders`), looked up by id in the worker's cache (`keys_cache`), its secret compared in
constant time, its expiry and revocation checked, then its rate limits (the `ratelimits`
engine's token buckets, in its store: memory or Redis) taken. After routing, the model that will
serve is checked against the key's models and the key's budget reserved (`budget`).

Outcomes are counted in `plano_key_requests_total{key,team,outcome}` (`KeyEvents`); errors name
the key by its name or id, never by its secret.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Callable, Iterable
from typing import Any, Final, Protocol

from plano.access.budget import BudgetExhausted, Budgets, Reservation
from plano.access.keys import KeyHeaders, parse_key, secret_matches
from plano.access.keys_cache import KeyCache
from plano.access.keys_policy import AccessKey
from plano.errors import Forbidden, Overloaded, PlanoError, RateLimited, Unauthorized
from plano.observability.record import RequestRecord
from plano.state.keys import KeyStoreError
from plano.state.ratelimit_memory import RateLimitStore
from plano.state.ratelimit_redis import RateLimitBackendError
from plano.upstream.ratelimit import estimate_tokens

ALLOWED: Final = "allowed"
UNAUTHENTICATED: Final = "unauthenticated"
FORBIDDEN: Final = "forbidden"
BUDGET_EXHAUSTED: Final = "budget_exhausted"
RATE_LIMITED: Final = "rate_limited"
MAX_VERIFIED: Final = 10_000  # verified header values kept per worker


class Counter(Protocol):
    n: float


class KeyEvents(Protocol):
    def key_request(self, key: str, team: str, outcome: str) -> None: ...

    def counter(self, key: str, team: str, outcome: str) -> Counter: ...


# A request's key, once it is known to be valid, and the index of the header that carried it
# (removed before anything is forwarded).
Admitted = tuple[AccessKey, int]


class KeyAccess:
    def __init__(
        self,
        cache: KeyCache,
        headers: KeyHeaders,
        budgets: Budgets,
        limits: RateLimitStore | None = None,
        events: KeyEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.cache = cache
        self.headers = headers
        self.budgets = budgets
        self._limits = limits
        self._events = events
        self._clock = clock
        # Reservations of requests in flight, by id(record), settled when the cost is final.
        self._held: dict[int, Reservation] = {}
        self._subscribe: Callable[[Callable[[RequestRecord], None]], None] | None = None
        # Header values already verified, to their key and until when (the cache's clock) that
        # holds: the key's cache entry stays fresh and the key unexpired. Any change to the
        # cache empties it (`on_change`), so a hit is one dict lookup and one clock read, no
        # parsing or hashing. A dict lookup compares hashes (SipHash, random key) before bytes,
        # so it leaks nothing useful about stored values. `Authenticate` reads it directly.
        self.verified: dict[bytes, tuple[AccessKey, float]] = {}
        self._verified = self.verified
        cache.on_change = self.verified.clear
        self._names = headers.names
        self._now = cache.clock

    def allowed(self, key: AccessKey) -> None:
        """Count an admitted request (the key keeps its counter: no lookup per request)."""
        counter = key.allowed
        if counter is None:
            if self._events is None:
                return
            r = key.record
            counter = key.allowed = self._events.counter(r.name, r.team or "", ALLOWED)
        counter.n += 1

    def count(self, key: AccessKey | None, outcome: str) -> None:
        if self._events is not None:
            r = key.record if key is not None else None
            self._events.key_request(
                r.name if r is not None else "", (r.team or "") if r is not None else "", outcome
            )

    def admit_cached(self, headers: Iterable[tuple[bytes, bytes]]) -> Admitted | PlanoError | None:
        """`admit` without awaiting, when the key's cache entry is fresh (most requests); None
        when the store must be read (then `admit`)."""
        names = self._names
        for i, (k, v) in enumerate(headers):
            if k in names:
                hit = self._verified.get(v)
                if hit is not None and self._now() < hit[1]:
                    return hit[0], i
                break
        found = self.headers.find(headers)
        if found is None:
            return self._missing()
        parsed = parse_key(found[1])
        if parsed is None:
            return self._invalid()
        fresh, key = self.cache.cached(parsed[0])
        if not fresh:
            return None
        got = self._check(key, parsed[1], found[0])
        if not isinstance(got, PlanoError):
            self._remember(headers, got)
        return got

    def _remember(self, headers: Iterable[tuple[bytes, bytes]], got: Admitted) -> None:
        key, index = got
        until = self.cache.fresh_until(key.record.id)
        if key.expires_at != math.inf:  # the expiry, on the cache's clock
            until = min(until, self._now() + (key.expires_at - self._clock()))
        for i, (_, v) in enumerate(headers):
            if i == index:
                if len(self._verified) >= MAX_VERIFIED:
                    self._verified.clear()
                self._verified[v] = (key, until)
                return

    async def admit(self, headers: Iterable[tuple[bytes, bytes]]) -> Admitted | PlanoError:
        """The request's valid key, or 401 (503 when the store cannot answer)."""
        found = self.headers.find(headers)
        if found is None:
            return self._missing()
        parsed = parse_key(found[1])
        if parsed is None:
            return self._invalid()
        try:
            key = await self.cache.get(parsed[0])
        except KeyStoreError:
            return Overloaded("the key store is unavailable; try again shortly")
        got = self._check(key, parsed[1], found[0])
        if not isinstance(got, PlanoError):
            self._remember(headers, got)
        return got

    def _check(self, key: AccessKey | None, secret: str, index: int) -> Admitted | PlanoError:
        if key is None or not _matches(key, secret):
            return self._invalid()
        why = key.live(self._clock())
        if why is not None:
            self.count(key, UNAUTHENTICATED)
            return Unauthorized(f"gateway key '{key.record.name}' is {why}")
        return key, index

    def _missing(self) -> Unauthorized:
        self.count(None, UNAUTHENTICATED)
        return Unauthorized(
            "a gateway key is required: send it as 'Authorization: Bearer pk-...' or"
            " 'x-api-key: pk-...'"
        )

    def _invalid(self) -> Unauthorized:
        self.count(None, UNAUTHENTICATED)
        return Unauthorized("invalid gateway key")

    async def limit(self, key: AccessKey, doc: Any) -> RateLimited | None:
        """Take from the key's rpm and tpm buckets (`doc`: the request, for its prompt tokens);
        429 with Retry-After when one refuses. Only for keys with limits (`AccessKey.limited`)."""
        r, store = key.record, self._limits
        if store is None:
            return None
        for kind, per_minute in (("rpm", r.rpm), ("tpm", r.tpm)):
            if per_minute is None:
                continue
            cost = 1 if kind == "rpm" else estimate_tokens(doc)
            try:
                d = await store.take(f"key|{r.id}|{kind}", cost, per_minute, per_minute / 60.0)
            except RateLimitBackendError:
                continue  # as `ratelimits` with on_backend_error: allow
            if not d.allowed:
                self.count(key, RATE_LIMITED)
                wait = 60 if d.retry_after == float("inf") else max(1, int(d.retry_after + 0.999))
                return RateLimited(
                    f"gateway key '{r.name}' is over its limit of {per_minute} "
                    f"{'requests' if kind == 'rpm' else 'tokens'} per minute",
                    headers=(("retry-after", str(wait)),),
                )
        return None

    def allows(self, key: AccessKey, names: Iterable[str | None]) -> Forbidden | None:
        if key.allows(names):
            return None
        self.count(key, FORBIDDEN)
        return Forbidden(
            f"gateway key '{key.record.name}' may not use this model; it may use: "
            + ", ".join(key.record.models)
        )

    async def reserve(self, key: AccessKey, amount: float) -> Reservation | PlanoError | None:
        """Hold `amount` of the key's budget (None when the key has no budget)."""
        if key.record.budget_usd is None:
            return None
        try:
            got = await self.budgets.reserve(key.record, amount)
        except KeyStoreError:
            return Overloaded("the key store is unavailable; try again shortly")
        if isinstance(got, BudgetExhausted):
            self.count(key, BUDGET_EXHAUSTED)
        return got

    async def close(self) -> None:
        await self.budgets.drain()
        await self.cache.store.close()
        if self._limits is not None:
            await self._limits.close()

    def settle_by(self, subscribe: Callable[[Callable[[RequestRecord], None]], None]) -> None:
        """Where finished requests will come from (`CostMeter.subscribe`). Subscribed with the
        first reservation: until a key with a budget is used, requests pay nothing for it."""
        self._subscribe = subscribe

    def hold(self, record: RequestRecord, res: Reservation) -> None:
        self._held[id(record)] = res
        subscribe = self._subscribe
        if subscribe is not None:
            self._subscribe = None
            subscribe(self.finished)

    def finished(self, record: RequestRecord) -> None:
        """The request ended and its cost is final (a cost meter subscriber): settle."""
        if not self._held:
            return
        res = self._held.pop(id(record), None)
        if res is not None:
            self.budgets.settle(res, record.cost_usd)


def _matches(key: AccessKey, secret: str) -> bool:
    """The secret against the key's hash; a secret that matched before is compared directly
    (constant time both ways), which saves hashing on every request of a busy key."""
    raw = secret.encode("latin-1", "replace")
    verified = key.verified
    if verified is not None and hmac.compare_digest(raw, verified):
        return True
    if secret_matches(secret, key.record.secret_hash):
        key.verified = raw
        return True
    return False
