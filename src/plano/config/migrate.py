"""Legacy shapes -> the canonical shape, on the raw document before schema validation.

- ``llm_providers`` is renamed ``model_providers`` (error if both are given).
- The legacy ``listeners: {ingress_traffic, egress_traffic}`` object becomes a listener list.
- ``filter_chain`` (documented, never in the schema) is accepted as ``input_filters``.
- Files older than v0.4.0 are treated as v0.4.0; inline per-provider ``routing_preferences`` are
  lifted to the top-level list.
- A model listener is appended when none is declared.

Problems found here keep pointing at what the user wrote (see :mod:`plano.config.source_map`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import TypeAdapter, ValidationError

from plano.config.context import LoadContext
from plano.config.env import expand
from plano.config.fieldtypes import StrictModel
from plano.config.models import YAML_KEYS
from plano.config.validation import report_validation_error, unknown_key_message

VERSIONS = ("v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.3.0", "v0.4.0")
CURRENT_VERSION = "v0.4.0"
DEFAULT_MODEL_LISTENER = "egress_traffic"
_LEGACY_LISTENERS = {"egress_traffic": "model", "ingress_traffic": "prompt"}
_LEGACY_LISTENER_KEYS = frozenset({"address", "port", "timeout", "message_format"})


def _version_key(version: str) -> str:
    return version.strip().lower().removeprefix("v")


# The schema spells some versions with a leading "v" and some without; the original's own sample
# files mix them (plano_config.yaml says v0.2.0), so both spellings are accepted.
_VERSION_KEYS = frozenset(_version_key(v) for v in VERSIONS)


class InlinePreferenceConfig(StrictModel):
    """Deprecated ``model_providers[].routing_preferences[]`` entry (before lifting)."""

    name: str
    description: str


_INLINE_PREFS: TypeAdapter[list[InlinePreferenceConfig]] = TypeAdapter(list[InlinePreferenceConfig])


def check_top_level_keys(ctx: LoadContext) -> None:
    for key in list(ctx.doc):
        if key not in YAML_KEYS and key != "llm_providers":
            ctx.error((key,), unknown_key_message(key))
            del ctx.doc[key]
    for key in ("version", "listeners"):
        if key not in ctx.doc:
            ctx.error((key,), f"missing required key '{key}'")


def migrate_version(ctx: LoadContext) -> str:
    """Check ``version``; return it as written and set the document to v0.4.0."""
    declared = ctx.doc.get("version")
    if "version" not in ctx.doc:
        return ""
    if not isinstance(declared, str) or _version_key(declared) not in _VERSION_KEYS:
        shown = f"'{declared}'" if isinstance(declared, str) else repr(declared)
        ctx.error(
            ("version",), f"version {shown} is not supported; use one of {', '.join(VERSIONS)}"
        )
        ctx.doc["version"] = CURRENT_VERSION
        return str(declared)
    ctx.doc["version"] = CURRENT_VERSION
    return declared


def rename_llm_providers(ctx: LoadContext) -> None:
    if "llm_providers" not in ctx.doc:
        return
    if "model_providers" in ctx.doc:
        ctx.error(
            ("llm_providers",),
            "give either model_providers or llm_providers (its deprecated name), not both",
        )
        del ctx.doc["llm_providers"]
        return
    ctx.warn(("llm_providers",), "llm_providers is deprecated; rename it to model_providers")
    ctx.smap.rename_key(ctx.doc, "llm_providers", "model_providers")


def convert_legacy_listeners(ctx: LoadContext) -> None:
    legacy = ctx.doc.get("listeners")
    if not isinstance(legacy, dict):
        return
    ctx.warn(
        ("listeners",),
        "the listeners object (ingress_traffic/egress_traffic) is deprecated; write a list of"
        " listeners with name and type",
    )
    out: list[Any] = []
    ctx.smap.inherit(out, legacy)
    for key, value in legacy.items():
        if key not in _LEGACY_LISTENERS:
            ctx.error(("listeners", key), unknown_key_message(key))
            continue
        if value is None or value == {}:
            continue
        if not isinstance(value, dict):
            ctx.error(("listeners", key), "must be a mapping (address, port, timeout)")
            continue
        if _legacy_listener(ctx, key, value):
            out.append(value)
    out.sort(key=lambda item: 0 if item["type"] == "model" else 1)
    ctx.doc["listeners"] = out


def _legacy_listener(ctx: LoadContext, key: str, value: dict[str, Any]) -> bool:
    good = True
    for inner in list(value):
        if inner not in _LEGACY_LISTENER_KEYS:
            ctx.error(("listeners", key, inner), unknown_key_message(inner))
            good = False
    fmt = value.pop("message_format", "openai")
    if fmt != "openai":
        ctx.error(("listeners", key), f"message_format must be 'openai'; got '{fmt}'")
        good = False
    value["name"] = key
    value["type"] = _LEGACY_LISTENERS[key]
    return good


def alias_filter_chain(ctx: LoadContext) -> None:
    """Accept ``filter_chain`` on listeners and listener agents as ``input_filters``."""
    listeners = ctx.doc.get("listeners")
    if not isinstance(listeners, list):
        return
    for i, listener in enumerate(listeners):
        if not isinstance(listener, dict):
            continue
        _alias_one(ctx, listener, ("listeners", i))
        agents = listener.get("agents")
        for j, agent in enumerate(agents if isinstance(agents, list) else []):
            if isinstance(agent, dict):
                _alias_one(ctx, agent, ("listeners", i, "agents", j))


def _alias_one(ctx: LoadContext, item: dict[str, Any], loc: tuple[str | int, ...]) -> None:
    if "filter_chain" not in item:
        return
    if "input_filters" in item:
        ctx.error(
            (*loc, "filter_chain"),
            "give either filter_chain or input_filters (they mean the same), not both",
        )
        del item["filter_chain"]
        return
    ctx.smap.rename_key(item, "filter_chain", "input_filters")


def append_model_listener(ctx: LoadContext) -> None:
    listeners = ctx.doc.get("listeners")
    if not isinstance(listeners, list):
        return
    items = [item for item in listeners if isinstance(item, dict)]
    if any(item.get("type") == "model" for item in items):
        return
    names = {item.get("name") for item in items}
    name = DEFAULT_MODEL_LISTENER
    for candidate in (DEFAULT_MODEL_LISTENER, "model_listener"):
        if candidate not in names:
            name = candidate
            break
    else:
        name = f"model_listener_{len(listeners)}"
    listeners.append({"name": name, "type": "model"})


def default_tracing_endpoint(ctx: LoadContext, env: Mapping[str, str]) -> None:
    """Config value > ``OTEL_TRACING_GRPC_ENDPOINT`` > built-in default (``localhost:4317``)."""
    tracing = ctx.doc.get("tracing")
    from_env = env.get("OTEL_TRACING_GRPC_ENDPOINT")
    if isinstance(tracing, dict) and "opentracing_grpc_endpoint" not in tracing and from_env:
        tracing["opentracing_grpc_endpoint"] = expand(from_env, env)[0]


def lift_routing_preferences(ctx: LoadContext, declared_version: str) -> None:
    """Move inline provider preferences to the top-level ``routing_preferences`` list."""
    providers = ctx.doc.get("model_providers")
    old = declared_version and _version_key(declared_version) != _version_key(CURRENT_VERSION)
    if "routing_preferences" in ctx.doc and old:
        ctx.warn(
            ("routing_preferences",),
            f"top-level routing_preferences belong to version {CURRENT_VERSION}; this file says"
            f" {declared_version} and is read as {CURRENT_VERSION}",
        )
    if not isinstance(providers, list):
        return
    lifted: dict[str, dict[str, Any]] = {}
    first_loc: tuple[str | int, ...] | None = None
    for i, provider in enumerate(providers):
        if not isinstance(provider, dict) or "routing_preferences" not in provider:
            continue
        first_loc = first_loc or ("model_providers", i, "routing_preferences")
        _collect_inline(ctx, i, provider, lifted)
    if first_loc is None:
        return
    ctx.warn(
        first_loc,
        "routing_preferences under a model provider are deprecated; they were moved to the"
        " top-level routing_preferences list (give each a models: [...] list there)",
    )
    for provider in providers:
        if isinstance(provider, dict):
            provider.pop("routing_preferences", None)
    _merge_lifted(ctx, lifted)


def _collect_inline(
    ctx: LoadContext, i: int, provider: dict[str, Any], lifted: dict[str, dict[str, Any]]
) -> None:
    loc = ("model_providers", i, "routing_preferences")
    raw = provider["routing_preferences"]
    model = provider.get("model")
    try:
        prefs = _INLINE_PREFS.validate_python(raw)
    except ValidationError as exc:
        report_validation_error(ctx, loc, exc)
        return
    if not isinstance(model, str):
        return
    if model.endswith("/*"):
        ctx.error(loc, f"'{model}' is a wildcard; routing preferences need a concrete model")
        return
    for j, pref in enumerate(prefs):
        entry = lifted.get(pref.name)
        if entry is None:
            entry = {"name": pref.name, "description": pref.description, "models": []}
            ctx.smap.inherit(entry, raw[j])
            lifted[pref.name] = entry
        elif pref.description and pref.description != entry["description"]:
            ctx.warn(
                (*loc, j, "description"),
                f"routing preference '{pref.name}' is described differently by another provider;"
                " the first description is kept",
            )
        if model not in entry["models"]:
            entry["models"].append(model)


def _merge_lifted(ctx: LoadContext, lifted: dict[str, dict[str, Any]]) -> None:
    top = ctx.doc.get("routing_preferences")
    if top is None:
        top = []
        ctx.doc["routing_preferences"] = top
    if not isinstance(top, list):
        return
    existing = {item.get("name") for item in top if isinstance(item, dict)}
    top.extend(entry for name, entry in lifted.items() if name not in existing)


def migrate(ctx: LoadContext, env: Mapping[str, str]) -> str:
    """Run every migration on ``ctx.doc``; return the version as written in the file."""
    check_top_level_keys(ctx)
    declared = migrate_version(ctx)
    rename_llm_providers(ctx)
    convert_legacy_listeners(ctx)
    alias_filter_chain(ctx)
    lift_routing_preferences(ctx, declared)
    append_model_listener(ctx)
    default_tracing_endpoint(ctx, env)
    return declared


__all__ = ["CURRENT_VERSION", "VERSIONS", "migrate"]
