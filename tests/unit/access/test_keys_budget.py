"""The per-worker key cache (TTL, negative entries, one read for concurrent misses), budgets
(periods, reserve/settle, the soft alert), and the admin operations' input checks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.access import keys_admin
from plano.access.budget import BudgetExhausted, Budgets, period_label
from plano.access.keys import parse_key, secret_matches
from plano.access.keys_cache import MAX_AGE, KeyCache
from plano.access.pricing import ModelPrice, PriceTable
from plano.errors import BadRequest, NotFound
from plano.state.keys import KeyRecord
from plano.state.keys_memory import MemoryKeyStore


class CountingStore(MemoryKeyStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0
        self.versions = 0

    async def version(self) -> object:
        self.versions += 1
        await asyncio.sleep(0)  # concurrent checks share one
        return await super().version()

    async def get(self, key_id: str) -> KeyRecord | None:
        self.reads += 1
        await asyncio.sleep(0)  # let concurrent lookups pile up on the same read
        return await super().get(key_id)


def test_cache_rereads_only_after_the_store_changed() -> None:
    async def run() -> None:
        store = CountingStore()
        now = [0.0]
        cache = KeyCache(store, ttl=2.0, clock=lambda: now[0])
        record, _ = await keys_admin.create(store, {"name": "a"})
        got = await asyncio.gather(*(cache.get(record.id) for _ in range(5)))
        assert all(g is not None and g.record == record for g in got)
        assert store.reads == 1 and store.versions == 1
        now[0] = 5.0  # past ttl, nothing changed: one version read, no key read
        assert await cache.get(record.id) is got[0]
        assert (store.reads, store.versions) == (1, 2)
        await store.put(record.revoked(1.0))  # another worker revokes it
        now[0] = 6.9  # within ttl of the last check: still the cached key
        fresh, k = cache.cached(record.id)
        assert fresh and k is got[0]
        now[0] = 7.0  # due: the version changed, the cache is dropped, the key read again
        assert cache.cached(record.id) == (False, None)
        k2 = await cache.get(record.id)
        assert k2 is not None and k2.record.revoked_at == 1.0
        assert (store.reads, store.versions) == (2, 3)
        assert await cache.get("ffffffffffff") is None  # unknown ids are remembered too
        assert await cache.get("ffffffffffff") is None
        assert store.reads == 3
        cache.forget(record.id)
        await cache.get(record.id)
        assert store.reads == 4
        now[0] = 7.0 + MAX_AGE  # an entry is never kept longer than MAX_AGE
        await cache.get(record.id)
        assert store.reads == 5

    asyncio.run(run())


def test_period_labels_are_utc() -> None:
    t = 1796428800.0  # 2026-12-05T00:00:00Z
    assert period_label("day", t - 1) == "d2026-12-04"
    assert period_label("day", t) == "d2026-12-05"
    assert period_label("month", t) == "m2026-12"
    assert period_label("total", t) == "total"


PRICES = PriceTable({"openai/gpt-4o": ModelPrice(1.0, 2.0, None, None)})


def test_reserve_settle_and_alert(caplog: pytest.LogCaptureFixture) -> None:
    async def run() -> None:
        store = MemoryKeyStore()
        alerts: list[float] = []

        class Events:
            def budget_alert(self, record: Any, spent: float) -> None:
                alerts.append(spent)

        budgets = Budgets(store, PRICES, 1000, Events(), clock=lambda: 0.0)
        assert budgets.estimate("openai/gpt-4o", 1000, None) == pytest.approx(0.003)
        assert budgets.estimate("openai/gpt-4o", 1000, 10) == pytest.approx(0.00102)
        assert budgets.estimate("unknown/model", 1000, None) == 0.0
        rec = KeyRecord(
            id="0" * 12, name="t", secret_hash="", budget_usd=1.0, alert_at=0.5, period="total"
        )
        first = await budgets.reserve(rec, 0.4)
        second = await budgets.reserve(rec, 0.4)
        assert not isinstance(first, BudgetExhausted) and not isinstance(second, BudgetExhausted)
        assert not first.alert and second.alert  # 0.8 with both held: past 0.5
        budgets.settle(second, None)  # failed: its estimate comes back
        await budgets.drain()
        budgets.settle(first, 0.3)  # cost less than its estimate
        await budgets.drain()
        assert await store.spent(rec.id, "total") == pytest.approx(0.3)
        assert alerts == []
        third = await budgets.reserve(rec, 0.4)
        assert not isinstance(third, BudgetExhausted)
        budgets.settle(third, 0.9)  # 1.2: crosses 0.5 (alert) and the budget
        await budgets.drain()
        assert alerts == [pytest.approx(1.2)]
        refused = await budgets.reserve(rec, 0.0)
        assert isinstance(refused, BudgetExhausted) and refused.status == 429
        assert "'t'" in refused.message and "($1 in total) is spent" in refused.message

    with caplog.at_level(logging.WARNING, "plano.access"):
        asyncio.run(run())
    assert "has spent $1.2000 of its $1 total budget" in caplog.text


def test_admin_create_shows_the_key_once_and_stores_only_a_hash() -> None:
    async def run() -> None:
        store = MemoryKeyStore()
        record, key = await keys_admin.create(
            store,
            {"name": "a", "models": "openai/*, smart", "budget": 5, "expires": "30d"},
        )
        parsed = parse_key(key)
        assert parsed is not None and parsed[0] == record.id
        assert secret_matches(parsed[1], record.secret_hash)
        assert parsed[1] not in str(record.to_doc())
        assert record.models == ("openai/*", "smart")
        assert record.expires_at == pytest.approx(record.created_at + 30 * 86400)
        shown = await keys_admin.shown(store, record)
        assert shown["spent_usd"] == 0.0 and "secret_hash" not in shown
        rotated, key2 = await keys_admin.rotate(store, record.id)
        assert key2 != key and rotated.id == record.id
        assert (await keys_admin.revoke(store, key2)).revoked_at is not None  # by the key too
        with pytest.raises(NotFound):
            await keys_admin.find(store, "nothing")

    asyncio.run(run())


@pytest.mark.parametrize(
    "doc",
    [
        [],
        {},
        {"name": ""},
        {"name": "a", "rpm": 0},
        {"name": "a", "rpm": 1.5},
        {"name": "a", "budget": float("nan")},
        {"name": "a", "period": "week"},
        {"name": "a", "alert_at": 2},
        {"name": "a", "expires": "soon"},
        {"name": "a", "meta": {"k": 1}},
        {"name": "a", "models": [1]},
        {"name": "a", "secret": "x"},
    ],
)
def test_admin_refuses_bad_specs_with_400(doc: Any) -> None:
    with pytest.raises(BadRequest):
        keys_admin.spec_from(doc, 0.0)


@given(st.dictionaries(st.sampled_from(["name", "rpm", "budget", "expires", "models", "meta",
                                        "period", "alert_at", "team"]),
                       st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=20),
                                 st.lists(st.text(max_size=5), max_size=3))))  # fmt: skip
def test_admin_spec_either_parses_or_is_a_400(doc: dict[str, Any]) -> None:
    with contextlib.suppress(BadRequest):
        keys_admin.spec_from(doc, 0.0)
