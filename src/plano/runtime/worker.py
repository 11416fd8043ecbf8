"""One worker process: `python -m plano.runtime.worker --slot I --generation G`.

The supervisor starts it with its slot's listening sockets already bound (inherited file
descriptors) and describes them in `$PLANO_WORKER` (JSON, see `WorkerSpec`). The worker never
binds: a worker that dies takes only the connections it had accepted with it, and connections
queued in the slot's sockets wait for its replacement.

Two more inherited pipes: `ready`, on which the worker writes one line (`ready <description>`)
once it serves, then closes; and `lifeline`, whose write end only the supervisor holds. EOF on the
lifeline means the supervisor is gone: the worker drains and exits, so it is never an orphan
holding the ports. PR_SET_PDEATHSIG (Linux, SIGUSR2) is a backstop meaning the same.

Signals: SIGTERM/SIGINT drain for `server.drain_timeout` (a second one forces); SIGUSR1 retires
(reload, upgrade): stop accepting, let in-flight requests and streams finish for up to
`server.reload_drain_timeout`. SIGHUP is the supervisor's business and ignored here.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

import uvloop

from plano.config import load_config_text
from plano.http.server import LeanServer
from plano.listeners.app import build_app
from plano.runtime.local_tracing import with_local_tracing
from plano.runtime.serve import (
    BoundAdmin,
    BoundListener,
    HttpServer,
    describe,
    make_server,
    settle_heap,
)

log = logging.getLogger("plano")

ENV: Final = "PLANO_WORKER"
RETIRE_SIGNAL: Final = signal.SIGUSR1
PARENT_DEATH_SIGNAL: Final = signal.SIGUSR2  # means what EOF on the lifeline means
_PR_SET_PDEATHSIG: Final = 1


@dataclass(frozen=True)
class WorkerSpec:
    config: str  # the supervisor's snapshot of the config text this generation was loaded from
    source: str  # the config file it came from (messages, and where `.env` is looked for)
    slot: int
    generation: int
    max_body_bytes: int
    listeners: dict[str, int]  # listener name -> inherited listening socket fd
    admin: int | None
    ready: int
    lifeline: int
    verbose: bool = False

    def to_env(self) -> str:
        return json.dumps(
            {
                "config": self.config,
                "source": self.source,
                "slot": self.slot,
                "generation": self.generation,
                "max_body_bytes": self.max_body_bytes,
                "listeners": self.listeners,
                "admin": self.admin,
                "ready": self.ready,
                "lifeline": self.lifeline,
                "verbose": self.verbose,
            }
        )

    @classmethod
    def from_env(cls, raw: str) -> WorkerSpec:
        d = json.loads(raw)
        return cls(
            config=str(d["config"]),
            source=str(d["source"]),
            slot=int(d["slot"]),
            generation=int(d["generation"]),
            max_body_bytes=int(d["max_body_bytes"]),
            listeners={str(k): int(v) for k, v in d["listeners"].items()},
            admin=None if d["admin"] is None else int(d["admin"]),
            ready=int(d["ready"]),
            lifeline=int(d["lifeline"]),
            verbose=bool(d.get("verbose", False)),
        )

    def fds(self) -> tuple[int, ...]:
        admin = () if self.admin is None else (self.admin,)
        return (*self.listeners.values(), *admin, self.ready, self.lifeline)

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "plano.runtime.worker",
            "--slot",
            str(self.slot),
            "--generation",
            str(self.generation),
        ]


def set_parent_death_signal(sig: int = PARENT_DEATH_SIGNAL) -> None:
    """Ask Linux to send `sig` when the parent dies (best effort; nothing elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class _Lifecycle:
    """Signal and lifeline handling of one worker around its server."""

    def __init__(self, server: HttpServer, drain: float, reload_drain: float) -> None:
        self.server = server
        self.drain = drain
        self.reload_drain = reload_drain
        self.retiring = False
        self.stopping = False
        self.received: set[int] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def on_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM/SIGINT. A signal seen before forces (Ctrl-C twice); another kind while
        already stopping is ignored (Ctrl-C reaches the supervisor too, which sends SIGTERM)."""
        repeated = signum in self.received
        self.received.add(signum)
        if repeated:
            self.server.handle_exit(signum, frame)  # already exiting: this forces
        elif self.retiring and not self.stopping:
            # Leaving for a successor already: SIGTERM cuts the rest of the drain to drain_timeout.
            self.stopping = True
            if self._loop is not None:
                self._loop.call_soon_threadsafe(
                    self._loop.call_later, self.drain, self.server.handle_exit, signum, None
                )
        elif not self.stopping:
            self.stopping = True
            self.server.handle_exit(signum, frame)

    def on_retire(self, signum: int, frame: FrameType | None) -> None:
        if self.retiring or self.stopping:
            return
        self.retiring = True
        if isinstance(self.server, LeanServer):
            self.server.retire(self.reload_drain)
        else:  # pragma: no cover - make_server always gives a LeanServer today
            self.server.handle_exit(signum, frame)

    def on_parent_death(self, signum: int, frame: FrameType | None) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.on_supervisor_gone)
        else:
            self.on_supervisor_gone()

    def on_supervisor_gone(self) -> None:
        if not self.retiring and not self.stopping:
            log.warning("worker %d: the supervisor is gone; draining", os.getpid())
            self.stopping = True
            self.server.handle_exit(signal.SIGTERM, None)

    async def serve(self, sockets: list[socket.socket], lifeline: int) -> None:
        loop = self._loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(lifeline, 64)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(lifeline)
                self.on_supervisor_gone()

        os.set_blocking(lifeline, False)
        loop.add_reader(lifeline, readable)
        try:
            await self.server.serve(sockets)
        finally:
            loop.remove_reader(lifeline)


def run(spec: WorkerSpec) -> int:
    set_parent_death_signal()
    logging.basicConfig(
        level=logging.DEBUG if spec.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The snapshot, not the file: a replacement worker runs its generation's config even if
    # the file was edited since (that takes a reload).
    text = Path(spec.config).read_text(encoding="utf-8")
    config = load_config_text(text, source=spec.source, base_dir=Path(spec.source).parent)
    config = with_local_tracing(config, os.environ)
    bound = []
    for lc in config.listeners:
        fd = spec.listeners.get(lc.name)
        if fd is None:
            print(f"plano: worker got no socket for listener '{lc.name}'", file=sys.stderr)
            return 1
        bound.append(BoundListener(lc, socket.socket(fileno=fd)))
    admin = None if spec.admin is None else BoundAdmin(socket.socket(fileno=spec.admin))
    state = build_app(config, max_body_bytes=spec.max_body_bytes)

    def on_started() -> None:
        line = f"ready {describe(bound, admin)}\n".encode()
        try:
            os.write(spec.ready, line)
            os.close(spec.ready)
        except OSError:
            pass  # the supervisor went away; the lifeline will tell

    server = make_server(state, bound, on_started, admin)
    life = _Lifecycle(server, config.server.drain_timeout, config.server.reload_drain_timeout)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, life.on_stop)
    signal.signal(RETIRE_SIGNAL, life.on_retire)
    signal.signal(PARENT_DEATH_SIGNAL, life.on_parent_death)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sockets = [b.sock for b in bound] + ([admin.sock] if admin is not None else [])
    settle_heap()
    uvloop.run(life.serve(sockets, spec.lifeline))
    return 0


def main() -> None:
    raw = os.environ.get(ENV)
    if not raw:
        print(f"plano.runtime.worker is started by the supervisor (${ENV} unset)", file=sys.stderr)
        sys.exit(2)
    sys.exit(run(WorkerSpec.from_env(raw)))


if __name__ == "__main__":
    main()
