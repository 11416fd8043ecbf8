"""What the CLI (`plano keys`) and the admin API (`/admin/keys`) do to keys, in one place.

A key is shown in clear exactly once: in the answer to `create` and `rotate`. Everything else
(list, show, revoke, errors, logs) names a key by its id and name only.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import replace
from typing import Any, Final

from plano.access.budget import period_label
from plano.access.keys import format_key, hash_secret, new_id, new_secret
from plano.errors import BadRequest, NotFound
from plano.state.keys import KeyRecord, KeyStore, Period, now

_RELATIVE: Final = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT: Final = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_ID: Final = re.compile(r"^[0-9a-f]{12}$")
PERIODS: Final = ("day", "month", "total")


def parse_expiry(value: str, at: float) -> float:
    """`30d`, `12h`, `2w` from now, or a date/time (`2027-01-31`, ISO 8601; UTC if no zone)."""
    m = _RELATIVE.match(value)
    if m:
        return at + int(m.group(1)) * _UNIT[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadRequest(
            f"expires: {value!r} is neither a duration (30d, 12h) nor a date (2027-01-31)",
            param="expires",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp()


def _str(doc: dict[str, Any], name: str) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise BadRequest(f"{name}: expected a non-empty string", param=name)
    return value.strip()


def _positive(doc: dict[str, Any], name: str, kind: type) -> Any:
    value = doc.get(name)
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0 or (kind is int and value != int(value)):
        raise BadRequest(f"{name}: expected a positive number", param=name)
    return kind(value)


def spec_from(doc: Any, at: float) -> KeyRecord:
    """A new key's record (without id and hash yet) from the admin API's JSON or the CLI."""
    if not isinstance(doc, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = set(doc) - {
        "name", "team", "app", "models", "rpm", "tpm", "budget", "period", "alert_at",
        "expires", "meta",
    }  # fmt: skip
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    name = _str(doc, "name")
    if name is None:
        raise BadRequest("name is required", param="name")
    models = doc.get("models") or []
    if isinstance(models, str):
        models = [m.strip() for m in models.split(",") if m.strip()]
    if not isinstance(models, list) or not all(isinstance(m, str) and m for m in models):
        raise BadRequest("models: expected a list of model names, aliases or globs")
    period: Period = doc.get("period") or "month"
    if period not in PERIODS:
        raise BadRequest("period: expected day, month or total", param="period")
    alert = _positive(doc, "alert_at", float)
    if alert is not None and alert > 1:
        raise BadRequest("alert_at: a fraction of the budget, above 0 and at most 1")
    meta = doc.get("meta") or {}
    if not isinstance(meta, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
    ):
        raise BadRequest("meta: expected an object of strings", param="meta")
    expires = doc.get("expires")
    if expires is not None and not isinstance(expires, str):
        raise BadRequest("expires: expected a duration (30d) or a date", param="expires")
    return KeyRecord(
        id="",
        name=name,
        secret_hash="",
        team=_str(doc, "team"),
        app=_str(doc, "app"),
        models=tuple(models),
        rpm=_positive(doc, "rpm", int),
        tpm=_positive(doc, "tpm", int),
        budget_usd=_positive(doc, "budget", float),
        period=period,
        alert_at=alert,
        expires_at=parse_expiry(expires, at) if expires else None,
        meta=dict(meta),
        created_at=at,
    )


async def create(store: KeyStore, doc: Any) -> tuple[KeyRecord, str]:
    """A new key: its record and the key in clear (shown this once)."""
    at = now()
    secret, key_id = new_secret(), new_id()
    record = replace(spec_from(doc, at), id=key_id, secret_hash=hash_secret(secret))
    await store.create(record)
    return record, format_key(key_id, secret)


async def find(store: KeyStore, key_id: str) -> KeyRecord:
    key_id = key_id.removeprefix("pk-")[:12]
    record = await store.get(key_id) if _ID.match(key_id) else None
    if record is None:
        raise NotFound(f"no key with id {key_id!r}")
    return record


async def rotate(store: KeyStore, key_id: str) -> tuple[KeyRecord, str]:
    """A new secret for the same key (id, limits, budget kept); the old one stops working."""
    record = await find(store, key_id)
    secret = new_secret()
    record = replace(record, secret_hash=hash_secret(secret))
    await store.put(record)
    return record, format_key(record.id, secret)


async def revoke(store: KeyStore, key_id: str) -> KeyRecord:
    record = await find(store, key_id)
    if record.revoked_at is None:
        record = record.revoked(now())
        await store.put(record)
    return record


async def shown(store: KeyStore, record: KeyRecord) -> dict[str, Any]:
    """A key as the CLI and API show it: its record (no hash) and this period's spend."""
    doc = record.public()
    if record.budget_usd is not None:
        doc["spent_usd"] = await store.spent(record.id, period_label(record.period, now()))
    return doc
