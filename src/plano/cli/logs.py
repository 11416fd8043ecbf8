"""`plano logs [-f] [--debug]`: show the background gateway's log.

The log file holds two kinds of lines: access-log lines (one per request, text or JSON) and the
gateway's own log records (`<date> <time> LEVEL logger: message`, tracebacks on the lines after).
As the original's `logs`, the default shows the requests, plus the gateway's lifecycle lines
(ready, reload, upgrade, workers: logger `plano` at INFO) and every warning and error, so a
problem is never hidden; `--debug` shows every gateway line too.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Final

import click

from plano.cli import docker_mode, rundir

_RECORD: Final = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ([A-Z]+) (\S+?):? ")
_SHOWN_LEVELS: Final = frozenset({"WARNING", "ERROR", "CRITICAL"})
_LIFECYCLE: Final = "plano"  # the logger of starts, reloads, upgrades and workers


class LineFilter:
    """Which lines to print: every one with `debug`, else all but the gateway's records below
    WARNING other than the lifecycle ones (with their continuation lines)."""

    def __init__(self, debug: bool) -> None:
        self._debug = debug
        self._showing = True  # whether the current gateway record is shown (for its tail)

    def shown(self, line: str) -> bool:
        if self._debug:
            return True
        m = _RECORD.match(line)
        if m is not None:
            level, logger = m.groups()
            self._showing = level in _SHOWN_LEVELS or (level == "INFO" and logger == _LIFECYCLE)
            return self._showing
        if line.startswith(("[", "{")):  # an access-log line (text or JSON)
            self._showing = True
            return True
        return self._showing  # a continuation (traceback) of the last record


def selected(lines: Iterable[str], keep: LineFilter) -> Iterator[str]:
    return (line for line in lines if keep.shown(line))


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
@click.option("--debug", is_flag=True, help="Also the gateway's info and debug lines.")
@click.option(
    "--docker", "in_docker", is_flag=True, help="The log of `plano up --docker`'s container."
)
def logs(follow: bool, lines: int, debug: bool, in_docker: bool) -> None:
    """Print the requests and the gateway's warnings (~/.plano/run/logs/plano.log)."""
    if in_docker:
        docker_mode.logs(follow, lines)
        return
    path = rundir.log_file()
    if not path.exists():
        click.echo(f"no log yet at {path}")
        return
    keep = LineFilter(debug)
    with open(path, errors="replace") as fh:
        for line in selected(fh.readlines()[-lines:], keep):
            sys.stdout.write(line)
        sys.stdout.flush()
        while follow:
            line = fh.readline()
            if line:
                if keep.shown(line):
                    sys.stdout.write(line)
                    sys.stdout.flush()
            else:
                time.sleep(0.2)
