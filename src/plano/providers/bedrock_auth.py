"""How a Bedrock request is authenticated, decided once per cluster.

In order: the provider's `access_key` (a Bedrock API key, sent as ``Authorization: Bearer``, as the
original does), else ``AWS_BEARER_TOKEN_BEDROCK``, else SigV4 with ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``. The SigV4 region is the one in the endpoint
host (``bedrock-runtime.<region>.amazonaws.com``), else ``AWS_REGION``, else
``AWS_DEFAULT_REGION``, else ``us-east-1``. SigV4 signs the final body, so it runs per request
(`BedrockSigner.headers`); the bearer forms are static headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from plano.providers.sigv4 import Credentials, sign

BEARER_ENV: Final = "AWS_BEARER_TOKEN_BEDROCK"
DEFAULT_REGION: Final = "us-east-1"
_SIGNED: Final = frozenset({"host", "content-type"})
_HOST_REGION: Final = re.compile(r"^bedrock(?:-runtime)?(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com")


@dataclass(frozen=True, slots=True)
class BedrockSigner:
    """Signs each request with SigV4 (service ``bedrock``)."""

    region: str
    credentials: Credentials

    def headers(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime | None = None,
    ) -> tuple[tuple[str, str], ...]:
        # Sign only what no one on the way rewrites: Host (when overridden) and Content-Type,
        # plus the x-amz-* headers `sign` adds; other forwarded headers stay unsigned.
        kept = {k: v for k, v in headers.items() if k.lower() in _SIGNED}
        signed = sign(
            "POST", url, kept, body, region=self.region, credentials=self.credentials, now=now
        )
        return signed.headers


def region_for(host: str, env: Mapping[str, str]) -> str:
    match = _HOST_REGION.match(host)
    if match:
        return match.group(1)
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def bedrock_credential(
    access_key: str | None, host: str, env: Mapping[str, str]
) -> tuple[str | None, BedrockSigner | None]:
    """(bearer token, signer): at most one is set; both None means no credential at all."""
    if access_key:
        return access_key, None
    token = env.get(BEARER_ENV)
    if token:
        return token, None
    creds = Credentials.from_env(env)
    if creds is None:
        return None, None
    return None, BedrockSigner(region_for(host, env), creds)
