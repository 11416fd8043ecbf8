"""`plano down`: stop a background gateway (SIGTERM, drain, SIGKILL after 10 s)."""

from __future__ import annotations

import os
import signal
import time

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
    os.kill(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    while rundir.alive(record.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if rundir.alive(record.pid):
        os.killpg(record.pid, signal.SIGKILL)
        click.echo(f"plano (pid {record.pid}) did not stop in {STOP_SECONDS:.0f} s; killed")
    else:
        click.echo(f"plano (pid {record.pid}) stopped")
    rundir.clear_record()
