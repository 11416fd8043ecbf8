"""How a credential is presented upstream, by provider row and upstream API."""

from __future__ import annotations

from typing import Final

from plano.providers.catalogue import Api, Auth, ProviderRow

ANTHROPIC_VERSION: Final = "2023-06-01"

# Client headers that carry a credential; never forwarded as they are.
CREDENTIAL_HEADERS: Final = frozenset({"authorization", "x-api-key", "api-key", "x-goog-api-key"})


def auth_headers(row: ProviderRow, api: Api, credential: str | None) -> tuple[tuple[str, str], ...]:
    """Headers that present `credential` the way this upstream API expects it."""
    if api is Api.ANTHROPIC_MESSAGES:
        version = (("anthropic-version", ANTHROPIC_VERSION),)
        return (("x-api-key", credential), *version) if credential else version
    if not credential:
        return ()
    if row.auth is Auth.AZURE_API_KEY:
        return (("api-key", credential),)
    if api is Api.GEMINI:
        return (("x-goog-api-key", credential),)
    return (("authorization", f"Bearer {credential}"),)


def client_credential(authorization: str | None, x_api_key: str | None) -> str | None:
    """The client's own credential, for `passthrough_auth` (Bearer prefix stripped)."""
    if authorization:
        scheme, _, rest = authorization.partition(" ")
        return rest.strip() if scheme.lower() == "bearer" and rest else authorization.strip()
    return x_api_key.strip() if x_api_key else None
