"""Each worker's cache of the keys it has seen: an entry is trusted for `ttl` seconds, then read
again from the store, so a revocation (or any change) reaches every worker of every replica
within `ttl` (default 2 s). Unknown ids are cached too (a stream of bogus keys costs one store
read per id per `ttl`). Concurrent misses for one id share one read.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from plano.access.keys_policy import AccessKey
from plano.state.keys import KeyStore

MAX_ENTRIES: Final = 50_000


class KeyCache:
    def __init__(
        self,
        store: KeyStore,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.store = store
        self._ttl = ttl
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, AccessKey | None]] = OrderedDict()
        self._reads: dict[str, asyncio.Future[AccessKey | None]] = {}

    def cached(self, key_id: str) -> tuple[bool, AccessKey | None]:
        """(fresh, key) from memory alone; `fresh` False means the store must be read."""
        entry = self._entries.get(key_id)
        if entry is None or self._clock() - entry[0] >= self._ttl:
            return False, None
        return True, entry[1]

    async def get(self, key_id: str) -> AccessKey | None:
        fresh, key = self.cached(key_id)
        if fresh:
            return key
        pending = self._reads.get(key_id)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[AccessKey | None] = asyncio.get_running_loop().create_future()
        self._reads[key_id] = fut
        try:
            record = await self.store.get(key_id)
            key = AccessKey(record) if record is not None else None
            self._remember(key_id, key)
            fut.set_result(key)
            return key
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        except BaseException:
            fut.cancel()
            raise
        finally:
            del self._reads[key_id]

    def _remember(self, key_id: str, key: AccessKey | None) -> None:
        self._entries.pop(key_id, None)
        self._entries[key_id] = (self._clock(), key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def forget(self, key_id: str) -> None:
        """This worker changed the key (admin API): read it again next time."""
        self._entries.pop(key_id, None)
