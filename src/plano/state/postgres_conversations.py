"""PostgreSQL conversation store (asyncpg, imported lazily; pool created on first use).

The gateway creates its table itself on first use (`CREATE TABLE IF NOT EXISTS`), in the schema
named by `schema` (default: the connection's search_path, which a `?search_path=...` query
parameter of the connection string sets), with the original's column set:
`conversation_states(response_id TEXT PRIMARY KEY, input_items JSONB, created_at BIGINT,
model TEXT, provider TEXT, updated_at TIMESTAMP)`, upserted on conflict.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any, Final

import orjson

from plano.state.conversations import Items, PendingWrites

_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresConversations:
    def __init__(
        self, dsn: str, *, schema: str | None = None, table: str = "conversation_states"
    ) -> None:
        if (schema is not None and not _IDENT.match(schema)) or not _IDENT.match(table):
            raise ValueError("schema and table must be plain SQL identifiers")
        self._dsn = dsn
        self._name = f'"{schema}"."{table}"' if schema else f'"{table}"'
        self._schema = schema
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._pending = PendingWrites()

    async def _ready(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                import asyncpg

                pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=4)
                async with pool.acquire() as conn:
                    if self._schema:
                        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
                    await conn.execute(
                        f"CREATE TABLE IF NOT EXISTS {self._name} ("
                        "response_id TEXT PRIMARY KEY, input_items JSONB NOT NULL, "
                        "created_at BIGINT NOT NULL, model TEXT, provider TEXT, "
                        "updated_at TIMESTAMP NOT NULL DEFAULT now())"
                    )
                self._pool = pool
        return self._pool

    async def load(self, response_id: str) -> Items | None:
        await self._pending.wait(response_id)
        pool = await self._ready()
        row = await pool.fetchval(
            f"SELECT input_items::text FROM {self._name} WHERE response_id = $1", response_id
        )
        if row is None:
            return None
        items: Items = orjson.loads(row)
        return items

    def save(self, response_id: str, items: Items, model: str, provider: str) -> None:
        self._pending.start(response_id, self._write(response_id, items, model, provider))

    async def _write(self, response_id: str, items: Items, model: str, provider: str) -> None:
        pool = await self._ready()
        await pool.execute(
            f"INSERT INTO {self._name} (response_id, input_items, created_at, model, provider) "
            "VALUES ($1, $2::jsonb, $3, $4, $5) ON CONFLICT (response_id) DO UPDATE SET "
            "input_items = EXCLUDED.input_items, model = EXCLUDED.model, "
            "provider = EXCLUDED.provider, updated_at = now()",
            response_id,
            orjson.dumps(items).decode(),
            int(time.time()),
            model,
            provider,
        )

    async def close(self) -> None:
        await self._pending.drain()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
