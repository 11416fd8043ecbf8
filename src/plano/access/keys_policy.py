"""A key as a worker enforces it: the stored record, its model globs compiled once, checked
against the names a request's model goes by (requested name, alias, route, provider/model)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from fnmatch import translate
from typing import Any

from plano.state.keys import KeyRecord


class AccessKey:
    __slots__ = (
        "_exact",
        "_globs",
        "allowed",
        "any_model",
        "expires_at",
        "limited",
        "name",
        "plain",
        "record",
        "team",
        "verified",
    )

    def __init__(self, record: KeyRecord) -> None:
        self.record = record
        # The secret last found to match the hash (hashing is skipped while the same one comes).
        self.verified: bytes | None = None
        self.name, self.team = record.name, record.team
        self.any_model = not record.models or "*" in record.models
        self.plain = self.any_model and record.budget_usd is None  # Authorize only counts it
        self.limited = record.rpm is not None or record.tpm is not None
        self.expires_at = record.expires_at if record.expires_at is not None else math.inf
        self.allowed: Any = None  # its `allowed` request counter, made on first use
        self._exact = frozenset(m for m in record.models if "*" not in m and "?" not in m)
        globs = [translate(m) for m in record.models if m not in self._exact]
        self._globs = re.compile("|".join(globs)) if globs else None

    def allows(self, names: Iterable[str | None]) -> bool:
        """True when one of `names` is an allowed model, alias or route."""
        if self.any_model:
            return True
        for name in names:
            if name is None:
                continue
            if name in self._exact or (self._globs is not None and self._globs.match(name)):
                return True
        return False

    def live(self, now: float) -> str | None:
        """Why the key cannot be used now (revoked, expired), or None."""
        r = self.record
        if r.revoked_at is not None:
            return "revoked"
        if r.expires_at is not None and now >= r.expires_at:
            return "expired"
        return None
