"""Rate-limit rules: selection as the original, wildcards, buckets, the 429, backend errors."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from plano.config import load_config_text
from plano.errors import RateLimited
from plano.state.ratelimit_memory import Decision, MemoryRateLimitStore
from plano.state.ratelimit_redis import RateLimitBackendError
from plano.upstream.ratelimit import RateLimiter, build_rules, estimate_tokens

NAMES = ("gpt-4o", "openai/gpt-4o", "openai/gpt-4o")


def limiter(limits: str, store: Any = None, fail_open: bool = True, events: Any = None) -> Any:
    cfg = load_config_text(
        "version: v0.4.0\nlisteners: [{name: l, type: model}]\n"
        "model_providers: [{model: openai/gpt-4o, access_key: k}]\nratelimits:\n" + limits,
        env={},
    )
    return RateLimiter(
        build_rules(cfg),
        store or MemoryRateLimitStore(lambda: 0.0),
        fail_open=fail_open,
        events=events,
    )


def hdrs(value: str, key: bytes = b"x-user") -> list[tuple[bytes, bytes]]:
    return [(b"x-arch-ratelimit-selector", key), (key, value.encode())]


def check(rl: Any, headers: list[tuple[bytes, bytes]], names: tuple[str, ...] = NAMES) -> None:
    sel = rl.applicable(headers)
    if sel is not None:
        asyncio.run(rl.check(sel, names, "openai", {"messages": [{"content": "abcd"}]}))


EXACT = """  - model: gpt-4o
    selector: {key: x-user, value: alice}
    limit: {requests: 1, unit: hour}
"""


def test_selection_needs_the_selector_header_and_its_header() -> None:
    rl = limiter(EXACT)
    assert rl.applicable([(b"x-user", b"alice")]) is None
    assert rl.applicable([(b"x-arch-ratelimit-selector", b"x-user")]) is None
    assert rl.applicable(hdrs("alice")) == (b"x-user", "alice")


def test_exact_value_one_bucket_and_the_original_message() -> None:
    rl = limiter(EXACT)
    check(rl, hdrs("alice"))
    with pytest.raises(RateLimited) as caught:
        check(rl, hdrs("alice"))
    err = caught.value
    assert err.status == 429
    assert err.message == (
        'exceeded limit provider=gpt-4o, selector=Header { key: "x-user", value: "alice" },'
        " requests_used=1"
    )
    assert dict(err.headers)["retry-after"] == "3600"
    check(rl, hdrs("bob"))  # no rule for bob


def test_model_must_match() -> None:
    rl = limiter(EXACT)
    check(rl, hdrs("alice"), ("gpt-4o-mini", "openai/gpt-4o-mini", "x"))
    check(rl, hdrs("alice"), ("gpt-4o-mini", "openai/gpt-4o-mini", "x"))


def test_wildcards_give_a_bucket_per_value_and_model() -> None:
    rl = limiter(
        '  - {model: "gpt-*", selector: {key: x-user, value: "team-*"}, '
        "limit: {requests: 1, unit: hour}}\n"
    )
    check(rl, hdrs("team-a"))
    check(rl, hdrs("team-b"))
    check(rl, hdrs("team-a"), ("gpt-4.1", "openai/gpt-4.1", "x"))
    check(rl, hdrs("solo"))  # not matched by team-*
    with pytest.raises(RateLimited):
        check(rl, hdrs("team-a"))


def test_tokens_are_estimated_from_text() -> None:
    assert estimate_tokens({"messages": [{"role": "user", "content": "x" * 40}]}) == 10
    assert estimate_tokens({"system": "abcd", "messages": [{"content": [{"text": "abcd"}]}]}) == 2
    assert estimate_tokens({"input": "abcdefgh"}) == 2
    assert estimate_tokens({}) == 1


class Broken:
    name = "redis"

    async def take(self, key: str, cost: int, capacity: int, rate: float) -> Decision:
        raise RateLimitBackendError("ConnectionError")

    async def close(self) -> None:
        return None


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self.limited: list[tuple[str, str]] = []

    def ratelimit_backend_error(self, backend: str, allowed: bool) -> None:
        self.seen.append((backend, allowed))

    def ratelimited(self, provider: str, model: str) -> None:
        self.limited.append((provider, model))


def test_backend_error_fails_open_or_closed() -> None:
    events = Events()
    check(limiter(EXACT, Broken(), True, events), hdrs("alice"))
    with pytest.raises(RateLimited):
        check(limiter(EXACT, Broken(), False, events), hdrs("alice"))
    assert events.seen == [("redis", True), ("redis", False)]
