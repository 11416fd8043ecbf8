"""`plano` (also installed as `planoai`): the entry point.

The commands live in `plano.cli.app`; they are imported after `style.install()` has decided on
rich help (colour in a terminal, plain text otherwise), so plain runs never import rich.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click


def main() -> None:
    from plano.cli import style

    if style.use_rich():
        style.install()
    from plano.cli.app import cli

    cli()


def __getattr__(name: str) -> click.Group:
    """`plano.cli.main.cli`: the command group (plain click; `main()` adds the colours)."""
    if name == "cli":
        from plano.cli.app import cli

        return cli
    raise AttributeError(name)
