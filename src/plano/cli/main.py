"""`plano` (also installed as `planoai`): the command group."""

from __future__ import annotations

import click

from plano import __version__
from plano.cli.demo import demo
from plano.cli.down import down
from plano.cli.keys import keys
from plano.cli.logs import logs
from plano.cli.mock_llm import mock_llm
from plano.cli.reload import reload
from plano.cli.trace import trace
from plano.cli.up import up
from plano.cli.validate import validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="plano")
def cli() -> None:
    """Plano: the dataplane between your apps, agents and LLM providers."""


for command in (up, down, reload, logs, validate, demo, mock_llm, trace, keys):
    cli.add_command(command)


def main() -> None:
    cli()
