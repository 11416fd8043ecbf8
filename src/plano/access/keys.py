"""Gateway keys: their format, how they are hashed, and how one is read from a request.

A key is `pk-<id>-<secret>`: `id` is 12 hex digits (the store's primary key, so a request's key
is found without scanning), `secret` 43 URL-safe characters from `secrets.token_urlsafe(32)`
(256 random bits). Only the SHA-256 of the secret is stored. No slow hash (bcrypt, scrypt,
argon2) is needed: those protect low-entropy passwords against guessing from a stolen hash; a
256-bit random secret cannot be guessed whatever the hash costs, and a fast hash keeps the check
at about a microsecond per request. The comparison is in constant time (`hmac.compare_digest`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Final

PREFIX: Final = "pk-"
_ID_LEN: Final = 12
_HEX: Final = frozenset("0123456789abcdef")
_MAX_LEN: Final = 200
_AUTHORIZATION: Final = b"authorization"
_X_API_KEY: Final = b"x-api-key"


def new_id() -> str:
    return secrets.token_hex(_ID_LEN // 2)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def format_key(key_id: str, secret: str) -> str:
    return f"{PREFIX}{key_id}-{secret}"


def parse_key(token: str) -> tuple[str, str] | None:
    """(id, secret) of a gateway key, or None for anything else."""
    if not token.startswith(PREFIX) or len(token) > _MAX_LEN:
        return None
    key_id = token[3 : 3 + _ID_LEN]
    if (
        len(key_id) != _ID_LEN
        or not _HEX.issuperset(key_id)
        or token[3 + _ID_LEN : 4 + _ID_LEN] != "-"
    ):
        return None
    secret = token[4 + _ID_LEN :]
    return (key_id, secret) if secret else None


def bearer(value: bytes) -> str:
    """The credential of an `Authorization` value (`Bearer` prefix stripped)."""
    text = value.decode("latin-1").strip()
    scheme, _, rest = text.partition(" ")
    return rest.strip() if scheme.lower() == "bearer" else text


class KeyHeaders:
    """Where a request may carry its gateway key: `Authorization: Bearer`, `x-api-key`, and the
    configured extra header. Built once."""

    def __init__(self, extra: str | None = None) -> None:
        names = [_AUTHORIZATION, _X_API_KEY]
        if extra:
            names.append(extra.lower().encode("latin-1"))
        self.names: Final = frozenset(names)

    def find(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[int, str] | None:
        """(index of the header, the key) of the first header carrying a gateway key; None
        when none does (a provider key sent for `passthrough_auth` is not one)."""
        names = self.names
        for i, (k, v) in enumerate(headers):
            if k in names and b"pk-" in v:
                token = bearer(v) if k == _AUTHORIZATION else v.decode("latin-1").strip()
                if token.startswith(PREFIX):
                    return i, token
        return None
