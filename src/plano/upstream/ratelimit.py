"""Rate limits (`ratelimits`, reference §7): token buckets per (rule, model, selector value).

As the original: a request is checked only when it carries ``x-arch-ratelimit-selector: <name>``
and the header ``<name>``; a rule applies when its ``selector.key`` is that header and its
``model`` names the model serving the request (bare id, ``provider/model`` or provider name). Unlike
the original, ``*`` works as a wildcard, as its docs promise: ``value: "*"`` (or ``team-*``) gives
each matching value its own bucket, and ``model: "*"`` (or ``gpt-*``) matches those models, each
with its own bucket. ``limit.tokens`` counts prompt tokens (estimated at 4 characters per token
of message text); ``limit.requests`` counts requests. ``day`` refills over 24 hours.
A refused request gets 429 with ``Retry-After`` and the original's message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fnmatch import translate
from typing import Any, Final, Protocol

from plano.config import Config
from plano.errors import RateLimited
from plano.state.ratelimit_memory import MemoryRateLimitStore, RateLimitStore
from plano.state.ratelimit_redis import RateLimitBackendError, RedisRateLimitStore

SELECTOR_HEADER: Final = b"x-arch-ratelimit-selector"
_UNIT_SECONDS: Final = {"second": 1.0, "minute": 60.0, "hour": 3600.0, "day": 86400.0}
_MATCH_CACHE_LIMIT: Final = 4096


class RateLimitEvents(Protocol):
    def ratelimited(self, provider: str, model: str) -> None: ...
    def ratelimit_backend_error(self, backend: str, allowed: bool) -> None: ...


@dataclass(frozen=True, slots=True)
class Rule:
    index: int
    model: str
    model_glob: re.Pattern[str] | None
    key: bytes  # header name, lower case
    value: str
    value_glob: re.Pattern[str] | None
    capacity: int
    rate: float  # tokens (or requests) per second
    by_tokens: bool

    def matches_model(self, names: Sequence[str]) -> str | None:
        """The model name this rule matched (for the bucket key), or None."""
        for name in names:
            if self.model_glob is None:
                if name == self.model:
                    return name
            elif self.model_glob.match(name):
                return name
        return None


class RateLimiter:
    def __init__(
        self,
        rules: Iterable[Rule],
        store: RateLimitStore,
        *,
        fail_open: bool,
        events: RateLimitEvents | None = None,
    ) -> None:
        self._by_key: dict[bytes, list[Rule]] = {}
        for r in rules:
            self._by_key.setdefault(r.key, []).append(r)
        self.store = store
        self._fail_open = fail_open
        self._events = events

    def applicable(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, str] | None:
        """The selector (header name, value) when the request asks for limiting, else None."""
        selected: bytes | None = None
        found: dict[bytes, bytes] = {}
        for k, v in headers:
            if k == SELECTOR_HEADER:
                selected = v.strip().lower()
            elif k in self._by_key:
                found[k] = v
        if selected is None or selected not in found:
            return None
        return selected, found[selected].decode("latin-1")

    async def check(
        self, selector: tuple[bytes, str], models: Sequence[str], provider: str, doc: Any
    ) -> None:
        """Take from every bucket that applies; raise :class:`RateLimited` when one refuses."""
        key, value = selector
        tokens: int | None = None
        for rule in self._by_key.get(key, ()):
            if rule.value_glob is None:
                if value != rule.value:
                    continue
                bucket_value = ""
            elif rule.value_glob.match(value):
                bucket_value = value
            else:
                continue
            model = rule.matches_model(models)
            if model is None:
                continue
            if rule.by_tokens:
                cost = tokens = tokens if tokens is not None else estimate_tokens(doc)
            else:
                cost = 1
            bucket = f"{rule.index}|{model if rule.model_glob else ''}|{bucket_value}"
            try:
                decision = await self.store.take(bucket, cost, rule.capacity, rule.rate)
            except RateLimitBackendError:
                if self._events is not None:
                    self._events.ratelimit_backend_error(self.store.name, self._fail_open)
                if self._fail_open:
                    continue
                raise RateLimited(
                    "rate limit backend unavailable; request refused (on_backend_error: deny)",
                    headers=(("retry-after", "1"),),
                ) from None
            if not decision.allowed:
                if self._events is not None:
                    self._events.ratelimited(provider, models[0])
                raise _refused(rule, models[0], key, value, cost, decision.retry_after)


def _refused(rule: Rule, model: str, key: bytes, value: str, cost: int, wait: float) -> RateLimited:
    used = "tokens_used" if rule.by_tokens else "requests_used"
    seconds = _one_unit(rule) if math.isinf(wait) else max(1, math.ceil(wait))
    return RateLimited(
        f'exceeded limit provider={model}, selector=Header {{ key: "{key.decode()}", '
        f'value: "{value}" }}, {used}={cost}',
        headers=(("retry-after", str(seconds)),),
    )


def _one_unit(rule: Rule) -> int:
    """Retry-After for a cost above the capacity: it can never pass; say one full refill."""
    return max(1, math.ceil(rule.capacity / rule.rate))


def estimate_tokens(doc: Any) -> int:
    """Prompt tokens of a request body, estimated from the length of its text (4 chars/token)."""
    chars = 0
    if isinstance(doc, dict):
        chars += _text_len(doc.get("system")) + _text_len(doc.get("instructions"))
        chars += _text_len(doc.get("messages")) + _text_len(doc.get("input"))
    return max(1, math.ceil(chars / 4))


def _text_len(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return sum(_text_len(v) for v in value)
    if isinstance(value, dict):
        return _text_len(value.get("content")) + _text_len(value.get("text"))
    return 0


def _glob(pattern: str) -> re.Pattern[str] | None:
    return re.compile(translate(pattern)) if "*" in pattern else None


def build_rules(config: Config) -> list[Rule]:
    rules = []
    for i, rl in enumerate(config.ratelimits):
        amount = rl.limit.tokens if rl.limit.tokens is not None else rl.limit.requests
        assert amount is not None
        rules.append(
            Rule(
                index=i,
                model=rl.model,
                model_glob=_glob(rl.model),
                key=rl.selector.key.strip().lower().encode("latin-1"),
                value=rl.selector.value,
                value_glob=_glob(rl.selector.value),
                capacity=amount,
                rate=amount / _UNIT_SECONDS[rl.limit.unit],
                by_tokens=rl.limit.tokens is not None,
            )
        )
    return rules


def build_ratelimiter(config: Config, events: RateLimitEvents | None = None) -> RateLimiter | None:
    if not config.ratelimits:
        return None
    backend = config.ratelimit_backend
    store: RateLimitStore
    if backend.type == "redis":
        store = RedisRateLimitStore(backend.url, prefix=backend.key_prefix, timeout=backend.timeout)
    else:
        store = MemoryRateLimitStore()
    return RateLimiter(
        build_rules(config),
        store,
        fail_open=backend.on_backend_error == "allow",
        events=events,
    )
