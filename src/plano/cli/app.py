"""The command group of `plano` / `planoai` (entry point: `plano.cli.main.main`)."""

from __future__ import annotations

from typing import Final

import click

from plano import __version__
from plano.cli.build import build
from plano.cli.chatgpt import chatgpt
from plano.cli.cli_agent import cli_agent
from plano.cli.console import console
from plano.cli.demo import demo
from plano.cli.down import down
from plano.cli.init import init
from plano.cli.keys import keys
from plano.cli.logs import logs
from plano.cli.mock_llm import mock_llm
from plano.cli.obs import obs
from plano.cli.reload import reload
from plano.cli.signals import signals
from plano.cli.style import SECTIONS
from plano.cli.trace import trace
from plano.cli.up import up
from plano.cli.validate import validate
from plano.compiled import guard

_ALIASES: Final = {"cli_agent": "cli-agent"}  # the original's spelling -> ours


class _Group(click.Group):
    """The command group; the original's spellings of renamed commands still work."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return super().get_command(ctx, _ALIASES.get(cmd_name, cmd_name))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Plain help: the commands under the same titles as the coloured help."""
        rows: dict[str, tuple[str, str]] = {}
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows[name] = (name, cmd.get_short_help_str(limit=formatter.width - 6 - len(name)))
        for title, names in (*SECTIONS, ("Other", tuple(rows))):
            section = [rows.pop(n) for n in names if n in rows]
            if section:
                with formatter.section(title):
                    formatter.write_dl(section)


@click.group(
    name="plano",
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
)
# `plano --version`: "plano, version 0.1.0 (compiled: N modules (mypyc))" or "(pure Python)".
@click.version_option(f"{__version__} ({guard().describe()})", prog_name="plano")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Plano: the dataplane between your apps, agents and LLM providers."""
    if ctx.invoked_subcommand is None:  # bare `plano` / `planoai`: the help, and success
        click.echo(ctx.get_help())


for command in (
    init,
    up,
    down,
    reload,
    logs,
    validate,
    demo,
    mock_llm,
    trace,
    obs,
    console,
    cli_agent,
    build,
    signals,
    keys,
    chatgpt,
):
    cli.add_command(command)
