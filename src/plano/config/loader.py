"""Load a config: YAML -> env substitution -> migrations -> schema -> cross-checks -> Config.

Every stage records its problems in one :class:`~plano.config.context.LoadContext`; if any error
was found, :class:`~plano.config.problems.ConfigError` is raised with all of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from plano.config import env as envmod
from plano.config.checks import run_checks
from plano.config.context import LoadContext
from plano.config.migrate import migrate
from plano.config.models import Config
from plano.config.problems import ConfigError, Problem
from plano.config.provider_wiring import add_internal_providers, normalize_providers
from plano.config.validation import build_config
from plano.config.yaml_source import parse


def load_config(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Load the config file at ``path``.

    ``env=None`` reads ``os.environ`` merged over a ``.env`` file next to the config (the process
    environment wins); a mapping is used as the whole environment.
    """
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            [Problem(path="", line=None, message=f"cannot read config: {reason}", source=str(path))]
        ) from exc
    return load_config_text(text, source=str(path), env=env, base_dir=file.parent)


def load_config_text(
    text: str,
    *,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Load a config from YAML text. ``base_dir`` is where a ``.env`` file is looked for."""
    variables = envmod.resolve_env(env, base_dir)
    ctx = LoadContext(source=source, env=variables)
    doc = parse(text, ctx)
    if doc is None:
        raise ConfigError(_by_line(ctx.errors))
    ctx.doc = doc
    envmod.substitute(ctx, variables)
    declared = migrate(ctx, variables)
    normalize_providers(ctx)
    cfg, damage = build_config(ctx)
    if cfg is not None:
        run_checks(ctx, cfg, damage)
    if ctx.errors or cfg is None:
        raise ConfigError(_by_line(ctx.errors), _by_line(ctx.warnings))
    cfg = add_internal_providers(cfg)
    return cfg.model_copy(
        update={
            "declared_version": declared,
            "source": source,
            "missing_env": tuple(ctx.missing_env),
            "warnings": tuple(_by_line(ctx.warnings)),
        }
    )


def _by_line(problems: list[Problem]) -> list[Problem]:
    """Problems in file order (those without a line first; ties keep discovery order)."""
    return sorted(problems, key=lambda p: p.line or 0)
