"""PostgreSQL conversation store (asyncpg, imported lazily; pool created on first use).

Writes run in the background (`PendingWrites`); a load waits for a pending write of its id.

Every call is bounded (`deadline`): a load by the time left of the request's deadline and by the
per-call cap `call_timeout` (default 2 s), pool creation, connection acquire, a pending write of
the same id and the query included; past that it raises `StateStoreTimeout` (504) and the request
does not wait for the database's cleanup. A background write is bounded by the cap alone; a
failed or timed-out write is logged (at most every 30 s) and counted in `write_failures`.

Across replicas a follow-up turn can reach another gateway while the one that answered the
previous turn is still writing it: a load that finds nothing looks once more 50 ms later (inside
the same bound) before the request gets its 409.

The gateway creates its table itself on first use (`CREATE TABLE IF NOT EXISTS`), in the schema
named by `schema` (default: the connection's search_path, which a `?search_path=...` query
parameter of the connection string sets), with the original's column set:
`conversation_states(response_id TEXT PRIMARY KEY, input_items JSONB, created_at BIGINT,
model TEXT, provider TEXT, updated_at TIMESTAMP)`, upserted on conflict.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Coroutine
from typing import Any, Final, TypeVar

import orjson

from plano.state.deadline import CONVERSATION_CALL_TIMEOUT_S, StateStoreTimeout, budget
from plano.state.postgres_pool import open_pool

log = logging.getLogger("plano.state")

_IDENT: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_WARN_EVERY_S: Final = 30.0
_FLUSH_GRACE_S: Final = 0.5  # flush(): how long past the cap a capped write may take to finish
# An unknown id is looked up once more after this long (a write in flight on another replica).
# A miss is looked up again after these pauses (0.75 s in all, within the request's bound).
MISS_RECHECKS_S: Final = (0.05, 0.1, 0.2, 0.4)
_SCHEMA_LOCK: Final = 7262112  # the advisory lock around the table's creation

# A response's stored Responses input items (a `ConversationStore`'s `Items`; the store protocol,
# which this class meets, lives in `conversations`, which builds this backend).
Items = list[dict[str, Any]]
T = TypeVar("T")


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


async def bounded(work: Coroutine[Any, Any, T], seconds: float, what: str) -> T:
    """`work`'s result if it finishes within `seconds`, else `StateStoreTimeout`; the work is
    then cancelled and left to clean up in the background (a frozen server would otherwise hold
    the caller in the driver's cleanup)."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait([task], timeout=seconds)
    except asyncio.CancelledError:  # the request itself ended (client gone, drain)
        task.cancel()
        task.add_done_callback(_retrieve)
        raise
    if not done:
        task.cancel()
        task.add_done_callback(_retrieve)
        raise StateStoreTimeout(f"{what} did not answer within {seconds:.3g}s")
    return task.result()


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
        _retrieve(task)  # a failed write is not fatal (the original ignores it)

    async def wait(self, response_id: str) -> None:
        task = self._tasks.get(response_id)
        if task is not None:
            await asyncio.wait([task])

    async def drain(self, within: float | None = None) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=within)


class PostgresConversations:
    backend: Final = "postgres"

    def __init__(
        self,
        dsn: str,
        *,
        schema: str | None = None,
        table: str = "conversation_states",
        call_timeout: float = CONVERSATION_CALL_TIMEOUT_S,
    ) -> None:
        if (schema is not None and not _IDENT.match(schema)) or not _IDENT.match(table):
            raise ValueError("schema and table must be plain SQL identifiers")
        self._dsn = dsn
        self._name = f'"{schema}"."{table}"' if schema else f'"{table}"'
        self._schema = schema
        self.call_timeout = call_timeout
        self._pool: Any = None
        self._lock = asyncio.Lock()
        self._pending = PendingWrites()
        self.write_failures = 0
        self._last_warning = -_WARN_EVERY_S

    async def _ready(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            if self._pool is None:
                schema = (
                    [] if not self._schema else [f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"']
                )
                schema.append(
                    f"CREATE TABLE IF NOT EXISTS {self._name} ("
                    "response_id TEXT PRIMARY KEY, input_items JSONB NOT NULL, "
                    "created_at BIGINT NOT NULL, model TEXT, provider TEXT, "
                    "updated_at TIMESTAMP NOT NULL DEFAULT now())"
                )
                pool = await open_pool(self._dsn, self.call_timeout, _SCHEMA_LOCK, schema)
                self._pool = pool
        return self._pool

    async def load(self, response_id: str, *, within: float | None = None) -> Items | None:
        """The stored items, within `within` seconds (the request's time left) and the cap."""
        limit = budget(self.call_timeout, within)
        return await bounded(self._load(response_id), limit, "conversation state store (postgres)")

    async def _load(self, response_id: str) -> Items | None:
        await self._pending.wait(response_id)
        pool = await self._ready()
        row = await self._select(pool, response_id)
        # Another replica may have answered the previous turn an instant ago and still be writing
        # it in the background (a loaded replica takes longer): look again, backing off, within
        # the request's bound; an id that is really unknown costs at most these pauses.
        for pause in MISS_RECHECKS_S:
            if row is not None:
                break
            await asyncio.sleep(pause)
            row = await self._select(pool, response_id)
        if row is None:
            return None
        items: Items = orjson.loads(row)
        return items

    async def _select(self, pool: Any, response_id: str) -> str | None:
        async with pool.acquire(timeout=self.call_timeout) as conn:
            row: str | None = await conn.fetchval(
                f"SELECT input_items::text FROM {self._name} WHERE response_id = $1", response_id
            )
        return row

    def save(self, response_id: str, items: Items, model: str, provider: str) -> None:
        self._pending.start(response_id, self._write(response_id, items, model, provider))

    async def _write(self, response_id: str, items: Items, model: str, provider: str) -> None:
        data = orjson.dumps(items).decode()
        try:
            await bounded(
                self._upsert(response_id, data, model, provider),
                self.call_timeout,
                "conversation state store (postgres)",
            )
        except Exception as exc:  # driver errors, the database down, the cap: logged, counted
            self._write_failed(exc)

    async def _upsert(self, response_id: str, data: str, model: str, provider: str) -> None:
        pool = await self._ready()
        async with pool.acquire(timeout=self.call_timeout) as conn:
            await conn.execute(
                f"INSERT INTO {self._name} (response_id, input_items, created_at, model, provider) "
                "VALUES ($1, $2::jsonb, $3, $4, $5) ON CONFLICT (response_id) DO UPDATE SET "
                "input_items = EXCLUDED.input_items, model = EXCLUDED.model, "
                "provider = EXCLUDED.provider, updated_at = now()",
                response_id,
                data,
                int(time.time()),
                model,
                provider,
            )

    def _write_failed(self, exc: Exception) -> None:
        self.write_failures += 1
        now = time.monotonic()
        if now - self._last_warning >= _WARN_EVERY_S:
            self._last_warning = now
            log.warning(
                "conversation state store: postgres write failed (%s); the response was not"
                " stored (%d write failures so far)",
                exc if isinstance(exc, StateStoreTimeout) else type(exc).__name__,
                self.write_failures,
            )

    async def flush(self) -> None:
        """Wait for the pending background writes (each bounded by the cap). A write that hits
        the cap ends just after it (its handling), so the wait is the cap plus a grace: a wait of
        exactly the cap raced it (which timer fires first differs between Python versions)."""
        await self._pending.drain(self.call_timeout + _FLUSH_GRACE_S)

    async def close(self) -> None:
        await self.flush()
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.call_timeout)
            except (TimeoutError, OSError):
                pool.terminate()
