"""The PostgreSQL key store (asyncpg, imported lazily; the pool is made on first use).

Two tables, created on first use (`CREATE TABLE IF NOT EXISTS`) in the connection's search_path:

    plano_keys(id TEXT PRIMARY KEY, doc JSONB NOT NULL, updated_at TIMESTAMPTZ)
    plano_key_spend(key_id TEXT, period TEXT, spent DOUBLE PRECISION, PRIMARY KEY (key_id, period))

A budget reservation is one statement: an upsert whose update only happens while `spent` is
below the limit (`... DO UPDATE SET spent = spent + $3 WHERE spent < $4 RETURNING spent`). The
row lock PostgreSQL takes for it makes two gateways, however many, decide one after the other,
so they cannot both pass the last cent. Every call is bounded by `call_timeout`; a failure is
raised as `KeyStoreError`, never with the connection string in it.

Spend statements commit without waiting for the WAL flush (`synchronous_commit = off` for the
store's sessions): every request of a key with a budget writes the same row twice, and waiting
for a disk flush per commit capped a budget key at a few hundred requests per second. A database
crash may lose the last fraction of a second of spend (never a half-applied change); key changes
(`create`, `put`) still wait for the flush (`SET LOCAL synchronous_commit = on`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson

from plano.state.keys import KeyRecord, KeyStoreError
from plano.state.postgres_pool import open_pool

_KEYS: Final = "plano_keys"
_SPEND: Final = "plano_key_spend"
_SCHEMA_LOCK: Final = 7262111  # the advisory lock around the tables' creation
_SCHEMA: Final = (
    f"CREATE TABLE IF NOT EXISTS {_KEYS} (id TEXT PRIMARY KEY, doc JSONB NOT NULL, "
    "updated_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())",
    f"CREATE TABLE IF NOT EXISTS {_SPEND} (key_id TEXT NOT NULL, period TEXT NOT NULL, "
    "spent DOUBLE PRECISION NOT NULL DEFAULT 0, PRIMARY KEY (key_id, period))",
)
_RESERVE: Final = (
    f"INSERT INTO {_SPEND} AS s (key_id, period, spent) "
    "SELECT $1, $2, $3::double precision WHERE 0 < $4::double precision "
    "ON CONFLICT (key_id, period) DO UPDATE SET spent = s.spent + EXCLUDED.spent "
    "WHERE s.spent < $4 RETURNING s.spent"
)
_ADJUST: Final = (
    f"INSERT INTO {_SPEND} AS s (key_id, period, spent) "
    "VALUES ($1, $2, GREATEST($3::double precision, 0)) "
    "ON CONFLICT (key_id, period) DO UPDATE "
    "SET spent = GREATEST(s.spent + $3::double precision, 0) RETURNING s.spent"
)


_SETTINGS: Final = {"synchronous_commit": "off"}  # spend: see the module's docstring
_DURABLE: Final = "SET LOCAL synchronous_commit = on"


class PostgresKeyStore:
    backend = "postgres"

    def __init__(self, dsn: str, *, call_timeout: float = 2.0) -> None:
        self._dsn = dsn
        self.call_timeout = call_timeout
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def _ready(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                pool = await open_pool(
                    self._dsn, self.call_timeout, _SCHEMA_LOCK, _SCHEMA, _SETTINGS
                )
                self._pool = pool
        return self._pool

    async def _call(self, method: str, query: str, *args: Any, durable: bool = False) -> Any:
        try:
            async with asyncio.timeout(self.call_timeout * 2):
                pool = await self._ready()
                async with pool.acquire(timeout=self.call_timeout) as conn:
                    if not durable:
                        return await getattr(conn, method)(query, *args)
                    async with conn.transaction():
                        await conn.execute(_DURABLE)
                        return await getattr(conn, method)(query, *args)
        except KeyStoreError:
            raise
        except Exception as exc:  # driver errors, refused, timeouts: no answer
            raise KeyStoreError(f"key store (postgres): {type(exc).__name__}") from None

    async def create(self, record: KeyRecord) -> None:
        done = await self._call(
            "fetchval",
            f"INSERT INTO {_KEYS} (id, doc) VALUES ($1, $2::jsonb) "
            "ON CONFLICT (id) DO NOTHING RETURNING id",
            record.id,
            orjson.dumps(record.to_doc()).decode(),
            durable=True,
        )
        if done is None:
            raise KeyStoreError(f"key id {record.id} exists")

    async def get(self, key_id: str) -> KeyRecord | None:
        raw = await self._call("fetchval", f"SELECT doc::text FROM {_KEYS} WHERE id = $1", key_id)
        return KeyRecord.from_doc(orjson.loads(raw)) if raw is not None else None

    async def list(self) -> list[KeyRecord]:
        rows = await self._call("fetch", f"SELECT doc::text AS doc FROM {_KEYS}")
        found = [KeyRecord.from_doc(orjson.loads(r["doc"])) for r in rows]
        return sorted(found, key=lambda r: r.created_at)

    async def put(self, record: KeyRecord) -> None:
        await self._call(
            "execute",
            f"UPDATE {_KEYS} SET doc = $2::jsonb, updated_at = clock_timestamp() WHERE id = $1",
            record.id,
            orjson.dumps(record.to_doc()).decode(),
            durable=True,
        )

    async def reserve(self, key_id: str, period: str, amount: float, limit: float) -> float | None:
        got = await self._call("fetchval", _RESERVE, key_id, period, amount, limit)
        return None if got is None else float(got)

    async def adjust(self, key_id: str, period: str, delta: float) -> float:
        got = await self._call("fetchval", _ADJUST, key_id, period, delta)
        return float(got)

    async def spent(self, key_id: str, period: str) -> float:
        got = await self._call(
            "fetchval",
            f"SELECT spent FROM {_SPEND} WHERE key_id = $1 AND period = $2",
            key_id,
            period,
        )
        return float(got) if got is not None else 0.0

    async def version(self) -> object:
        row = await self._call("fetchrow", f"SELECT count(*), max(updated_at) FROM {_KEYS}")
        return (row[0], row[1])

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.call_timeout)
            except (TimeoutError, OSError):
                pool.terminate()
