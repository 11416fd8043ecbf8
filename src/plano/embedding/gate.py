"""A bound on the embedding work of one worker process: jobs waiting plus running.

Embedding is CPU work (a few ms of CPU for a short text). Without a bound, a burst larger than
the CPU can serve queues in the thread pool without end: every request waits longer, clients time
out and go away, and their embeddings are still computed. `EmbeddingGate.run` admits a job only
while fewer than `limit` are waiting or running; otherwise it raises `EmbeddingOverloaded` at
once, and the caller applies its overload policy (the guard: `on_overload`; the embedded router
and agent selector: the no-route / default decision). A job whose caller was cancelled (the
client disconnected) before a thread picked it up is dropped without running.

The limit is `overrides.embedding_max_pending` (default `DEFAULT_PER_CPU` × the CPUs the process
may run on). Admitted jobs run on the gate's own pool, one thread per usable CPU; the others of
the limit wait in its queue.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Final, TypeVar

from plano.errors import InternalError

T = TypeVar("T")

DEFAULT_PER_CPU: Final = 4  # jobs per core: a few to keep every core busy, not a backlog

_WAITING: Final = 0
_RUNNING: Final = 1
_DROPPED: Final = 2


class EmbeddingOverloaded(InternalError):
    """The worker has `limit` embedding jobs waiting or running; this one was not queued."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, e.g. a worker pinned to a core)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_limit() -> int:
    return DEFAULT_PER_CPU * usable_cpus()


class _Job:
    """One admitted job; its state moves once from waiting to running or dropped."""

    __slots__ = ("_fn", "_gate", "_lock", "ran", "state")

    def __init__(self, gate: EmbeddingGate, fn: Callable[[], object]) -> None:
        self._gate = gate
        self._fn = fn
        self._lock = threading.Lock()
        self.state = _WAITING
        self.ran = False

    def __call__(self) -> object:  # in a worker thread
        with self._lock:
            if self.state == _DROPPED:
                return None
            self.state = _RUNNING
        try:
            self.ran = True
            return self._fn()
        finally:
            self._gate.release()

    def drop(self) -> bool:
        """Called when the caller went away: True when the job had not started (and never will)."""
        with self._lock:
            if self.state != _WAITING:
                return False
            self.state = _DROPPED
        self._gate.release()
        return True


class EmbeddingGate:
    """Admits at most `limit` embedding jobs (waiting + running) in this process."""

    def __init__(self, limit: int | None = None, executor: Executor | None = None) -> None:
        self._limit = limit if limit is not None else default_limit()
        self._executor = executor  # None: the gate's own pool, made on first use
        self._pending = 0
        self._lock = threading.Lock()
        self.rejected = 0  # jobs refused since start (for tests and diagnostics)
        self.dropped = 0  # jobs whose caller went away before they started

    def configure(self, limit: int | None) -> None:
        """Set the limit from the config (None: the default for this machine)."""
        self._limit = limit if limit is not None else default_limit()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def pending(self) -> int:
        return self._pending

    def _pool(self) -> Executor:
        """One thread per usable CPU (the model runs one thread per inference): admitted jobs
        beyond that wait in the pool's queue instead of sharing the cores with each other."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(usable_cpus(), "plano-embed")
        return self._executor

    def release(self) -> None:
        with self._lock:
            self._pending -= 1

    def _admit(self) -> None:
        with self._lock:
            if self._pending >= self._limit:
                self.rejected += 1
                raise EmbeddingOverloaded(
                    f"{self._pending} embedding jobs waiting or running (limit {self._limit})"
                )
            self._pending += 1

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """`fn(*args)` in a worker thread, or `EmbeddingOverloaded` at once when it is full."""
        self._admit()
        job = _Job(self, lambda: fn(*args))
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(self._pool(), job)
        except asyncio.CancelledError:
            if job.drop():
                self.dropped += 1
            raise
        except BaseException:
            job.drop()  # the executor refused it (shut down): nothing will run or release it
            raise
        return result  # type: ignore[return-value]


PROCESS_GATE: Final = EmbeddingGate()
