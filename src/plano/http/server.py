"""`LeanServer`: serve an ASGI app over `HttpConnection` on listening sockets, drain on exit.

    server = LeanServer(app, keep_alive_timeout=75.0, header_timeout=10.0, body_timeout=30.0,
                        max_connections=None, drain_seconds=8.0, on_started=cb)
    await server.serve([sock, ...])   # until request_exit() / should_exit = True / a signal

Startup runs the ASGI lifespan (`lifespan.startup`; an app that returns at once has none, one
that raises or sends `lifespan.startup.failed` stops `serve` with `started` still False). Exit:
stop accepting, close idle connections at once, let in-flight responses finish for up to
`drain_seconds`; then cancel the app calls still running while their connections are still open
(a stream relay catches the cancellation and writes its final error event, which still reaches
the client), give them up to 1 s to unwind, abort the connections that remain, and run the
lifespan shutdown. `handle_exit` suits a signal handler: the first signal drains, the second
forces an immediate exit.

Connection limit: `max_connections` admitted connections per server (None: derived from the
file-descriptor limit, see `derived_max_connections`); a connection beyond it is accepted,
answered 503 (`{"error": {"type": "overloaded", ...}}`, `connection: close`) and closed, so the
ones already admitted are never reset. `counters` (plain ints) counts refusals and timeouts.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from types import FrameType
from typing import TypeVar

from plano.http.connection import (
    ASGI_VERSION,
    ASGIApp,
    Counters,
    HttpConnection,
    Message,
    Shared,
)

log = logging.getLogger("plano")

_CANCEL_WAIT = 1.0  # at the drain deadline, how long cancelled app calls get to unwind
FD_RESERVE = 256  # descriptors kept for listeners, files, logs, Redis/Postgres, exporters
MIN_DERIVED_CONNECTIONS = 32
_NOFILE_CAP = 1 << 20  # an unlimited hard limit: raise the soft one this far at most
T = TypeVar("T")


def raise_nofile_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit where allowed; the soft limit
    now in force (an unlimited one counted as 2**20)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _NOFILE_CAP if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (OSError, ValueError) as exc:
            log.info("could not raise the open-file limit from %d to %d: %s", soft, target, exc)
        else:
            soft = target
    return _NOFILE_CAP if soft == resource.RLIM_INFINITY else soft


def derived_max_connections(nofile: int) -> int:
    """Client connections a worker admits with `nofile` descriptors: a reserve of FD_RESERVE,
    and of the rest one half for client connections, one half for the upstream connection each
    of them may hold; never fewer than 32."""
    return max(MIN_DERIVED_CONNECTIONS, (nofile - FD_RESERVE) // 2)


async def _unless(aw: Awaitable[T], event: asyncio.Event, within: float | None = None) -> T | None:
    """`aw`'s result; or None, `aw` cancelled, once `event` is set or `within` s passed."""
    task = asyncio.ensure_future(aw)
    stop = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({task, stop}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None


class _Lifespan:
    """The ASGI lifespan protocol, driven from `LeanServer.serve`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self.startup_done: asyncio.Future[str | None] = loop.create_future()
        self.shutdown_done: asyncio.Future[str | None] = loop.create_future()
        self.task: asyncio.Task[None] | None = None
        self.supported = True

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": ASGI_VERSION}
        try:
            await self.app(scope, self.inbox.get, self._send)
        except Exception as exc:
            log.exception("the ASGI lifespan failed")
            self._settle(f"{type(exc).__name__}: {exc}")
        else:
            if not self.startup_done.done():
                self.supported = False  # returned without a word: no lifespan support
            self._settle(None)

    def _settle(self, error: str | None) -> None:
        for fut in (self.startup_done, self.shutdown_done):
            if not fut.done():
                fut.set_result(error)

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        fut = self.startup_done if kind.startswith("lifespan.startup.") else self.shutdown_done
        if not fut.done():
            fut.set_result(message.get("message", "failed") if kind.endswith(".failed") else None)

    async def startup(self) -> bool:
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        error = await self.startup_done
        if error is not None:
            log.error("ASGI lifespan startup failed: %s", error)
        return error is None

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()

    async def shutdown(self) -> None:
        if self.task is None or self.task.done():
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        error = await self.shutdown_done
        if error is not None:
            log.error("ASGI lifespan shutdown failed: %s", error)


class LeanServer:
    """HTTP/1.1 for the gateway's ASGI subset; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keep_alive_timeout: float = 75.0,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        max_connections: int | None = None,
        drain_seconds: float = 8.0,
        on_started: Callable[[], None] | None = None,
        tls: Mapping[int, ssl.SSLContext] | None = None,
    ) -> None:
        """`tls`: server contexts by listening port (those ports serve HTTPS)."""
        for name, value in (
            ("keep_alive_timeout", keep_alive_timeout),
            ("header_timeout", header_timeout),
            ("body_timeout", body_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, not {value!r}")
        if max_connections is not None and max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, not {max_connections!r}")
        self.app = app
        self.keep_alive_timeout = keep_alive_timeout
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.max_connections = max_connections
        self.connection_limit: int | None = max_connections  # in force once serving
        self.counters = Counters()  # refusals and timeouts, for metrics (plain ints)
        self.drain_seconds = drain_seconds
        self.on_started = on_started
        self.tls: Mapping[int, ssl.SSLContext] = tls or {}
        self.started = False
        self.force_exit = False
        self._should_exit = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._exit: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._shared: Shared | None = None

    @property
    def should_exit(self) -> bool:
        return self._should_exit

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._should_exit = value
        if value:
            self._wake()

    def request_exit(self) -> None:
        """Start the graceful exit; callable from any thread."""
        self.should_exit = True

    def handle_exit(self, signum: int, frame: FrameType | None) -> None:
        """A signal handler: the first call drains, the second forces."""
        if self._should_exit:
            self.force_exit = True
        self.should_exit = True

    def retire(self, drain_seconds: float) -> None:
        """Leave for a successor (reload, upgrade): stop accepting, close idle connections, and
        let in-flight requests and streams finish for up to `drain_seconds`. Callable from any
        thread and from a signal handler; a later `handle_exit` forces as usual."""
        self.drain_seconds = drain_seconds
        self.should_exit = True

    @property
    def connections(self) -> frozenset[HttpConnection]:
        """The open client connections (for introspection and tests)."""
        return frozenset(self._shared.connections) if self._shared else frozenset()

    def _wake(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_exit_requested)

    def _on_exit_requested(self) -> None:
        if self._exit is not None and self._should_exit:
            self._exit.set()
        if self._force is not None and self.force_exit:
            self._force.set()

    async def serve(self, sockets: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._exit, self._force = asyncio.Event(), asyncio.Event()
        self._on_exit_requested()
        limit = self.max_connections
        if limit is None:
            limit = derived_max_connections(raise_nofile_limit())
        self.connection_limit = limit
        shared = self._shared = Shared(
            self.app,
            loop,
            self.keep_alive_timeout,
            header_timeout=self.header_timeout,
            body_timeout=self.body_timeout,
            max_connections=limit,
            counters=self.counters,
        )
        lifespan = _Lifespan(self.app)
        if not await _unless(lifespan.startup(), self._exit):  # failed, or told to exit
            lifespan.cancel()
            return
        servers: list[asyncio.AbstractServer] = []

        def factory() -> HttpConnection:
            return HttpConnection(shared)

        try:
            for sock in sockets:
                ctx = self.tls.get(sock.getsockname()[1]) if self.tls else None
                if ctx is None:
                    server = await loop.create_server(factory, sock=sock, backlog=2048)
                else:  # HTTPS: a handshake gets the time a request head gets
                    server = await loop.create_server(
                        factory,
                        sock=sock,
                        backlog=2048,
                        ssl=ctx,
                        ssl_handshake_timeout=self.header_timeout,
                    )
                servers.append(server)
            self.started = True
            if self.on_started is not None:
                self.on_started()
            await self._exit.wait()
        finally:
            await self._drain(shared, servers)
            await _unless(lifespan.shutdown(), self._force)

    async def _drain(self, shared: Shared, servers: list[asyncio.AbstractServer]) -> None:
        for server in servers:
            server.close()
        shared.draining = True
        for conn in list(shared.connections):
            conn.shutdown()
        shared.check_done()
        assert self._force is not None
        await _unless(shared.all_done.wait(), self._force, self.drain_seconds)
        # The deadline: cancel the app calls first, their connections still open, so that what
        # they write while unwinding (a stream's final error event) reaches the client ...
        tasks = list(shared.tasks)
        for task in tasks:
            task.cancel()
        if tasks and not self._force.is_set():
            await _unless(asyncio.wait(tasks), self._force, _CANCEL_WAIT)
        # ... then abort what is still open.
        for conn in list(shared.connections) + list(shared.refused):
            conn.abort()
        for server in servers:
            await server.wait_closed()
