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
import time
from collections.abc import Callable, Iterable
from typing import Final, Protocol

from plano.access.budget import BudgetExhausted, Budgets, Reservation
from plano.access.keys import KeyHeaders, parse_key, secret_matches
from plano.access.keys_cache import KeyCache
from plano.access.keys_policy import AccessKey
from plano.errors import Forbidden, Overloaded, PlanoError, RateLimited, Unauthorized
from plano.observability.record import RequestRecord
from plano.state.keys import KeyStoreError
from plano.state.ratelimit_memory import RateLimitStore
from plano.state.ratelimit_redis import RateLimitBackendError

ALLOWED: Final = "allowed"
UNAUTHENTICATED: Final = "unauthenticated"
FORBIDDEN: Final = "forbidden"
BUDGET_EXHAUSTED: Final = "budget_exhausted"
RATE_LIMITED: Final = "rate_limited"


class KeyEvents(Protocol):
    def key_request(self, key: str, team: str, outcome: str) -> None: ...


class Admitted:
    """A request's key, once it is known to be valid: the key, and the index of the header
    that carried it (removed before anything is forwarded)."""

    __slots__ = ("header", "key")

    def __init__(self, key: AccessKey, header: int) -> None:
        self.key = key
        self.header = header


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

    def count(self, key: AccessKey | None, outcome: str) -> None:
        if self._events is not None:
            r = key.record if key is not None else None
            self._events.key_request(
                r.name if r is not None else "", (r.team or "") if r is not None else "", outcome
            )

    async def admit(self, headers: Iterable[tuple[bytes, bytes]]) -> Admitted | PlanoError:
        """The request's valid key, or 401 (503 when the store cannot answer)."""
        found = self.headers.find(headers)
        if found is None:
            self.count(None, UNAUTHENTICATED)
            return Unauthorized(
                "a gateway key is required: send it as 'Authorization: Bearer pk-...' or"
                " 'x-api-key: pk-...'"
            )
        index, token = found
        parsed = parse_key(token)
        key: AccessKey | None = None
        if parsed is not None:
            fresh, key = self.cache.cached(parsed[0])
            if not fresh:
                try:
                    key = await self.cache.get(parsed[0])
                except KeyStoreError:
                    return Overloaded("the key store is unavailable; try again shortly")
        if key is None or parsed is None or not _matches(key, parsed[1]):
            self.count(None, UNAUTHENTICATED)
            return Unauthorized("invalid gateway key")
        why = key.live(self._clock())
        if why is not None:
            self.count(key, UNAUTHENTICATED)
            return Unauthorized(f"gateway key '{key.record.name}' is {why}")
        return Admitted(key, index)

    async def limit(self, key: AccessKey, prompt_tokens: Callable[[], int]) -> RateLimited | None:
        """Take from the key's rpm and tpm buckets; 429 with Retry-After when one refuses."""
        r, store = key.record, self._limits
        if store is None or (r.rpm is None and r.tpm is None):
            return None
        for kind, per_minute in (("rpm", r.rpm), ("tpm", r.tpm)):
            if per_minute is None:
                continue
            cost = 1 if kind == "rpm" else prompt_tokens()
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

    def hold(self, record: RequestRecord, res: Reservation) -> None:
        self._held[id(record)] = res

    def finished(self, record: RequestRecord) -> None:
        """The request ended and its cost is final (a cost meter subscriber): settle."""
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
