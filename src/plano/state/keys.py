"""Gateway keys as stored: `KeyRecord` and the `KeyStore` protocol (backends: `keys_memory`,
`keys_file`, `keys_postgres`).

A key record never holds the key itself: only the SHA-256 of its secret part (`secret_hash`).
Spend is kept per (key id, period label) as one number that includes the reservations of the
requests in flight: `reserve` adds an estimate only while the number is below the limit (one
atomic step in every backend), `adjust` moves it by the difference once the real cost is known
(or takes the estimate back when the request failed).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal, Protocol, runtime_checkable

Period = Literal["day", "month", "total"]


class KeyStoreError(Exception):
    """The key store could not answer (unreachable, timed out, failed)."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    name: str
    secret_hash: str  # hex SHA-256 of the secret part of the key
    team: str | None = None
    app: str | None = None
    models: tuple[str, ...] = ()  # allowed models, aliases, routes (globs); empty: all
    rpm: int | None = None
    tpm: int | None = None
    budget_usd: float | None = None
    period: Period = "month"
    alert_at: float | None = None  # fraction of the budget that raises the soft alert
    expires_at: float | None = None  # epoch seconds
    meta: dict[str, str] = field(default_factory=dict)
    created_at: float = 0.0
    revoked_at: float | None = None

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["models"] = list(self.models)
        return doc

    @classmethod
    def from_doc(cls, doc: Any) -> KeyRecord:
        """A record from its stored JSON; `KeyStoreError` for anything that is not one."""
        try:
            known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
            known["models"] = tuple(str(m) for m in known.get("models") or ())
            known["meta"] = {str(k): str(v) for k, v in (known.get("meta") or {}).items()}
            record = cls(**known)
        except (AttributeError, TypeError, ValueError) as exc:
            raise KeyStoreError("a stored key record is damaged") from exc
        if not isinstance(record.id, str) or not isinstance(record.secret_hash, str):
            raise KeyStoreError("a stored key record is damaged")
        return record

    def public(self) -> dict[str, Any]:
        """What the CLI and the admin API show: everything but the hash."""
        doc = self.to_doc()
        del doc["secret_hash"]
        return doc

    def revoked(self, now: float) -> KeyRecord:
        return replace(self, revoked_at=now)


class KeyStore(Protocol):
    backend: str

    async def create(self, record: KeyRecord) -> None: ...

    async def get(self, key_id: str) -> KeyRecord | None: ...

    async def list(self) -> list[KeyRecord]: ...

    async def put(self, record: KeyRecord) -> None:
        """Replace the record of an existing key (revoke, rotate)."""

    async def reserve(self, key_id: str, period: str, amount: float, limit: float) -> float | None:
        """Add `amount` to the spend of (key, period) if it is below `limit`: the new spend;
        None when it is not below."""

    async def adjust(self, key_id: str, period: str, delta: float) -> float:
        """Move the spend of (key, period) by `delta`; the new spend."""

    async def spent(self, key_id: str, period: str) -> float: ...

    async def version(self) -> object:
        """A value that changes whenever any key is created or changed (spend excluded)."""

    async def close(self) -> None: ...


@runtime_checkable
class NowaitSpend(Protocol):
    """A store that can often move spend without waiting (memory; the file store's table):
    settling then costs no task. None: not now, use `adjust`."""

    def adjust_nowait(self, key_id: str, period: str, delta: float) -> float | None: ...


def now() -> float:
    """Wall-clock seconds (creation, expiry and revocation times are epoch seconds)."""
    return time.time()
