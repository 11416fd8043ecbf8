"""The in-process key store (tests, one worker): keys and spend in dicts."""

from __future__ import annotations

from plano.state.keys import KeyRecord, KeyStoreError


class MemoryKeyStore:
    """In-process keys and spend (tests, a single worker)."""

    backend = "memory"

    def __init__(self) -> None:
        self._keys: dict[str, KeyRecord] = {}
        self._spend: dict[tuple[str, str], float] = {}
        self._version = 0

    async def create(self, record: KeyRecord) -> None:
        if record.id in self._keys:
            raise KeyStoreError(f"key id {record.id} exists")
        self._keys[record.id] = record
        self._version += 1

    async def get(self, key_id: str) -> KeyRecord | None:
        return self._keys.get(key_id)

    async def list(self) -> list[KeyRecord]:
        return sorted(self._keys.values(), key=lambda r: r.created_at)

    async def put(self, record: KeyRecord) -> None:
        self._keys[record.id] = record
        self._version += 1

    async def version(self) -> object:
        return self._version

    async def reserve(self, key_id: str, period: str, amount: float, limit: float) -> float | None:
        now = self._spend.get((key_id, period), 0.0)
        if now >= limit:
            return None
        spent = self._spend[(key_id, period)] = now + amount
        return spent

    async def adjust(self, key_id: str, period: str, delta: float) -> float:
        return self.adjust_nowait(key_id, period, delta)

    def adjust_nowait(self, key_id: str, period: str, delta: float) -> float:
        value = max(0.0, self._spend.get((key_id, period), 0.0) + delta)
        self._spend[(key_id, period)] = value
        return value

    async def spent(self, key_id: str, period: str) -> float:
        return self._spend.get((key_id, period), 0.0)

    async def close(self) -> None:
        return None
