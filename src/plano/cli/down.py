"""`plano down`: stop the gateway (SIGTERM, drain, SIGKILL of what is left after the deadline).

The run record names the supervisor and its workers, so a gateway whose supervisor was killed
(SIGKILL) is still found and its surviving workers stopped.
"""

from __future__ import annotations

import click

from plano.cli import docker_mode, rundir
from plano.runtime import runstate

STOP_SECONDS = 12.0  # the supervisor's own deadline is drain_timeout (8 s) + 1.5 s


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Say which processes are stopped.")
@click.option(
    "--docker", "in_docker", is_flag=True, help="Stop the container `plano up --docker` ran."
)
def down(verbose: bool, in_docker: bool) -> None:
    """Stop the gateway started by `plano up`."""
    if in_docker:
        docker_mode.down()
        return
    record = rundir.read_record()
    if record is None:
        click.echo("plano is not running")
        return
    workers = [pid for pid in record.workers if runstate.is_worker(pid)]
    if verbose:
        click.echo(f"supervisor {record.pid}; workers {', '.join(map(str, workers)) or 'none'}")
    if not rundir.alive(record.pid) and not workers:
        rundir.clear_record()
        click.echo("plano is not running")
        return
    supervised = rundir.alive(record.pid)
    clean, killed = rundir.stop_gateway(record, STOP_SECONDS)
    if supervised:
        what = f"plano (pid {record.pid})"
    else:
        what = f"plano workers {', '.join(map(str, workers))} (supervisor {record.pid} was gone)"
    if clean:
        click.echo(f"{what} stopped")
    else:
        pids = ", ".join(map(str, killed))
        click.echo(f"{what} did not stop in {STOP_SECONDS:.0f} s; killed {pids}")
    rundir.clear_record()
