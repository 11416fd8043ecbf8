"""`plano down`: stop a background gateway (SIGTERM, drain, SIGKILL after 10 s)."""

from __future__ import annotations

import click

from plano.cli import rundir

STOP_SECONDS = 10.0


@click.command()
def down() -> None:
    """Stop the gateway started by `plano up`."""
    record = rundir.read_record()
    if record is None or not rundir.alive(record.pid):
        rundir.clear_record()
        click.echo("plano is not running")
        return
    if rundir.stop(record.pid, STOP_SECONDS):
        click.echo(f"plano (pid {record.pid}) stopped")
    else:
        click.echo(f"plano (pid {record.pid}) did not stop in {STOP_SECONDS:.0f} s; killed")
    rundir.clear_record()
