"""`plano validate FILE`: report every problem of a config with its YAML path and line."""

from __future__ import annotations

import sys

import click


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Validate a Plano config file; exit 1 if it has problems."""
    from plano.config import ConfigError, format_report, load_config

    try:
        config = load_config(file)
    except ConfigError as err:
        from plano.cli.style import error_block

        error_block(format_report(err.problems, ()))
        sys.exit(1)
    except OSError as exc:
        click.echo(f"{file}: cannot read: {exc.strerror}", err=True)
        sys.exit(1)
    if config.warnings:
        from plano.cli.style import error_block

        error_block(format_report((), config.warnings))
    listeners = ", ".join(
        f"{lc.name} ({lc.type}) {lc.address}:{lc.port}" for lc in config.listeners
    )
    yours = sum(1 for p in config.model_providers if not p.internal)  # not the router's own
    plural = "" if yours == 1 else "s"
    click.echo(f"{file}: valid — {yours} model provider{plural}; listeners: {listeners}")
