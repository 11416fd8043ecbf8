"""prometheus-client's multiprocess mode for `--workers N`: one metrics directory per gateway run.

Each worker writes its samples to memory-mapped files in `PROMETHEUS_MULTIPROC_DIR`; whichever
worker a scrape reaches reads every worker's files and answers for the whole gateway. The client
library picks its mode when it is first imported, so the variable must be in the environment
before a worker process starts: the supervisor prepares the directory and sets the variable, then
spawns the workers, which inherit it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path
from typing import Final

from prometheus_client import multiprocess, values

ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def active_dir() -> str | None:
    """The directory this process writes its samples to, or None when it keeps them in memory.

    True only when the variable was set before prometheus-client was imported: setting it later
    does not switch a running process over, so the library's own choice decides.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(ENV) or None


class MetricsDir:
    """The supervisor's side: create (or wipe) the directory, account for workers that exit,
    and remove the directory at the end of the run when it was ours."""

    def __init__(self, path: str, *, owned: bool, environ: MutableMapping[str, str]) -> None:
        self.path = path
        self._owned = owned
        self._environ = environ

    @classmethod
    def prepare(cls, environ: MutableMapping[str, str] | None = None) -> MetricsDir:
        """Use `$PROMETHEUS_MULTIPROC_DIR` when set (its `*.db` files are removed, as the client
        library requires between runs), else a fresh temporary directory; export the variable."""
        env = os.environ if environ is None else environ
        given = env.get(ENV)
        if given:
            Path(given).mkdir(parents=True, exist_ok=True)
            wipe(given)
            return cls(given, owned=False, environ=env)
        path = tempfile.mkdtemp(prefix="plano-metrics-")
        env[ENV] = path
        return cls(path, owned=True, environ=env)

    def worker_exited(self, pid: int) -> None:
        """Drop the exited worker's live gauges (in-flight requests, active streams); its
        counters and histograms stay, so totals never go backwards."""
        multiprocess.mark_process_dead(pid, self.path)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        if self._owned:
            shutil.rmtree(self.path, ignore_errors=True)
            if self._environ.get(ENV) == self.path:
                del self._environ[ENV]


def wipe(path: str) -> None:
    """Remove the sample files (and console rings) a previous run left in `path`."""
    for pattern in ("*.db", "console-*.ring", "console-open"):
        for f in Path(path).glob(pattern):
            f.unlink(missing_ok=True)
