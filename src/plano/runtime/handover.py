"""A rolling upgrade's hand-over from one supervisor to the next (docs/operations.md).

The running supervisor starts its successor with its listening sockets: their descriptors are
passed down, and `PLANO_INHERIT` describes them (`SocketTable.export`) with the write end of a
pipe and the predecessor's pid. The successor adopts those sockets instead of binding, starts its
workers, and once they serve writes `ready PID` into the pipe; only then does the predecessor
retire its own workers. If the successor exits first or stays silent, the predecessor kills it
and keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any, Final

from plano.runtime.worker_handle import consume_outcome

INHERIT_ENV: Final = "PLANO_INHERIT"  # set by a supervisor handing its sockets to its successor
UPGRADE_TIMEOUT: Final = 150.0  # a successor supervisor must serve within this


def take_inheritance() -> dict[str, object] | None:
    """What a predecessor handed to this supervisor (and removed from the environment so that
    workers and later successors do not see it), or None when started fresh."""
    raw = os.environ.pop(INHERIT_ENV, None)
    if not raw:
        return None
    parsed = json.loads(raw)
    return parsed if isinstance(parsed, dict) else None


def tell_predecessor(inherit: Mapping[str, object] | None) -> None:
    """Tell the supervisor this one replaces that it serves now (no-op when started fresh)."""
    if inherit is None:
        return
    fd = inherit.get("ready")
    if isinstance(fd, int):
        with contextlib.suppress(OSError):
            os.write(fd, f"ready {os.getpid()}\n".encode())
            os.close(fd)


class Successor:
    """A new supervisor started with this one's sockets, until it serves or fails."""

    def __init__(self, proc: subprocess.Popen[bytes], ready_fd: int) -> None:
        self.proc = proc
        self.exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._ready_fd = ready_fd

    @property
    def pid(self) -> int:
        return self.proc.pid

    @classmethod
    def start(
        cls, argv: list[str], sockets: list[Any], fds: Iterable[int], env: Mapping[str, str]
    ) -> Successor:
        """Start `argv` as the successor, handing it `sockets` (their descriptors in `fds`).
        Raises OSError when it cannot be started."""
        read_fd, write_fd = os.pipe()
        child_env = dict(env)
        child_env[INHERIT_ENV] = json.dumps(
            {"sockets": sockets, "ready": write_fd, "from": os.getpid()}
        )
        try:
            proc = subprocess.Popen(
                argv, pass_fds=(*fds, write_fd), env=child_env, start_new_session=True
            )
        except OSError:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        return cls(proc, read_fd)

    def poll(self) -> None:
        """On SIGCHLD: settle `exited` if the successor is gone."""
        code = self.proc.poll()
        if code is not None and not self.exited.done():
            self.exited.set_result(code)

    async def wait_ready(self, within: float = UPGRADE_TIMEOUT) -> str | None:
        """None once the successor says it serves; else why not (it is killed then)."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[bytes] = loop.create_future()
        ready.add_done_callback(consume_outcome)
        buf = bytearray()
        read_fd = self._ready_fd

        def readable() -> None:
            try:
                data = os.read(read_fd, 256)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            buf.extend(data)
            if (b"\n" in buf or not data) and not ready.done():
                ready.set_result(bytes(buf))

        os.set_blocking(read_fd, False)
        loop.add_reader(read_fd, readable)
        try:
            waited: set[asyncio.Future[Any]] = {ready, self.exited}
            done, _ = await asyncio.wait(
                waited, timeout=within, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            loop.remove_reader(read_fd)
            os.close(read_fd)
        if ready in done and ready.result().startswith(b"ready "):
            return None
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        code = await self.exited
        if done:
            return f"the new supervisor exited with {code} before it served; see the log"
        return f"the new supervisor did not serve within {within:.0f} s"
