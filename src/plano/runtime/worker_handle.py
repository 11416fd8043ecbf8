"""One worker process as the supervisor sees it, and the backoff of a slot whose worker died.

A `Worker` wraps the process and its ready pipe: `ready` resolves with the worker's "ready ..."
line (or fails if it exits first), `exited` with its exit status once the supervisor reaped it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from typing import Any, Final

from plano.config import Config

BACKOFF_START: Final = 0.5
BACKOFF_MAX: Final = 30.0
BACKOFF_RESET: Final = 60.0  # a worker that stayed up this long resets its slot's backoff


class WorkerFailed(Exception):
    pass


class Worker:
    """One worker process as the supervisor sees it."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        slot: int,
        generation: int,
        config: Config,
        ready_fd: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.slot = slot
        self.generation = generation
        self.config = config
        self.started = time.monotonic()
        self.retiring = False
        self.ready: asyncio.Future[str] = loop.create_future()
        self.exited: asyncio.Future[int] = loop.create_future()
        for fut in (self.ready, self.exited):
            fut.add_done_callback(consume_outcome)
        self._fd = ready_fd
        self._buf = b""
        self._loop = loop
        os.set_blocking(ready_fd, False)
        loop.add_reader(ready_fd, self._readable)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        self._buf += data
        if b"\n" in self._buf and not self.ready.done():
            line = self._buf.split(b"\n", 1)[0].decode(errors="replace")
            self.ready.set_result(line.removeprefix("ready "))
        if not data:
            self._close_pipe()
            if not self.ready.done():
                self.ready.set_exception(WorkerFailed(f"worker {self.pid} exited before serving"))

    def _close_pipe(self) -> None:
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1

    def reaped(self, code: int) -> None:
        self._close_pipe()
        if not self.ready.done():
            self.ready.set_exception(WorkerFailed(f"worker {self.pid} exited with {code}"))
        if not self.exited.done():
            self.exited.set_result(code)

    def signal(self, sig: int) -> None:
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)


def consume_outcome(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()  # retrieved: no "exception was never retrieved" noise


def backoff(current: float, lived: float) -> tuple[float, float]:
    """(wait before this replacement, wait before the next one) for a slot whose worker died
    after `lived` seconds: 0.5 s doubling to 30 s, back to 0.5 s after a worker stayed up 60 s."""
    delay = BACKOFF_START if lived >= BACKOFF_RESET else current
    return delay, min(delay * 2, BACKOFF_MAX)
