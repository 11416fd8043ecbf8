"""The supervisor: binds the sockets, runs N workers on them, replaces, reloads, hands over.

One asyncio event loop, no threads, no polling of processes (SIGCHLD wakes it). See
`docs/operations.md` ("Process model and signals", "Reload", "Rolling upgrade").

- Slot i has its own listening sockets (`plano.runtime.sockets`); the worker of slot i inherits
  them. A worker that dies is replaced on the same sockets after a backoff (0.5 s doubling to
  30 s; back to 0.5 s once a worker stayed up 60 s). The supervisor never gives up.
- SIGHUP (and `--watch`): re-read and validate the config; if good, start a new generation of
  workers on the same sockets, and once all of them serve, retire the old ones (SIGUSR1: stop
  accepting, finish in-flight work within `server.reload_drain_timeout`). Bad config, a bind
  error or a new worker that fails: the reload is refused and the old generation keeps serving.
- SIGUSR2: a rolling upgrade asked by `plano up` (request file in the run directory): start the
  new supervisor with this one's sockets, and once it reports ready, retire this generation and
  exit.
- SIGTERM/SIGINT: close the sockets, drain the workers for `server.drain_timeout`, kill what is
  left, exit 0. A second signal forces.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from plano.config import Config, ConfigError, format_report, load_config_text
from plano.listeners.admin import AdminSettings, admin_conflict
from plano.observability import multiproc
from plano.runtime import runstate
from plano.runtime.handover import UPGRADE_TIMEOUT, Successor, take_inheritance, tell_predecessor
from plano.runtime.run_records import RunRecords
from plano.runtime.serve import BindError
from plano.runtime.sockets import SocketTable, wanted
from plano.runtime.worker import ENV as WORKER_ENV
from plano.runtime.worker import RETIRE_SIGNAL, WorkerSpec
from plano.runtime.worker_handle import BACKOFF_START, Worker, backoff

log = logging.getLogger("plano")

READY_TIMEOUT: Final = 120.0  # a worker must serve within this after it was started
KILL_MARGIN: Final = 1.5  # after the drain time, before stragglers get SIGKILL


@dataclass(frozen=True)
class Options:
    config_path: Path
    workers: int
    max_body_bytes: int
    announce: Callable[[str], None]
    admin: AdminSettings | None = None
    run_dir: Path | None = None
    watch: bool = False
    verbose: bool = False


class Supervisor:
    def __init__(self, opts: Options, config: Config) -> None:
        self.opts = opts
        self.config = config
        self.n = opts.workers
        self.generation = 0
        self.current: list[Worker | None] = [None] * self.n
        self.procs: dict[int, Worker] = {}
        self.delay = [BACKOFF_START] * self.n
        self.respawns: list[asyncio.TimerHandle | None] = [None] * self.n
        self.stop_signals = 0
        self.stopping = False
        self.handed_over = False
        self.reload_seq = 0
        self.table = SocketTable(self.n)
        self.successor: Successor | None = None
        self._tasks: set[asyncio.Future[None]] = set()
        self._lifeline_r, self._lifeline_w = os.pipe()
        self._metrics: multiproc.MetricsDir | None = None
        self._snapshots = Path(tempfile.mkdtemp(prefix="plano-config-"))
        self.snapshot = self._snapshots / "none.yaml"
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._inherit = take_inheritance()
        predecessor = self._inherit.get("from") if self._inherit else None
        self.records = RunRecords(
            opts.run_dir, opts.config_path, predecessor if isinstance(predecessor, int) else None
        )

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> int:
        # Several workers share one metrics view through prometheus-client's multiprocess mode.
        # One worker keeps in-process metrics unless the directory is given: multiprocess mode
        # roughly doubles the CPU a request costs (docs/performance.md); the price is that a
        # reload starts that worker's counters again, which Prometheus reads as a reset.
        if self.n > 1 or os.environ.get(multiproc.ENV):
            self._metrics = multiproc.MetricsDir.prepare()
        try:
            with asyncio.Runner(loop_factory=asyncio.SelectorEventLoop) as runner:
                return runner.run(self._main())
        finally:
            self.table.close_all()
            os.close(self._lifeline_r)
            os.close(self._lifeline_w)
            if self._metrics is not None:
                self._metrics.close()
            shutil.rmtree(self._snapshots, ignore_errors=True)

    async def _main(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._spawn_task, self._reload, "SIGHUP")
        loop.add_signal_handler(signal.SIGUSR2, self._spawn_task, self._upgrade)
        loop.add_signal_handler(signal.SIGCHLD, self._reap)
        # Load again from the file's text (snapshotted for the workers): the config they run.
        config, snapshot, error = self._load(1)
        if config is None or snapshot is None:
            self.opts.announce(f"error: {error}")
            return 1
        self.config, self.snapshot = config, snapshot
        try:
            self._bind_initial()
        except BindError as exc:
            self.opts.announce(f"error: {exc.strerror}")
            return 1
        self.records.claim()
        self.generation = 1
        workers = [self._spawn(i, 1, self.config, self.snapshot) for i in range(self.n)]
        self.current = list(workers)
        self.records.write(self.config, sorted(self.procs), self.generation, self.handed_over)
        error = await self._await_ready(workers, READY_TIMEOUT)
        if error is not None and not self.stopping:
            await self._terminate(workers, signal.SIGKILL, 5.0)
            codes = sorted({w.exited.result() for w in workers if w.exited.done()} - {0})
            detail = f" (exit {', '.join(map(str, codes))})" if codes else ""
            self.opts.announce(
                f"error: a worker failed to start{detail}: {error}; see the log above"
            )
            self.records.clear()
            return 1
        if not self.stopping:
            described = workers[0].ready.result()
            plural = "worker" if self.n == 1 else "workers"
            self.opts.announce(f"plano ready (pid {os.getpid()}, {self.n} {plural}): {described}")
            tell_predecessor(self._inherit)
            self.records.write(self.config, sorted(self.procs), self.generation, self.handed_over)
            if self.opts.watch:
                self._spawn_task(self._watch_file)
            await self._stop.wait()
        await self._shutdown()
        return 0

    def _bind_initial(self) -> None:
        inherit = self._inherit
        if inherit is not None:
            exported = inherit.get("sockets")
            if isinstance(exported, list):
                self.table = SocketTable.adopt(exported, self.n)
        self.table.ensure(self.config, self.opts.admin)
        self.table.retain(set(wanted(self.config, self.opts.admin)))

    def _spawn_task(self, fn: Callable[..., Awaitable[None]], *args: object) -> None:
        if self.stopping or self.handed_over:
            return
        task = asyncio.ensure_future(fn(*args))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Future[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("supervisor task failed", exc_info=task.exception())

    # -- workers ---------------------------------------------------------------------------

    def _spawn(self, slot: int, generation: int, config: Config, snapshot: Path) -> Worker:
        read_fd, write_fd = os.pipe()
        spec = WorkerSpec(
            config=str(snapshot),
            source=str(self.opts.config_path),
            slot=slot,
            generation=generation,
            max_body_bytes=self.opts.max_body_bytes,
            listeners=self.table.listener_fds(slot, config),
            admin=self.table.admin_fd(slot, self.opts.admin),
            ready=write_fd,
            lifeline=self._lifeline_r,
            verbose=self.opts.verbose,
        )
        env = dict(os.environ)
        env[WORKER_ENV] = spec.to_env()
        try:
            proc = subprocess.Popen(spec.argv(), pass_fds=spec.fds(), env=env)
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        worker = Worker(proc, slot, generation, config, read_fd, asyncio.get_running_loop())
        self.procs[proc.pid] = worker
        log.debug("worker %d started (slot %d, generation %d)", proc.pid, slot, generation)
        return worker

    def _reap(self) -> None:
        for pid, worker in list(self.procs.items()):
            code = worker.proc.poll()
            if code is not None:
                del self.procs[pid]
                self._on_exit(worker, code)
        if self.successor is not None:
            self.successor.poll()

    def _on_exit(self, worker: Worker, code: int) -> None:
        worker.reaped(code)
        if self._metrics is not None:
            self._metrics.worker_exited(worker.pid)
        if self.current[worker.slot] is worker:
            self.current[worker.slot] = None
            if not (self.stopping or self.handed_over):
                self._schedule_respawn(worker, code)
        elif worker.retiring:
            log.info("worker %d (generation %d) finished draining", worker.pid, worker.generation)
        self.records.write(self.config, sorted(self.procs), self.generation, self.handed_over)

    def _schedule_respawn(self, worker: Worker, code: int) -> None:
        slot = worker.slot
        delay, self.delay[slot] = backoff(self.delay[slot], time.monotonic() - worker.started)
        log.warning(
            "worker %d (slot %d) exited with %s; starting another in %.1f s",
            worker.pid,
            slot,
            code,
            delay,
        )
        loop = asyncio.get_running_loop()
        self.respawns[slot] = loop.call_later(delay, self._respawn, slot)

    def _respawn(self, slot: int) -> None:
        self.respawns[slot] = None
        if self.stopping or self.handed_over or self.current[slot] is not None:
            return
        try:
            worker = self._spawn(slot, self.generation, self.config, self.snapshot)
        except OSError as exc:
            log.error("cannot start a worker for slot %d: %s", slot, exc)
            loop = asyncio.get_running_loop()
            self.respawns[slot] = loop.call_later(self.delay[slot], self._respawn, slot)
            return
        self.current[slot] = worker
        self.records.write(self.config, sorted(self.procs), self.generation, self.handed_over)

        def ready(fut: asyncio.Future[str]) -> None:
            if not fut.cancelled() and fut.exception() is None:
                log.info("worker %d (slot %d) serves again", worker.pid, slot)

        worker.ready.add_done_callback(ready)

    def _cancel_respawns(self) -> None:
        for i, handle in enumerate(self.respawns):
            if handle is not None:
                handle.cancel()
                self.respawns[i] = None

    async def _await_ready(self, workers: list[Worker], within: float) -> str | None:
        """None once every worker serves; else why not (a worker exited, time ran out, stop)."""
        stop = asyncio.ensure_future(self._stop.wait())
        pending: set[asyncio.Future[Any]] = {asyncio.shield(w.ready) for w in workers}
        deadline = time.monotonic() + within
        try:
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return f"workers did not serve within {within:.0f} s"
                done, _ = await asyncio.wait(
                    pending | {stop}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if stop in done:
                    return "stopping"
                for fut in done:
                    pending.discard(fut)
                    exc = fut.exception()
                    if exc is not None:
                        return str(exc)
        finally:
            stop.cancel()
            for fut in pending:
                fut.cancel()
        return None

    async def _terminate(self, workers: Iterable[Worker], sig: int, within: float) -> None:
        """Send `sig` to `workers`; SIGKILL those still alive after `within` seconds."""
        workers = [w for w in workers if not w.exited.done()]
        for w in workers:
            w.signal(sig)
        await self._wait_exit(workers, within)
        for w in workers:
            w.signal(signal.SIGKILL)
        await self._wait_exit(workers, 5.0)

    async def _wait_exit(self, workers: Iterable[Worker], within: float) -> None:
        futs = [w.exited for w in workers if not w.exited.done()]
        if futs:
            await asyncio.wait(futs, timeout=within)

    # -- stop ------------------------------------------------------------------------------

    def _on_stop_signal(self, sig: int) -> None:
        self.stop_signals += 1
        if self.stop_signals == 1:
            log.info("%s: draining", signal.Signals(sig).name)
            self.stopping = True
            self._stop.set()
        else:  # a second one forces: the workers' own handlers abort what is left
            for w in list(self.procs.values()):
                w.signal(sig)

    async def _shutdown(self) -> None:
        self.stopping = True
        self._cancel_respawns()
        for task in list(self._tasks):
            task.cancel()
        # No worker will accept again: let the kernel refuse new connections at once.
        self.table.close_all()
        drain = self.config.server.drain_timeout
        await self._terminate(list(self.procs.values()), signal.SIGTERM, drain + KILL_MARGIN)
        self._reap()
        self.records.clear()

    # -- reload ----------------------------------------------------------------------------

    def _load(self, generation: int) -> tuple[Config | None, Path | None, str | None]:
        """The config file validated, and a snapshot of its text for `generation`'s workers;
        or why not."""
        path = self.opts.config_path
        try:
            text = path.read_text(encoding="utf-8")
            config = load_config_text(text, source=str(path), base_dir=path.parent)
        except ConfigError as err:
            return None, None, format_report(err.problems, ())
        except (OSError, UnicodeDecodeError) as exc:
            return None, None, f"{path}: cannot read: {exc}"
        if config.missing_env:
            names = ", ".join(f"${var} (used at {where})" for where, var in config.missing_env)
            return None, None, f"{path}: missing environment variables: {names}"
        conflict = admin_conflict(config, self.opts.admin, self.n)
        if conflict is not None:
            return None, None, conflict
        if self.n > 1 and any(lc.port == 0 for lc in config.listeners):
            return None, None, "port 0 (any free port) needs --workers 1: workers must share a port"
        snapshot = self._snapshots / f"generation-{generation}.yaml"
        snapshot.write_text(text, encoding="utf-8")
        return config, snapshot, None

    async def _reload(self, reason: str) -> None:
        async with self._reload_lock:
            if self.stopping or self.handed_over:
                return
            self.reload_seq += 1
            seq = self.reload_seq
            log.info("reload (%s): reading %s", reason, self.opts.config_path)
            generation = self.generation + 1
            config, snapshot, error = self._load(generation)
            if config is None or snapshot is None:
                self._refuse(seq, error or "cannot load the config")
                return
            for warning in config.warnings:
                log.warning("%s", warning)
            try:
                added = self.table.ensure(config, self.opts.admin)
            except BindError as exc:
                self._refuse(seq, exc.strerror or str(exc))
                return
            try:
                new = [self._spawn(i, generation, config, snapshot) for i in range(self.n)]
            except OSError as exc:
                self.table.close(added)
                self._refuse(seq, f"cannot start workers: {exc}")
                return
            error = await self._await_ready(new, READY_TIMEOUT)
            if error is not None:
                await self._terminate(new, signal.SIGKILL, 5.0)
                self.table.close(added)
                self._refuse(seq, f"generation {generation} failed to start: {error}")
                return
            old = [w for w in self.current if w is not None]
            self._cancel_respawns()
            self.current = list(new)
            self.delay = [BACKOFF_START] * self.n
            self.generation = generation
            self.config, self.snapshot = config, snapshot
            for w in old:
                w.retiring = True
                w.signal(RETIRE_SIGNAL)
            self.records.write(self.config, sorted(self.procs), self.generation, self.handed_over)
            self.records.status(runstate.RELOAD_STATUS, seq, self.generation, None)
            log.info(
                "reload: generation %d serves %s; generation %d drains (up to %.0f s). "
                "The admin listener and --workers are command-line settings: changing them "
                "needs a restart or a rolling upgrade (plano up)",
                generation,
                self.opts.config_path,
                generation - 1,
                max((w.config.server.reload_drain_timeout for w in old), default=0.0),
            )
            self._spawn_task(self._close_after, old)

    def _refuse(self, seq: int, error: str) -> None:
        log.error(
            "reload refused; generation %d keeps serving:\n%s", self.generation, error.rstrip()
        )
        self.records.status(runstate.RELOAD_STATUS, seq, self.generation, error)

    async def _close_after(self, old: list[Worker]) -> None:
        """Once the retired generation is gone, close the sockets no live worker needs."""
        within = max((w.config.server.reload_drain_timeout for w in old), default=0.0)
        await self._wait_exit(old, within + KILL_MARGIN)
        for w in old:
            if not w.exited.done():
                log.warning("worker %d still draining after %.0f s; killed", w.pid, within)
                w.signal(signal.SIGKILL)
        await self._wait_exit(old, 5.0)
        if self.stopping or self.handed_over:
            return
        keep = set(wanted(self.config, self.opts.admin))
        for w in self.procs.values():
            keep |= set(wanted(w.config, self.opts.admin))
        self.table.retain(keep)

    async def _watch_file(self) -> None:
        last = _digest(self.opts.config_path)
        while not self.stopping:
            await asyncio.sleep(1.0)  # --watch polls the file's content once a second
            now = _digest(self.opts.config_path)
            if now is not None and now != last:
                last = now
                await self._reload("config file changed")

    # -- rolling upgrade -------------------------------------------------------------------

    async def _upgrade(self) -> None:
        async with self._reload_lock:
            run_dir = self.opts.run_dir
            if run_dir is None or self.stopping or self.handed_over:
                return
            request = runstate.read_json(run_dir / runstate.UPGRADE_REQUEST)
            if request is None or not isinstance(request.get("argv"), list):
                log.error("SIGUSR2 without an upgrade request in %s; ignored", run_dir)
                return
            seq = int(request.get("seq", 0))
            argv = [str(a) for a in request["argv"]]
            error = await self._hand_over(argv)
            if error is not None:
                log.error("upgrade failed; this supervisor keeps serving: %s", error)
                self.records.status(runstate.UPGRADE_STATUS, seq, self.generation, error)
                return
            assert self.successor is not None
            # The successor holds the sockets now and names itself in the record: this
            # supervisor retires its workers and exits.
            self.handed_over = True
            self.records.status(
                runstate.UPGRADE_STATUS, seq, self.generation, None, new_pid=self.successor.pid
            )
        log.info("upgrade: supervisor %d serves; this generation drains", self.successor.pid)
        self._cancel_respawns()
        self.table.close_all()
        old = [w for w in self.current if w is not None]
        self.current = [None] * self.n
        for w in old:
            w.retiring = True
            w.signal(RETIRE_SIGNAL)
        within = max((w.config.server.reload_drain_timeout for w in old), default=0.0)
        await self._wait_exit(list(self.procs.values()), within + KILL_MARGIN)
        self._stop.set()

    async def _hand_over(self, argv: list[str]) -> str | None:
        env = dict(os.environ)
        if self._metrics is not None and env.get(multiproc.ENV) == self._metrics.path:
            env.pop(multiproc.ENV)  # the successor makes its own metrics directory
        try:
            self.successor = Successor.start(argv, self.table.export(), self.table.all_fds(), env)
        except OSError as exc:
            return f"cannot start {argv[0]}: {exc}"
        log.info("upgrade: started supervisor %d; waiting until it serves", self.successor.pid)
        return await self.successor.wait_ready(UPGRADE_TIMEOUT)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
