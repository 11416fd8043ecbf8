"""Worker processes: N identical servers sharing the listener ports with SO_REUSEPORT.

The supervisor spawns workers, prints one ready line when all of them serve, restarts a worker
that dies unexpectedly (bounded), and on SIGTERM/SIGINT passes the signal on and waits for the
drain, killing what is still alive just before the 10 s promise runs out. It also owns the run's
metrics directory (prometheus-client multiprocess mode): created before the workers start, told
when one exits, removed at the end.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import time
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Final

from plano.config import Config, load_config
from plano.listeners.admin import AdminSettings, admin_conflict
from plano.observability import multiproc
from plano.runtime.serve import BindError, check_admin_port_free, run_worker

log = logging.getLogger("plano")

STOP_DEADLINE: Final = 9.5  # seconds from SIGTERM to SIGKILL of stragglers
MAX_RESTARTS: Final = 5  # within RESTART_WINDOW seconds, then the supervisor gives up
RESTART_WINDOW: Final = 60.0


def serve(
    config: Config,
    config_path: Path,
    *,
    workers: int,
    max_body_bytes: int,
    announce: Callable[[str], None],
    admin: AdminSettings | None = None,
) -> int:
    """Serve `config` with `workers` processes; returns the exit status. `admin`: where the
    admin listener (`/metrics`) binds, None for none."""
    conflict = admin_conflict(config, admin, workers)
    if conflict is not None:
        announce(f"error: {conflict}")
        return 2
    if workers <= 1:
        if os.environ.get(multiproc.ENV):  # multiprocess mode asked for: start from a clean dir
            multiproc.MetricsDir.prepare()

        def ready(described: str) -> None:
            announce(f"plano ready (pid {os.getpid()}): {described}")

        try:
            run_worker(
                config, reuse_port=False, max_body_bytes=max_body_bytes, on_ready=ready, admin=admin
            )
        except BindError as exc:
            announce(f"error: {exc.strerror}")
            return 1
        return 0
    if any(lc.port == 0 for lc in config.listeners):
        announce("error: port 0 (any free port) needs --workers 1: workers must share a port")
        return 2
    if admin is not None:
        try:
            check_admin_port_free(admin)
        except BindError as exc:
            announce(f"error: {exc.strerror}")
            return 1
    return _Supervisor(config_path, workers, max_body_bytes, announce, admin).run()


def _worker_main(
    config_path: str, max_body_bytes: int, admin: AdminSettings | None, ready: Connection
) -> None:
    config = load_config(config_path)

    def on_ready(described: str) -> None:
        ready.send(described)
        ready.close()

    try:
        run_worker(
            config, reuse_port=True, max_body_bytes=max_body_bytes, on_ready=on_ready, admin=admin
        )
    except BindError as exc:
        print(f"plano: {exc.strerror}", file=sys.stderr)
        sys.exit(1)


class _Supervisor:
    def __init__(
        self,
        config_path: Path,
        workers: int,
        max_body_bytes: int,
        announce: Callable[[str], None],
        admin: AdminSettings | None,
    ) -> None:
        self._ctx = mp.get_context("spawn")
        self._path = str(config_path)
        self._n = workers
        self._max_body = max_body_bytes
        self._announce = announce
        self._admin = admin
        self._procs: list[BaseProcess] = []
        self._stopping = False
        self._restarts: list[float] = []
        self._metrics: multiproc.MetricsDir | None = None

    def run(self) -> int:
        # Before any worker exists: workers inherit the variable and start in multiprocess mode.
        self._metrics = multiproc.MetricsDir.prepare()
        try:
            return self._run()
        finally:
            self._metrics.close()

    def _run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        pipes = [self._spawn() for _ in range(self._n)]
        described = ""
        for conn in pipes:
            try:
                described = conn.recv()
            except EOFError:
                self._announce("error: a worker failed to start; see the log above")
                self._stop_all()
                return 1
        self._announce(f"plano ready (pid {os.getpid()}, {self._n} workers): {described}")
        return self._watch()

    def _spawn(self) -> Connection:
        parent, child = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(
            target=_worker_main,
            args=(self._path, self._max_body, self._admin, child),
            name=f"plano-worker-{len(self._procs)}",
            daemon=False,
        )
        proc.start()
        child.close()
        self._procs.append(proc)
        return parent

    def _on_signal(self, signum: int, frame: object) -> None:
        self._stopping = True

    def _watch(self) -> int:
        # Block on the workers' sentinels and a self-pipe that signals write to: no polling.
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        previous = signal.set_wakeup_fd(wake_w)
        try:
            while not self._stopping:
                ready = wait([p.sentinel for p in self._procs] + [wake_r])
                if wake_r in ready:
                    os.read(wake_r, 512)
                for proc in [p for p in self._procs if p.exitcode is not None]:
                    if not self._stopping and not self._replace(proc):
                        self._stop_all()
                        return 1
        finally:
            signal.set_wakeup_fd(previous)
            os.close(wake_r)
            os.close(wake_w)
        self._stop_all()
        return 0

    def _exited(self, proc: BaseProcess) -> None:
        if self._metrics is not None and proc.pid is not None:
            self._metrics.worker_exited(proc.pid)

    def _replace(self, proc: BaseProcess) -> bool:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW]
        self._procs.remove(proc)
        self._exited(proc)
        if len(self._restarts) >= MAX_RESTARTS:
            print(
                f"plano: workers keep dying (last exit {proc.exitcode}); giving up", file=sys.stderr
            )
            return False
        self._restarts.append(now)
        print(
            f"plano: worker {proc.pid} exited with {proc.exitcode}; starting another",
            file=sys.stderr,
        )
        self._spawn()
        return True

    def _stop_all(self) -> None:
        for proc in self._procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_DEADLINE
        for proc in self._procs:
            proc.join(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=1)
            self._exited(proc)
