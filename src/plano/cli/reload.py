"""`plano reload`: validate the running gateway's config file, then have the supervisor reload it.

The supervisor re-reads and validates the file itself, starts a new generation of workers on the
same sockets and retires the old one once the new serves; it writes the outcome to
`reload.json` in the run directory, which this command waits for and prints.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click

from plano.cli import rundir
from plano.runtime import runstate

WAIT_SECONDS = 180.0  # the new generation's workers start in a few seconds; a slow host is allowed


@click.command()
@click.option(
    "--timeout",
    type=float,
    default=WAIT_SECONDS,
    show_default=True,
    help="Seconds to wait for the outcome.",
)
def reload(timeout: float) -> None:
    """Reload the running gateway's config without dropping a connection."""
    record = rundir.read_record()
    if record is None or not rundir.alive(record.pid):
        click.echo("plano is not running", err=True)
        sys.exit(1)
    _validate(Path(record.config))
    status_path = rundir.run_dir() / runstate.RELOAD_STATUS
    before = runstate.read_json(status_path)
    os.kill(record.pid, signal.SIGHUP)
    status = _wait(status_path, before, record.pid, timeout)
    if status is None:
        click.echo(f"no answer from plano (pid {record.pid}) within {timeout:.0f} s", err=True)
        sys.exit(1)
    if status.get("ok"):
        click.echo(
            f"plano (pid {record.pid}) reloaded {record.config}: "
            f"generation {status.get('generation')} serves"
        )
        return
    click.echo(
        f"plano (pid {record.pid}) refused the reload; generation {status.get('generation')} "
        f"keeps serving:\n{status.get('error')}",
        err=True,
    )
    sys.exit(1)


def _validate(path: Path) -> None:
    from plano.config import ConfigError, format_report, load_config

    try:
        config = load_config(path)
    except ConfigError as err:
        click.echo(format_report(err.problems, ()), err=True)
        click.echo("not reloaded: the running gateway keeps its config", err=True)
        sys.exit(1)
    except OSError as exc:
        click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
        sys.exit(1)
    if config.missing_env:
        lines = "\n".join(f"  ${var} (used at {where})" for where, var in config.missing_env)
        click.echo(f"{path}: missing environment variables:\n{lines}", err=True)
        sys.exit(1)


def _wait(
    path: Path, before: dict[str, Any] | None, pid: int, timeout: float
) -> dict[str, Any] | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = runstate.read_json(path)
        if status is not None and status != before and status.get("pid") == pid:
            return status
        if not rundir.alive(pid):
            return None
        time.sleep(0.1)
    return None
