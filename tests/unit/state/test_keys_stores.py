"""The key stores: memory, file (several processes' worth of writers) and PostgreSQL, with the
same contract; a budget reservation is atomic under concurrency in each."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.state.keys import KeyRecord, KeyStore, KeyStoreError
from plano.state.keys_file import FileKeyStore
from plano.state.keys_memory import MemoryKeyStore
from plano.state.keys_postgres import PostgresKeyStore

DB = "postgresql://postgres@127.0.0.1:5432/test"


def rec(key_id: str = "0123456789ab", **kw: object) -> KeyRecord:
    return KeyRecord(id=key_id, name="n", secret_hash="h" * 64, created_at=1.0, **kw)  # type: ignore[arg-type]


@pytest.fixture
def pg_schema() -> Iterator[str]:
    schema = f"keys_{uuid.uuid4().hex[:12]}"

    async def sql(statement: str) -> None:
        conn = await asyncpg.connect(DB)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'CREATE SCHEMA "{schema}"'))
    yield schema
    asyncio.run(sql(f'DROP SCHEMA "{schema}" CASCADE'))


def stores(tmp_path: Path, schema: str) -> dict[str, Callable[[], KeyStore]]:
    return {
        "memory": MemoryKeyStore,
        "file": lambda: FileKeyStore(tmp_path / "keys.json"),
        "postgres": lambda: PostgresKeyStore(f"{DB}?search_path={schema}"),
    }


@pytest.mark.parametrize("kind", ["memory", "file", "postgres"])
def test_store_contract(kind: str, tmp_path: Path, pg_schema: str) -> None:
    async def run() -> None:
        store = stores(tmp_path, pg_schema)[kind]()
        try:
            r = rec(models=("openai/*",), meta={"a": "b"}, budget_usd=1.0)
            await store.create(r)
            with pytest.raises(KeyStoreError):
                await store.create(r)
            assert await store.get(r.id) == r
            before = await store.version()
            assert await store.get("ffffffffffff") is None
            await store.put(r.revoked(5.0))
            got = await store.get(r.id)
            assert got is not None and got.revoked_at == 5.0
            assert await store.version() != before
            assert [x.id for x in await store.list()] == [r.id]
            assert await store.reserve(r.id, "total", 0.6, 1.0) == pytest.approx(0.6)
            # 0.6 < 1.0: passes, and crosses.
            assert await store.reserve(r.id, "total", 0.6, 1.0) == pytest.approx(1.2)
            assert await store.reserve(r.id, "total", 0.1, 1.0) is None  # 1.2 >= 1.0
            assert await store.adjust(r.id, "total", -0.5) == pytest.approx(0.7)
            assert await store.spent(r.id, "total") == pytest.approx(0.7)
            assert await store.spent(r.id, "d2026-01-01") == 0.0
            assert await store.adjust(r.id, "other", -3.0) == 0.0  # never below zero
        finally:
            await store.close()

    asyncio.run(run())


@pytest.mark.parametrize("kind", ["file", "postgres"])
def test_reservations_race_and_only_one_crosses(kind: str, tmp_path: Path, pg_schema: str) -> None:
    """Four independent stores (as four workers would hold), each in its own thread and loop,
    reserve concurrently: exactly the reservations below the limit pass."""
    make = stores(tmp_path, pg_schema)[kind]
    passed: list[bool] = []
    lock = threading.Lock()

    async def worker() -> None:
        store = make()
        try:
            for _ in range(10):
                ok = await store.reserve("0123456789ab", "total", 1.0, 7.5) is not None
                with lock:
                    passed.append(ok)
        finally:
            await store.close()

    threads = [threading.Thread(target=lambda: asyncio.run(worker())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(passed) == 40
    assert sum(passed) == 8  # 0..7 are below 7.5: the 8th crossed, every later one refused


def test_file_store_rereads_another_writers_change(tmp_path: Path) -> None:
    async def run() -> None:
        a, b = FileKeyStore(tmp_path / "k.json"), FileKeyStore(tmp_path / "k.json")
        await a.create(rec())
        assert await b.get("0123456789ab") == rec()
        await b.put(rec().revoked(9.0))
        got = await a.get("0123456789ab")
        assert got is not None and got.revoked_at == 9.0

    asyncio.run(run())


def test_file_store_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text("{not json")
    with pytest.raises(KeyStoreError, match="not valid JSON"):
        asyncio.run(FileKeyStore(path).get("0123456789ab"))


def test_postgres_store_unreachable_is_a_store_error() -> None:
    store = PostgresKeyStore("postgresql://postgres@127.0.0.1:1/x", call_timeout=0.5)
    with pytest.raises(KeyStoreError) as e:
        asyncio.run(store.get("0123456789ab"))
    assert "127.0.0.1" not in str(e.value)


_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers()))


@given(st.dictionaries(st.sampled_from([*KeyRecord.__dataclass_fields__, "x"]), _VALUES))
def test_damaged_records_are_store_errors(doc: dict[str, object]) -> None:
    with contextlib.suppress(KeyStoreError):
        KeyRecord.from_doc(doc)


def test_a_damaged_record_in_the_file_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text('{"keys": {"0123456789ab": {"id": "0123456789ab", "meta": 3}}, "spend": {}}')
    with pytest.raises(KeyStoreError, match="damaged"):
        asyncio.run(FileKeyStore(path).get("0123456789ab"))
