"""A PostgreSQL pool for a store, with the store's tables created once it opens.

Several gateways (workers, replicas) may open their pools at the same moment; concurrent
`CREATE ... IF NOT EXISTS` statements can still collide in PostgreSQL's catalog
(`UniqueViolationError`), so the statements run in one transaction under an advisory lock: one
gateway creates, the others wait for it and find everything there. asyncpg is imported here only.

A connection going back to the pool is not reset the asyncpg way (`Connection.reset`: one more
round trip per query, `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`, which
doubled the work of a key budget's reservation and settlement): the stores keep no session state
(no LISTEN, no session advisory lock, no SET, no cursor), so only a transaction left open is
rolled back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


async def open_pool(
    dsn: str,
    cap: float,
    lock_id: int,
    schema: Sequence[str],
    settings: Mapping[str, str] | None = None,
) -> Any:
    """An open asyncpg pool (1–4 connections, `cap` seconds on connects and commands, the
    session `settings`) whose `schema` statements have run; the pool is closed again when they
    fail."""
    import asyncpg

    pool = asyncpg.create_pool(
        dsn,
        min_size=1,
        max_size=4,
        timeout=cap,
        command_timeout=cap,
        reset=_reset,
        server_settings=dict(settings or {}),
    )
    try:
        await pool
        async with pool.acquire(timeout=cap) as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", lock_id)
            for statement in schema:
                await conn.execute(statement)
    except BaseException:
        pool.terminate()
        raise
    return pool


async def _reset(conn: Any) -> None:
    """What a connection needs before its next user: no transaction left open."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
