"""PostgreSQL conversation store (asyncpg, imported lazily; pool created on first use).

Writes run in the background (`PendingWrites`); a load waits for a pending write of its id.

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

_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# A response's stored Responses input items (a `ConversationStore`'s `Items`; the store protocol,
# which this class meets, lives in `conversations`, which builds this backend).
Items = list[dict[str, Any]]


class PendingWrites:
    """Background writes by response id, so that a load can wait for its own pending write."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, response_id: str, write: Any) -> None:
        task = asyncio.ensure_future(write)
        self._tasks[response_id] = task
        task.add_done_callback(lambda t: self._done(response_id, t))

    def _done(self, response_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(response_id) is task:
            del self._tasks[response_id]
        if not task.cancelled():
            task.exception()  # retrieved: a failed write is not fatal (the original ignores it)

    async def wait(self, response_id: str) -> None:
        task = self._tasks.get(response_id)
        if task is not None:
            await asyncio.wait([task])

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()))


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
