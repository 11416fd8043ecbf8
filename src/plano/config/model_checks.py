"""Cross-reference rules for model providers, aliases, routing preferences and metrics sources.

Provider facts (which prefixes are built in, which need a ``base_url``, which APIs a custom prefix
may speak) come from :mod:`plano.providers.catalogue`; nothing about vendors is repeated here.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from plano.config.context import LoadContext
from plano.config.models import Config, ModelProviderConfig
from plano.config.problems import listing
from plano.providers import catalogue


@dataclass
class DeclaredModels:
    """Names a request (or an alias, or a routing preference) may use for a declared model."""

    full: set[str] = field(default_factory=set)  # provider/model_id, as written and canonical
    bare: set[str] = field(default_factory=set)  # model_id alone
    wildcard_prefixes: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, cfg: Config) -> DeclaredModels:
        out = cls()
        for p in cfg.model_providers:
            if not p.provider:
                continue
            if p.wildcard:
                out.wildcard_prefixes.add(p.provider)
                continue
            out.full.update((p.model, f"{p.provider}/{p.model_id}"))
            out.bare.add(p.model_id)
        return out

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self.full or name in self.bare:
            return True
        prefix, sep, rest = name.partition("/")
        return bool(sep and rest) and catalogue.canonical_prefix(prefix) in self.wildcard_prefixes

    def names(self) -> set[str]:
        return self.full | self.bare | {f"{p}/*" for p in self.wildcard_prefixes}


def _prefix_rules(ctx: LoadContext, i: int, p: ModelProviderConfig) -> None:
    loc = ("model_providers", i)
    row = catalogue.lookup(p.provider)
    if row is not None:
        if p.provider_interface is not None:
            ctx.error(
                (*loc, "provider_interface"),
                f"'{p.provider}' is a built-in provider, so provider_interface must not be set;"
                " the prefix of model already names the API (provider_interface is only for"
                " custom prefixes)",
            )
        if row.requires_base_url and not p.base_url:
            ctx.error((*loc, "base_url"), f"base_url is required for provider '{p.provider}'")
        return
    prefix = p.model.split("/", 1)[0]
    close = difflib.get_close_matches(
        prefix, [*catalogue.BY_PREFIX, *catalogue.PREFIX_ALIASES], n=1, cutoff=0.7
    )
    if close and not p.base_url and p.provider_interface is None:  # most likely a typo
        ctx.error(
            (*loc, "model"),
            f"'{prefix}' is not a built-in provider (did you mean '{close[0]}'?); a provider of"
            " your own needs base_url and provider_interface",
        )
        return
    if not p.base_url:
        ctx.error(
            (*loc, "base_url"),
            f"base_url is required: '{prefix}' is not a built-in provider",
        )
    interfaces = listing(catalogue.INTERFACES, limit=50)
    if p.provider_interface is None:
        ctx.error(
            (*loc, "provider_interface"),
            f"provider_interface is required: '{prefix}' is not a built-in provider; name the"
            f" API it speaks, one of {interfaces}",
        )
    elif p.provider_interface not in catalogue.INTERFACES:
        ctx.error(
            (*loc, "provider_interface"),
            f"provider_interface '{p.provider_interface}' is not known; use one of {interfaces}",
        )


def _unique_models(
    ctx: LoadContext, i: int, p: ModelProviderConfig, claimed: dict[str, str]
) -> None:
    if p.wildcard:
        return
    full = f"{p.provider}/{p.model_id}"
    loc = ("model_providers", i, "model")
    if full in claimed:
        ctx.error(loc, f"model '{p.model}' is already declared by provider '{claimed[full]}'")
    elif p.model_id in claimed:
        ctx.error(
            loc,
            f"model id '{p.model_id}' is already declared by provider '{claimed[p.model_id]}';"
            " model ids must be unique across providers (requests may name a model without"
            " its provider)",
        )
    claimed.setdefault(full, p.name)
    claimed.setdefault(p.model_id, p.name)


def check_providers(ctx: LoadContext, cfg: Config) -> None:
    names: set[str] = set()
    claimed: dict[str, str] = {}
    default: str | None = None
    for i, p in enumerate(cfg.model_providers):
        if not p.provider:
            continue  # the model string itself was already reported
        loc = ("model_providers", i)
        if p.name in names:
            ctx.error((*loc, "name"), f"provider name '{p.name}' is used twice")
        names.add(p.name)
        if p.wildcard and p.default:
            ctx.error((*loc, "default"), f"'{p.model}' is a wildcard; it cannot be the default")
        elif p.default and default is not None:
            ctx.error((*loc, "default"), f"only one provider can be the default; '{default}' is")
        elif p.default:
            default = p.name
        if p.passthrough_auth and p.access_key:
            ctx.warn(
                (*loc, "access_key"),
                "passthrough_auth is on, so access_key is ignored: the client's own credential"
                " is forwarded",
            )
        _prefix_rules(ctx, i, p)
        _unique_models(ctx, i, p, claimed)


def check_aliases(ctx: LoadContext, cfg: Config) -> None:
    declared = DeclaredModels.of(cfg)
    for alias, spec in cfg.model_aliases.items():
        loc = ("model_aliases", alias, "target")
        if spec.target in declared:
            continue
        if spec.target in cfg.model_aliases:
            ctx.error(
                loc,
                f"alias '{alias}' targets '{spec.target}', which is another alias; aliases"
                " cannot point at aliases, name a model instead",
            )
            continue
        ctx.error(
            loc,
            f"alias '{alias}' targets '{spec.target}', which is not a declared model"
            f" (declared: {listing(declared.names())})",
        )


def check_fallbacks(ctx: LoadContext, cfg: Config) -> None:
    """Every fallback names a declared model or an alias; a model is not its own fallback."""
    declared = DeclaredModels.of(cfg)
    lists: list[tuple[tuple[str | int, ...], str, tuple[str, ...]]] = [
        (("model_providers", i, "fallbacks"), p.name, p.fallbacks)
        for i, p in enumerate(cfg.model_providers)
    ]
    lists += [
        (("model_aliases", a, "fallbacks"), a, spec.fallbacks)
        for a, spec in cfg.model_aliases.items()
    ]
    for loc, owner, names in lists:
        for j, name in enumerate(names):
            if name == owner:
                ctx.error((*loc, j), f"'{owner}' cannot be its own fallback")
            elif name not in declared and name not in cfg.model_aliases:
                ctx.error(
                    (*loc, j),
                    f"fallback '{name}' is not a declared model or alias"
                    f" (declared: {listing(declared.names())})",
                )


def check_metrics_sources(ctx: LoadContext, cfg: Config) -> None:
    seen: set[str] = set()
    for j, src in enumerate(cfg.model_metrics_sources):
        if src.type in seen:
            ctx.error(
                ("model_metrics_sources", j, "type"),
                f"only one model_metrics_sources entry of type {src.type} is allowed",
            )
        seen.add(src.type)


def check_preferences(ctx: LoadContext, cfg: Config) -> None:
    declared = DeclaredModels.of(cfg)
    sources = {src.type for src in cfg.model_metrics_sources}
    needs = {"cheapest": "cost", "fastest": "latency"}
    names: set[str] = set()
    for k, pref in enumerate(cfg.routing_preferences):
        loc = ("routing_preferences", k)
        if pref.name in names:
            ctx.error((*loc, "name"), f"routing preference name '{pref.name}' is used twice")
        names.add(pref.name)
        for j, model in enumerate(pref.models):
            if model not in declared:
                ctx.error(
                    (*loc, "models", j),
                    f"model '{model}' is not declared in model_providers",
                )
        prefer = pref.selection_policy.prefer if pref.selection_policy else "none"
        if prefer in needs and needs[prefer] not in sources:
            ctx.error(
                (*loc, "selection_policy", "prefer"),
                f"prefer: {prefer} needs a model_metrics_sources entry of type {needs[prefer]}",
            )
