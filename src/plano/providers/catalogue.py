"""The provider catalogue: one row of data per vendor prefix.

A row says where a vendor lives (default base URL and path prefix), how it authenticates, which
upstream API family it speaks for each client API, and how the config may name it. Adding an
OpenAI-compatible vendor is one row here. Code for real differences (Azure deployment paths,
Bedrock's per-model paths) lives in :mod:`plano.providers.paths`.

Nothing here imports the config: the config layer validates provider rows against these facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from plano.wire.api import Api

__all__ = ["Api", "Auth", "ProviderRow"]


class Auth(StrEnum):
    """How the upstream expects its credential."""

    BEARER = "bearer"  # Authorization: Bearer <key>
    X_API_KEY = "x-api-key"  # x-api-key: <key> (+ anthropic-version)
    AZURE_API_KEY = "api-key"  # api-key: <key>
    GOOG_API_KEY = "x-goog-api-key"  # x-goog-api-key: <key> (Gemini)
    NONE = "none"  # no credential (self-hosted Ollama, hosted Plano models)


@dataclass(frozen=True, slots=True)
class ProviderRow:
    prefix: str
    owned_by: str
    base_url: str | None  # scheme://host[:port][/path]; None = base_url required in config
    path_prefix: str  # used when base_url has no path of its own
    chat_api: Api  # upstream API for OpenAI chat-completions clients
    messages_api: Api  # upstream API for Anthropic Messages clients
    responses_api: Api  # upstream API for OpenAI Responses clients
    auth: Auth = Auth.BEARER
    requires_base_url: bool = False
    # May a config use it as `provider_interface` of a custom prefix (schema enum)?
    interface: bool = False
    # May a config use it as a `provider/model` prefix without provider_interface?
    config_prefix: bool = True
    # Answers only streamed requests (ChatGPT's Codex backend): a translated request is always
    # sent with `stream: true`, and the stream is folded back for a client that did not stream.
    stream_only: bool = False
    # Takes a final assistant message as the start of its answer (prefill), so a stream cut
    # midway is continued from the text already sent; without it a continuation instruction
    # asks for the rest (`plano.upstream.continuation`).
    prefill: bool = False

    def upstream_api(self, client_api: Api) -> Api:
        if client_api is Api.ANTHROPIC_MESSAGES:
            return self.messages_api
        if client_api is Api.OPENAI_RESPONSES:
            return self.responses_api
        return self.chat_api


_C = Api.OPENAI_CHAT
_M = Api.ANTHROPIC_MESSAGES
_R = Api.OPENAI_RESPONSES
_B = Api.BEDROCK_CONVERSE
_G = Api.GEMINI


def _compat(
    prefix: str, owned_by: str, base_url: str | None, path_prefix: str = "/v1", **kw: object
) -> ProviderRow:
    """An OpenAI-compatible vendor: every client API reaches it as chat completions."""
    return ProviderRow(prefix, owned_by, base_url, path_prefix, _C, _C, _C, **kw)  # type: ignore[arg-type]


ROWS: Final[tuple[ProviderRow, ...]] = (
    ProviderRow("openai", "OpenAI", "https://api.openai.com", "/v1", _C, _C, _R, interface=True),
    # Every client API reaches Anthropic over its native Messages API (translated): the original
    # sends chat and Responses clients to Anthropic's OpenAI-compatible endpoint, which Anthropic
    # documents as a testing aid that drops features (cache_control, thinking signatures).
    ProviderRow(
        "anthropic", "Anthropic", "https://api.anthropic.com", "/v1", _M, _M, _M, prefill=True
    ),
    ProviderRow(
        "azure_openai",
        "Azure OpenAI",
        None,
        "",
        _C,
        _C,
        _C,
        auth=Auth.AZURE_API_KEY,
        requires_base_url=True,
    ),
    ProviderRow("amazon_bedrock", "Amazon Bedrock", None, "", _B, _B, _B, requires_base_url=True),
    # Served natively (generateContent), not over Google's OpenAI-compatible endpoint, so that
    # thinking, cached-token usage and Gemini's own errors come through.
    ProviderRow(
        "gemini",
        "Google",
        "https://generativelanguage.googleapis.com",
        "/v1beta",
        _G,
        _G,
        _G,
        auth=Auth.GOOG_API_KEY,
        interface=True,
    ),
    _compat("groq", "Groq", "https://api.groq.com", "/openai/v1", interface=True),
    _compat("mistral", "Mistral", "https://api.mistral.ai", interface=True),
    _compat("deepseek", "DeepSeek", "https://api.deepseek.com", interface=True),
    ProviderRow("xai", "xai", "https://api.x.ai", "/v1", _C, _C, _R),
    _compat("together_ai", "Together AI", "https://api.together.xyz"),
    _compat("moonshotai", "Moonshot AI", "https://api.moonshot.ai", interface=True),
    _compat("zhipu", "Zhipu AI", "https://open.bigmodel.cn", "/api/paas/v4"),
    _compat("qwen", "Qwen", None, "/compatible-mode/v1", requires_base_url=True),
    _compat("xiaomi", "Xiaomi", "https://api.xiaomimimo.com", interface=True),
    _compat("digitalocean", "DigitalOcean", "https://inference.do-ai.run", interface=True),
    _compat("ollama", "Ollama", None, auth=Auth.NONE, requires_base_url=True),
    ProviderRow(
        "chatgpt",
        "ChatGPT",
        "https://chatgpt.com/backend-api/codex",
        "",
        _R,
        _R,
        _R,
        interface=True,
        stream_only=True,
    ),
    ProviderRow(
        "vercel", "Vercel", "https://ai-gateway.vercel.sh/v1", "", _C, _M, _R, interface=True
    ),
    _compat("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", "", interface=True),
    _compat("edenai", "Eden AI", "https://api.edenai.run/v3", "", interface=True),
    _compat(
        "plano",
        "Plano",
        "https://archfc.katanemo.dev",
        auth=Auth.NONE,
        requires_base_url=True,
        interface=True,
    ),
    # Not a config prefix: named `perplexity/...` with provider_interface openai, it is served
    # on unversioned paths (/chat/completions at the root of its base_url).
    _compat("perplexity", "Perplexity", "https://api.perplexity.ai", "", config_prefix=False),
)

BY_PREFIX: Final = MappingProxyType({row.prefix: row for row in ROWS})

# Alternative spellings of a prefix, resolved case-insensitively.
PREFIX_ALIASES: Final = MappingProxyType(
    {
        "google": "gemini",
        "together": "together_ai",
        "amazon": "amazon_bedrock",
        "do": "digitalocean",
        "do_ai": "digitalocean",
    }
)

# Values the config schema allows for `provider_interface` (custom prefixes only).
INTERFACES: Final = frozenset(row.prefix for row in ROWS if row.interface)


def canonical_prefix(prefix: str) -> str:
    """Lower-case a prefix and resolve its aliases (`Google` -> `gemini`)."""
    low = prefix.lower()
    return PREFIX_ALIASES.get(low, low)


def lookup(prefix: str) -> ProviderRow | None:
    """The row for a config prefix, or None for a custom (unknown) prefix."""
    row = BY_PREFIX.get(canonical_prefix(prefix))
    if row is None or not row.config_prefix:
        return None
    return row


def runtime_row(prefix: str, interface: str | None) -> ProviderRow:
    """The row that serves a configured provider: its own, else its `provider_interface`'s.

    Rows that are not config prefixes (perplexity) still win over the interface: they carry
    real path differences.
    """
    row = BY_PREFIX.get(canonical_prefix(prefix))
    if row is not None:
        return row
    return BY_PREFIX[canonical_prefix(interface or "openai")]
