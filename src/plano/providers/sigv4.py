"""AWS Signature Version 4 for Bedrock requests: pure, given the request and the clock.

`sign()` returns the headers to add (``x-amz-date``, ``x-amz-content-sha256``, optional
``x-amz-security-token`` and ``authorization``). The canonical request follows AWS's rules for
services other than S3: the path is URI-encoded a second time (a ``%3A`` in a Bedrock model id
becomes ``%253A``), query pairs are sorted and encoded, header values trimmed and inner spaces
collapsed, and the payload is hashed with SHA-256.

Credentials come from the standard AWS environment variables, read once when clusters are built
(`Credentials.from_env`); they never appear in logs or errors (`__repr__` hides them).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final
from urllib.parse import parse_qsl, quote, urlsplit

ALGORITHM: Final = "AWS4-HMAC-SHA256"
_UNRESERVED: Final = "-_.~"


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Credentials | None:
        """`AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`), if both set."""
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if not key or not secret:
            return None
        return cls(key, secret, env.get("AWS_SESSION_TOKEN") or None)


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The derived key: HMAC chain over date (YYYYMMDD), region, service, ``aws4_request``."""
    k = _hmac(("AWS4" + secret).encode("utf-8"), date)
    return _hmac(_hmac(_hmac(k, region), service), "aws4_request")


def canonical_uri(path: str) -> str:
    """The path as sent, encoded once more (non-S3 rule); ``/`` kept."""
    return quote(path or "/", safe="/" + _UNRESERVED)


def canonical_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    encoded = sorted((quote(k, safe=_UNRESERVED), quote(v, safe=_UNRESERVED)) for k, v in pairs)
    return "&".join(f"{k}={v}" for k, v in encoded)


def _trim(value: str) -> str:
    return " ".join(value.split())


@dataclass(frozen=True, slots=True)
class Signed:
    headers: tuple[tuple[str, str], ...]  # to add to the request
    canonical_request: str  # for tests and debugging; holds no secret
    string_to_sign: str


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    region: str,
    credentials: Credentials,
    service: str = "bedrock",
    now: datetime | None = None,
    content_sha256_header: bool = True,
) -> Signed:
    """Sign one request. `headers` are those that will be sent (host is taken from `url`)."""
    when = (now or datetime.now(UTC)).astimezone(UTC)
    amz_date = when.strftime("%Y%m%dT%H%M%SZ")
    date = amz_date[:8]
    parts = urlsplit(url)
    payload_hash = hashlib.sha256(body).hexdigest()
    added: list[tuple[str, str]] = [("x-amz-date", amz_date)]
    if content_sha256_header:
        added.append(("x-amz-content-sha256", payload_hash))
    if credentials.session_token:
        added.append(("x-amz-security-token", credentials.session_token))
    signed_map: dict[str, str] = {k.lower(): _trim(v) for k, v in headers.items()}
    signed_map.setdefault("host", parts.netloc)
    signed_map.update((k, v) for k, v in added)
    names = sorted(signed_map)
    canonical_headers = "".join(f"{n}:{signed_map[n]}\n" for n in names)
    signed_headers = ";".join(names)
    canonical = "\n".join(
        [
            method.upper(),
            canonical_uri(parts.path),
            canonical_query(parts.query),
            canonical_headers,
            signed_headers,
            payload_hash,
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode("utf-8")).hexdigest()]
    )
    key = signing_key(credentials.secret_access_key, date, region, service)
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = (
        f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Signed((*added, ("authorization", authorization)), canonical, to_sign)
