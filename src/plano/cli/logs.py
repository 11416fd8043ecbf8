"""`plano logs [-f]`: show the background gateway's log."""

from __future__ import annotations

import sys
import time

import click

from plano.cli import rundir


@click.command()
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
@click.option(
    "-n",
    "--lines",
    type=int,
    default=200,
    show_default=True,
    help="How many of the last lines to show first.",
)
def logs(follow: bool, lines: int) -> None:
    """Print the gateway log (~/.plano/run/logs/plano.log)."""
    path = rundir.log_file()
    if not path.exists():
        click.echo(f"no log yet at {path}")
        return
    with open(path, errors="replace") as fh:
        for line in fh.readlines()[-lines:]:
            sys.stdout.write(line)
        sys.stdout.flush()
        while follow:
            line = fh.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.2)
