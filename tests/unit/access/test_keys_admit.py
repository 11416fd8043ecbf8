"""Admitting a request's key through the `Authenticate` stage: a value verified once is admitted
from memory after, until its key's cache entry changes or goes stale, or the key expires; the
key's header leaves the request either way."""

from __future__ import annotations

import asyncio
from typing import Any

from plano.access.budget import Budgets
from plano.access.keys import KeyHeaders, format_key, hash_secret
from plano.access.keys_access import KeyAccess
from plano.access.keys_cache import KeyCache
from plano.errors import Unauthorized
from plano.listeners.model.access import KEY, Authenticate
from plano.state.keys import KeyRecord
from plano.state.keys_memory import MemoryKeyStore

KEY_ID, SECRET = "0123456789ab", "s" * 43
TOKEN = format_key(KEY_ID, SECRET).encode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeRecord:
    request_headers: Any = ()
    key_name: str | None = None
    team: str | None = None


class FakeCall:
    def __init__(self) -> None:
        self.scope: dict[str, Any] = {
            "headers": [(b"host", b"gw"), (b"authorization", b"Bearer " + TOKEN)]
        }
        self.record = FakeRecord()
        self.doc: dict[str, Any] = {}


def rec(**kw: Any) -> KeyRecord:
    return KeyRecord(id=KEY_ID, name="team-key", secret_hash=hash_secret(SECRET), team="t", **kw)


def stage(store: MemoryKeyStore, mono: Clock, wall: Clock) -> tuple[Authenticate, KeyAccess]:
    access = KeyAccess(
        KeyCache(store, 2.0, clock=mono), KeyHeaders(), Budgets(store, None, 16), clock=wall
    )
    return Authenticate(access), access


def admit(auth: Authenticate) -> tuple[Any, FakeCall]:
    async def run() -> tuple[Any, FakeCall]:
        call = FakeCall()
        out = auth(call)  # type: ignore[arg-type]
        if asyncio.iscoroutine(out):
            out = await out
        return out, call

    return asyncio.run(run())


def test_a_verified_value_is_admitted_from_memory_and_its_header_removed() -> None:
    store, mono, wall = MemoryKeyStore(), Clock(), Clock()
    asyncio.run(store.create(rec()))
    auth, access = stage(store, mono, wall)
    for _ in range(2):
        out, call = admit(auth)
        assert out is None
        assert call.scope["headers"] == [(b"host", b"gw")]
        assert call.record.request_headers is call.scope["headers"]
        assert call.scope[KEY].record.id == KEY_ID and call.record.key_name == "team-key"
    assert list(access.verified) == [b"Bearer " + TOKEN]


def test_a_revocation_seen_by_the_cache_ends_the_memory() -> None:
    store, mono, wall = MemoryKeyStore(), Clock(), Clock()
    asyncio.run(store.create(rec()))
    auth, access = stage(store, mono, wall)
    assert admit(auth)[0] is None
    asyncio.run(store.put(rec(revoked_at=1.0)))  # another worker revokes it
    assert admit(auth)[0] is None  # within the cache's ttl: still the cached key
    mono.now += 2.0  # the version check is due: the change is seen, the cache and memory dropped
    out, _ = admit(auth)
    assert isinstance(out, Unauthorized) and "revoked" in str(out)
    assert not access.verified


def test_an_expiry_ends_the_memory_even_with_the_cache_fresh() -> None:
    store, mono, wall = MemoryKeyStore(), Clock(), Clock()
    asyncio.run(store.create(rec(expires_at=wall.now + 1.0)))
    auth, _ = stage(store, mono, wall)
    assert admit(auth)[0] is None
    mono.now += 1.0
    wall.now += 1.0
    out, _ = admit(auth)
    assert isinstance(out, Unauthorized) and "expired" in str(out)


def test_a_wrong_secret_is_never_remembered() -> None:
    store, mono, wall = MemoryKeyStore(), Clock(), Clock()
    asyncio.run(store.create(rec()))
    auth, access = stage(store, mono, wall)
    call = FakeCall()
    wrong = format_key(KEY_ID, "x" * 43).encode()
    call.scope["headers"][1] = (b"authorization", b"Bearer " + wrong)

    async def run() -> Any:
        out = auth(call)  # type: ignore[arg-type]
        return await out if asyncio.iscoroutine(out) else out

    assert isinstance(asyncio.run(run()), Unauthorized)
    assert not access.verified
