"""Model-provider entries: split ``provider/model_id``, apply vendor wiring, add internal providers.

Runs on the raw document (before validation) so that every problem keeps its YAML line:

- ``model`` is split at the first ``/`` into the canonical prefix and the bare model id;
- the optional ``provider`` key (not in the original schema) is read as the prefix for a model
  written without one, or as ``provider_interface`` for a custom prefix;
- ChatGPT entries get the Codex base URL, passthrough auth and the Codex headers;
- Kimi Code entries get the ``/coding/v1`` base path and the Kimi CLI user agent.

After validation, the internal providers the router and Arch-Function need are appended
(``internal: true``; hidden from ``/v1/models``).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from plano.config.context import LoadContext
from plano.config.models import Config, ModelProviderConfig
from plano.config.validation import unknown_key_message
from plano.providers import catalogue

_DERIVED_KEYS = ("model_id", "wildcard", "internal")
CHATGPT_ORIGINATOR = "codex_cli_rs"
CHATGPT_USER_AGENT = "codex_cli_rs/0.0.0 (Unknown 0; unknown) unknown"
KIMI_CODE_HOST = "api.kimi.com"
KIMI_CODE_MODEL = "kimi-for-coding"
KIMI_CODE_USER_AGENT = "KimiCLI/1.3"
ARCH_FUNCTION_MODEL = "Arch-Function"

Loc = tuple[str | int, ...]


def normalize_providers(ctx: LoadContext) -> None:
    providers = ctx.doc.get("model_providers")
    if not isinstance(providers, list):
        return
    for i, item in enumerate(providers):
        if isinstance(item, dict):
            _normalize(ctx, ("model_providers", i), item)


def _normalize(ctx: LoadContext, loc: Loc, item: dict[str, Any]) -> None:
    for key in _DERIVED_KEYS:
        if key in item:
            ctx.error((*loc, key), unknown_key_message(key))
            del item[key]
    _provider_key(ctx, loc, item)
    model = item.get("model")
    if not isinstance(model, str):
        # Placeholders: only the problem with `model` itself gets reported.
        item.update(provider="", model_id="", wildcard=False)
        item.setdefault("name", "")
        return
    item.setdefault("name", model)
    prefix, sep, rest = model.partition("/")
    prefix = prefix.strip()
    item["provider"] = catalogue.canonical_prefix(prefix) if sep else ""
    item["model_id"] = rest if sep else model
    item["wildcard"] = rest == "*"
    if not sep:
        ctx.error(
            (*loc, "model"),
            f"model '{model}' needs its provider: write '<provider>/<model_id>' (like"
            " 'openai/gpt-4o'), or '<provider>/*' for every model of a provider",
        )
    elif not prefix or not rest:
        ctx.error((*loc, "model"), f"model '{model}' needs a provider before '/' and a model after")
    elif "*" in rest and rest != "*":
        ctx.error((*loc, "model"), f"'{model}': a wildcard is written '<provider>/*'")
    else:
        _wire_chatgpt(ctx, loc, item)
        _wire_kimi(item)


def _provider_key(ctx: LoadContext, loc: Loc, item: dict[str, Any]) -> None:
    """Interpret the optional ``provider`` key, then remove it."""
    if "provider" not in item:
        return
    value, model = item["provider"], item.get("model")
    if not isinstance(value, str) or not value.strip():
        ctx.error((*loc, "provider"), "provider must be a provider name, like 'openai'")
    elif isinstance(model, str) and "/" not in model:
        item["model"] = f"{value}/{model}"
    elif isinstance(model, str):
        prefix = model.split("/", 1)[0].strip()
        same = catalogue.canonical_prefix(prefix) == catalogue.canonical_prefix(value)
        if not same and catalogue.lookup(prefix) is not None:
            ctx.error(
                (*loc, "provider"),
                f"provider '{value}' does not match the prefix '{prefix}' of model '{model}'",
            )
        elif not same and "provider_interface" in item:
            ctx.error(
                (*loc, "provider"),
                "give either provider or provider_interface (the same thing here), not both",
            )
        elif not same:
            ctx.smap.rename_key(item, "provider", "provider_interface")
            return
    item.pop("provider", None)


def _set_default_header(headers: dict[str, Any], name: str, value: str) -> None:
    if all(str(key).lower() != name.lower() for key in headers):
        headers[name] = value


def _wire_chatgpt(ctx: LoadContext, loc: Loc, item: dict[str, Any]) -> None:
    interface = item.get("provider_interface") or item["provider"]
    if interface != "chatgpt":
        return
    row = catalogue.BY_PREFIX["chatgpt"]
    if not item.get("base_url"):
        item["base_url"] = f"{row.base_url}{row.path_prefix}"
    if not item.get("access_key") and not item.get("passthrough_auth"):
        item["passthrough_auth"] = True
    headers = item.setdefault("headers", {})
    if not isinstance(headers, dict):
        return
    account = ctx.env.get("CHATGPT_ACCOUNT_ID", "")
    if account:
        _set_default_header(headers, "ChatGPT-Account-Id", account)
    elif not any(str(key).lower() == "chatgpt-account-id" for key in headers):
        ctx.warn(loc, "CHATGPT_ACCOUNT_ID is not set, so no ChatGPT-Account-Id header is sent")
    _set_default_header(headers, "originator", CHATGPT_ORIGINATOR)
    _set_default_header(headers, "user-agent", CHATGPT_USER_AGENT)
    _set_default_header(headers, "session_id", str(uuid.uuid4()))


def kimi_code_base_url(base_url: str) -> str:
    """``https://api.kimi.com/coding`` -> ``https://api.kimi.com/coding/v1`` (else unchanged)."""
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    if not path.endswith("/coding"):
        return base_url
    return urlunsplit(parts._replace(path=f"{path}/v1"))


def _wire_kimi(item: dict[str, Any]) -> None:
    base_url = item.get("base_url")
    if not isinstance(base_url, str) or not base_url:
        return
    try:
        host = urlsplit(base_url).hostname
    except ValueError:
        return
    if host != KIMI_CODE_HOST and item.get("model_id") != KIMI_CODE_MODEL:
        return
    item["base_url"] = kimi_code_base_url(base_url)
    headers = item.setdefault("headers", {})
    if isinstance(headers, dict):
        _set_default_header(headers, "User-Agent", KIMI_CODE_USER_AGENT)


def _internal(name: str, model_id: str) -> ModelProviderConfig:
    return ModelProviderConfig(
        name=name, model=f"plano/{model_id}", provider="plano", model_id=model_id, internal=True
    )


def add_internal_providers(cfg: Config) -> Config:
    """Append the hidden providers for the router, the agent orchestrator and Arch-Function."""
    ids = {p.model_id for p in cfg.model_providers}
    names = {p.name for p in cfg.model_providers}
    wanted: list[tuple[str, str]] = []
    router = cfg.overrides.routing_model_id
    if cfg.routing_preferences and router not in ids:
        wanted.append(("plano-orchestrator", router))
    wanted.append(("arch-function", ARCH_FUNCTION_MODEL))
    orchestrator = cfg.overrides.orchestration_model_id
    if orchestrator not in ids:
        wanted.append(("plano/orchestrator", orchestrator))
    extra = tuple(_internal(name, model) for name, model in wanted if name not in names)
    if not extra:
        return cfg
    return cfg.model_copy(update={"model_providers": cfg.model_providers + extra})
