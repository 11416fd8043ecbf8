"""Cross-reference rules over a validated config: listeners, filters, agents, endpoints, storage.

Each rule group names the sections it reads; a group is skipped when one of them failed schema
validation (its problems are already reported, and checking half a section would only add noise).
Model-provider rules live in :mod:`plano.config.model_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

from plano.config.access import check_pricing, check_tls
from plano.config.context import LoadContext
from plano.config.extras import check_extras
from plano.config.fieldtypes import shown_url
from plano.config.guards import GuardFilterConfig
from plano.config.model_checks import (
    check_aliases,
    check_fallbacks,
    check_metrics_sources,
    check_preferences,
    check_providers,
)
from plano.config.models import KNOWN_ROUTERS, Config
from plano.config.problems import listing
from plano.config.validation import Damage

_ENDPOINT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")

Rule = Callable[[LoadContext, Config], None]


def _listener_identity(ctx: LoadContext, cfg: Config) -> None:
    names: set[str] = set()
    ports: dict[int, str] = {}
    first_of_type: dict[str, str] = {}
    for i, listener in enumerate(cfg.listeners):
        loc = ("listeners", i)
        if listener.name in names:
            ctx.error((*loc, "name"), f"listener name '{listener.name}' is used twice")
        names.add(listener.name)
        if listener.port and listener.port in ports:
            ctx.error(
                (*loc, "port"),
                f"port {listener.port} is already used by listener '{ports[listener.port]}'",
            )
        ports.setdefault(listener.port, listener.name)
        if listener.type in ("model", "prompt") and listener.type in first_of_type:
            ctx.error(
                (*loc, "type"),
                f"only one {listener.type} listener is allowed;"
                f" '{first_of_type[listener.type]}' is one already",
            )
        first_of_type.setdefault(listener.type, listener.name)


def _listener_usage(ctx: LoadContext, cfg: Config) -> None:
    for i, listener in enumerate(cfg.listeners):
        loc = ("listeners", i)
        if listener.type != "model":
            if listener.max_retries is not None:
                ctx.warn((*loc, "max_retries"), "max_retries only applies to the model listener")
            for key in ("input_filters", "output_filters"):
                if getattr(listener, key):
                    ctx.warn((*loc, key), f"{key} only apply on the model listener; ignored here")
        if listener.type == "agent" and not listener.agents:
            ctx.warn((*loc,), f"agent listener '{listener.name}' offers no agents")
        if listener.type != "agent" and listener.agents:
            ctx.warn((*loc, "agents"), "agents are only used by agent listeners; ignored here")
        if listener.router is not None and listener.router not in KNOWN_ROUTERS:
            ctx.warn(
                (*loc, "router"),
                f"router '{listener.router}' is not known and has no effect"
                f" (agents are always chosen by the Plano orchestrator)",
            )


def _unique_ids(ctx: LoadContext, cfg: Config) -> None:
    ids: set[str] = set()
    keyed = [("agents", i, a.id) for i, a in enumerate(cfg.agents)]
    keyed += [("filters", i, f.id) for i, f in enumerate(cfg.filters)]
    for key, i, item_id in keyed:
        if item_id in ids:
            ctx.error((key, i, "id"), f"id '{item_id}' is already used by another agent/filter")
        ids.add(item_id)


def _filter_references(ctx: LoadContext, cfg: Config) -> None:
    ids = {a.id for a in cfg.agents} | {f.id for f in cfg.filters}
    agent_ids = {agent.id for agent in cfg.agents}
    for i, listener in enumerate(cfg.listeners):
        for key in ("input_filters", "output_filters"):
            for j, fid in enumerate(getattr(listener, key)):
                if fid not in ids:
                    ctx.error(
                        ("listeners", i, key, j),
                        f"listener '{listener.name}' references {key} id '{fid}', which is not"
                        f" defined in agents or filters (available: {listing(ids)})",
                    )
        for k, ref in enumerate(listener.agents):
            loc = ("listeners", i, "agents", k)
            if ref.id not in agent_ids:
                ctx.warn(
                    (*loc, "id"),
                    f"agent '{ref.id}' is not defined in the top-level agents list (defined:"
                    f" {listing(agent_ids)}); requests routed to it will fail",
                )
            for j, fid in enumerate(ref.input_filters):
                if fid not in ids:
                    ctx.error(
                        (*loc, "input_filters", j),
                        f"agent '{ref.id}' on listener '{listener.name}' references input_filters"
                        f" id '{fid}', which is not defined in agents or filters"
                        f" (available: {listing(ids)})",
                    )


def _guard_filters(ctx: LoadContext, cfg: Config) -> None:
    """A guard inspects requests (never responses), and its second opinion names a model."""
    guards = {f.id for f in cfg.filters if isinstance(f, GuardFilterConfig)}
    for i, listener in enumerate(cfg.listeners):
        for j, fid in enumerate(listener.output_filters):
            if fid in guards:
                ctx.error(
                    ("listeners", i, "output_filters", j),
                    f"filter '{fid}' is a guard: it inspects requests (user text, tool results);"
                    " put it in input_filters",
                )
    names = {p.name for p in cfg.model_providers} | {p.model for p in cfg.model_providers}
    names |= {p.model_id for p in cfg.model_providers}
    for i, f in enumerate(cfg.filters):
        so = f.second_opinion if isinstance(f, GuardFilterConfig) else None
        if so is not None and so.model not in names:
            ctx.error(
                ("filters", i, "second_opinion", "model"),
                f"second_opinion.model '{so.model}' is not a configured model"
                f" (configured: {listing(sorted(names))})",
            )


def _endpoints(ctx: LoadContext, cfg: Config) -> None:
    for name in cfg.endpoints:
        if not _ENDPOINT_NAME.match(name):
            ctx.error(
                ("endpoints", name),
                f"endpoint name '{name}' must start with a letter and use only letters,"
                " digits and '_'",
            )
    if cfg.overrides.use_agent_orchestrator and len(cfg.endpoints) != 1:
        ctx.error(
            ("overrides", "use_agent_orchestrator"),
            "use_agent_orchestrator needs exactly one entry under endpoints (the orchestrator);"
            f" found {len(cfg.endpoints)}",
        )


def _prompt_targets(ctx: LoadContext, cfg: Config) -> None:
    known = set(cfg.endpoints) | {agent.id for agent in cfg.agents}
    names: set[str] = set()
    default: str | None = None
    for i, target in enumerate(cfg.prompt_targets):
        loc = ("prompt_targets", i)
        if target.name in names:
            ctx.error((*loc, "name"), f"prompt target name '{target.name}' is used twice")
        names.add(target.name)
        if target.default and default is not None:
            ctx.error(
                (*loc, "default"), f"only one prompt target can be the default; '{default}' is"
            )
        if target.default and default is None:
            default = target.name
        if target.endpoint is not None and target.endpoint.name not in known:
            ctx.error(
                (*loc, "endpoint", "name"),
                f"unknown endpoint '{target.endpoint.name}'; declare it under endpoints"
                f" (declared: {listing(known)})",
            )


def _function_calling_model(ctx: LoadContext, cfg: Config) -> None:
    wanted = cfg.overrides.function_calling_model
    if wanted is None:
        return
    declared = {p.name for p in cfg.model_providers}
    declared |= {f"{p.provider}/{p.model_id}" for p in cfg.model_providers}
    declared |= {p.model_id for p in cfg.model_providers}
    if wanted not in declared:
        ctx.error(
            ("overrides", "function_calling_model"),
            f"function_calling_model '{wanted}' is not a configured model; declare it under"
            " model_providers",
        )


def _storage(ctx: LoadContext, cfg: Config) -> None:
    storage = cfg.state_storage
    if storage is not None and storage.type == "postgres" and not storage.connection_string:
        ctx.error(
            ("state_storage", "connection_string"),
            "connection_string is required when state_storage.type is postgres",
        )


def _tracing(ctx: LoadContext, cfg: Config) -> None:
    if cfg.tracing is None:
        return
    endpoint = cfg.tracing.opentracing_grpc_endpoint
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname
        _ = parts.port
    except ValueError:
        host, parts = None, urlsplit("")
    if parts.scheme not in ("http", "https") or not host:
        problem = "must be an http:// or https:// URL with a host"
    elif parts.path not in ("", "/") or parts.query:
        problem = "must not have a path (give only scheme, host and port)"
    else:
        return
    ctx.error(("tracing", "opentracing_grpc_endpoint"), f"'{shown_url(endpoint)}' {problem}")


def _routing(ctx: LoadContext, cfg: Config) -> None:
    cache = cfg.routing.session_cache
    if cache.type == "redis":
        url = cache.url or ""
        if urlsplit(url).scheme not in ("redis", "rediss"):
            ctx.error(
                ("routing", "session_cache", "url"),
                "a redis session cache needs url: redis://host:port (or rediss:// for TLS)",
            )
    has_cost = any(src.type == "cost" for src in cfg.model_metrics_sources)
    if cfg.routing.routing_budget is not None and not has_cost:
        ctx.error(
            ("routing", "routing_budget"),
            "routing_budget needs a model_metrics_sources entry of type cost (to price switches)",
        )


# (sections the rule checks, sections it only looks names up in, rule). A rule is skipped when a
# section it checks was dropped, or when a section it looks up lost any item (a lookup would then
# report names that are in fact declared).
_RULES: tuple[tuple[tuple[str, ...], tuple[str, ...], Rule], ...] = (
    (("listeners",), (), _listener_identity),
    (("listeners",), (), _listener_usage),
    (("listeners",), (), lambda ctx, cfg: check_tls(ctx, cfg.listeners)),
    (("pricing",), (), lambda ctx, cfg: check_pricing(ctx, cfg.pricing)),
    (("agents", "filters"), (), _unique_ids),
    (("listeners",), ("agents", "filters"), _filter_references),
    (("filters",), ("listeners", "model_providers"), _guard_filters),
    (("endpoints", "overrides"), (), _endpoints),
    (("prompt_targets",), ("endpoints", "agents"), _prompt_targets),
    (("overrides",), ("model_providers",), _function_calling_model),
    (("state_storage",), (), _storage),
    (("tracing",), (), _tracing),
    (("routing",), ("model_metrics_sources",), _routing),
    (("model_providers",), (), check_providers),
    (("model_aliases",), ("model_providers",), check_aliases),
    (("model_providers", "model_aliases"), (), check_fallbacks),
    (("model_metrics_sources",), (), check_metrics_sources),
    (("routing_preferences",), ("model_providers", "model_metrics_sources"), check_preferences),
    ((), (), check_extras),  # a part the config asks for is installed (extras.py)
)


def run_checks(ctx: LoadContext, cfg: Config, damage: Damage) -> None:
    for checked, looked_up, rule in _RULES:
        dropped = not damage.whole.isdisjoint((*checked, *looked_up))
        if not dropped and damage.partial.isdisjoint(looked_up):
            rule(ctx, cfg)
