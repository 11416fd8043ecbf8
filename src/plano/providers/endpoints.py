"""Where a request goes: the upstream URL for a provider row, a model and an upstream API.

Rules (facts of the original): a `base_url` path *replaces* the row's default path prefix, then
the API's suffix is appended (`/chat/completions`, `/messages`, `/responses`). Gemini is
served natively: `{prefix}/models/{model}:generateContent` or `:streamGenerateContent?alt=sse`.
Azure OpenAI puts the deployment (model) in the path with an api-version query; Bedrock puts the
model in the path and picks `converse` or `converse-stream` by the stream flag; Perplexity serves
unversioned paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import quote, urlsplit

from plano.providers.catalogue import Api, ProviderRow

AZURE_API_VERSION: Final = "2025-01-01-preview"

_SUFFIX: Final = {
    Api.OPENAI_CHAT: "/chat/completions",
    Api.ANTHROPIC_MESSAGES: "/messages",
    Api.OPENAI_RESPONSES: "/responses",
}


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of an upstream, plus the path prefix its API paths hang from."""

    scheme: str
    host: str
    port: int
    path_prefix: str
    base: str  # scheme://host[:port], computed once


def _base(scheme: str, host: str, port: int) -> str:
    name = f"[{host}]" if ":" in host else host  # IPv6 literal
    default = 443 if scheme == "https" else 80
    return f"{scheme}://{name}" if port == default else f"{scheme}://{name}:{port}"


def origin(row: ProviderRow, base_url: str | None) -> Origin:
    """The upstream origin of a provider; a config `base_url` wins over the row's default."""
    url = base_url or row.base_url
    if url is None:
        raise ValueError(f"provider '{row.prefix}' needs a base_url")
    parts = urlsplit(url)
    scheme = parts.scheme or "https"
    port = parts.port or (443 if scheme == "https" else 80)
    host = parts.hostname or ""
    prefix = parts.path.rstrip("/") or row.path_prefix
    return Origin(scheme, host, port, prefix, _base(scheme, host, port))


def path_for(row: ProviderRow, org: Origin, api: Api, model_id: str, stream: bool) -> str:
    """The request path (with query) on the upstream for one API call."""
    if api is Api.BEDROCK_CONVERSE:
        action = "converse-stream" if stream else "converse"
        return f"{org.path_prefix}/model/{quote(model_id, safe='')}/{action}"
    if row.prefix == "azure_openai":
        dep = quote(model_id, safe="")
        return (
            f"{org.path_prefix}/openai/deployments/{dep}{_SUFFIX[api]}"
            f"?api-version={AZURE_API_VERSION}"
        )
    if api is Api.GEMINI:
        action = "streamGenerateContent?alt=sse" if stream else "generateContent"
        # A base_url copied from Google's OpenAI-compatible docs (.../v1beta/openai) still works.
        prefix = org.path_prefix.removesuffix("/openai")
        model = model_id.removeprefix("models/")
        return f"{prefix}/models/{quote(model, safe='')}:{action}"
    return org.path_prefix + _SUFFIX[api]


def embeddings_path(row: ProviderRow, org: Origin, model_id: str) -> str | None:
    """The `/v1/embeddings` path on an upstream: OpenAI-compatible providers (Azure by
    deployment), Gemini's `batchEmbedContents`, Bedrock's `invoke` for Titan and Cohere embedding
    models; None for a provider without one here."""
    if row.prefix == "azure_openai":
        dep = quote(model_id, safe="")
        return (
            f"{org.path_prefix}/openai/deployments/{dep}/embeddings?api-version={AZURE_API_VERSION}"
        )
    if row.chat_api is Api.GEMINI:
        prefix = org.path_prefix.removesuffix("/openai")
        model = model_id.removeprefix("models/")
        return f"{prefix}/models/{quote(model, safe='')}:batchEmbedContents"
    if row.chat_api is Api.BEDROCK_CONVERSE:
        low = model_id.lower()
        if "titan-embed" in low or "cohere.embed" in low:  # translate.embeddings_bedrock
            return f"{org.path_prefix}/model/{quote(model_id, safe='')}/invoke"
        return None
    if row.chat_api is Api.OPENAI_CHAT:
        return org.path_prefix + "/embeddings"
    return None
