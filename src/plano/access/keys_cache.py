"""Each worker's cache of the keys it has seen, kept in step with the store by a version poll.

Every `ttl` seconds (default 2 s) the worker reads the store's version (one cheap query or stat,
whatever the number of keys); when it changed (a key created, revoked, rotated, changed by any
worker or replica) the whole cache is dropped and keys are read again as requests need them. So a
revocation reaches every worker of every replica within `ttl` plus one query, and the store sees
one version read per worker per `ttl`, not one read per key. An entry is also never kept longer
than `MAX_AGE` (a safety net should a version be missed). Unknown ids are cached too (a stream of
bogus keys costs one store read per id until the next change). Concurrent misses for one id share
one read; concurrent version checks share one query.

Whoever keeps something derived from an entry (`KeyAccess` keeps the header values it verified)
registers `on_change`: it is called whenever an entry is dropped or replaced, so what it kept is
never used past its entry.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Final

from plano.access.keys_policy import AccessKey
from plano.state.keys import KeyStore

MAX_ENTRIES: Final = 50_000
MAX_AGE: Final = 300.0  # seconds an entry is trusted at most, version unchanged


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
        self._clock = self.clock = clock
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, AccessKey | None]] = OrderedDict()
        self._reads: dict[str, asyncio.Future[AccessKey | None]] = {}
        self._version: object = None
        self._checked = -math.inf  # when the store's version was last read
        self._checking: asyncio.Future[None] | None = None
        self.on_change: Callable[[], None] | None = None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def fresh_until(self, key_id: str) -> float:
        """Until when (this cache's clock) `cached(key_id)` stays fresh, barring a change."""
        entry = self._entries.get(key_id)
        if entry is None:
            return -math.inf
        return min(self._checked + self._ttl, entry[0] + MAX_AGE)

    def cached(self, key_id: str) -> tuple[bool, AccessKey | None]:
        """(fresh, key) from memory alone; `fresh` False means `get` must run (the version is
        due for a check, or the entry is missing or too old)."""
        now = self._clock()
        if now - self._checked >= self._ttl:
            return False, None
        entry = self._entries.get(key_id)
        if entry is None or now - entry[0] >= MAX_AGE:
            return False, None
        return True, entry[1]

    async def _check_version(self) -> None:
        pending = self._checking
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._checking = fut
        try:
            version = await self.store.version()
            if version != self._version:
                self._entries.clear()
                self._changed()
                self._version = version
            self._checked = self._clock()
            fut.set_result(None)
        except Exception as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: waiters re-raise it
            raise
        except BaseException:
            fut.cancel()
            raise
        finally:
            self._checking = None

    async def get(self, key_id: str) -> AccessKey | None:
        if self._clock() - self._checked >= self._ttl:
            await self._check_version()
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
        if self._entries.pop(key_id, None) is not None:
            self._changed()
        self._entries[key_id] = (self._clock(), key)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)
            self._changed()

    def forget(self, key_id: str) -> None:
        """This worker changed the key (admin API): read it again next time."""
        self._entries.pop(key_id, None)
        self._changed()
