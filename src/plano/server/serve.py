"""Serving: bind listener sockets, run one event loop per worker, drain on SIGTERM.

Each worker process binds every listener itself with SO_REUSEPORT, so N workers share the ports
and the kernel spreads connections among them (as Envoy's worker threads do). One worker serves
all listeners on one uvloop event loop through uvicorn's httptools protocol and a bare ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import uvicorn
import uvloop

from plano.config import Config, ListenerConfig
from plano.server.app import DEFAULT_MAX_BODY_BYTES, AppState, Gateway, ListenerRoutes, build_app

log = logging.getLogger("plano")

# SIGTERM drain: stop accepting at once, let in-flight requests and streams finish, and give up
# on stragglers early enough that the process is gone within 10 s.
DRAIN_SECONDS: Final = 8.0


@dataclass(frozen=True, slots=True)
class BoundListener:
    listener: ListenerConfig
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def address(self) -> str:
        return str(self.sock.getsockname()[0])


def bind(address: str, port: int, *, reuse_port: bool) -> socket.socket:
    """A listening TCP socket; with `reuse_port`, sibling workers can bind the same port."""
    infos = socket.getaddrinfo(
        address or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    family, _, _, _, sockaddr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(sockaddr)
        sock.listen(2048)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def bind_listeners(config: Config, *, reuse_port: bool) -> list[BoundListener]:
    bound: list[BoundListener] = []
    try:
        for lc in config.listeners:
            try:
                sock = bind(lc.address, lc.port, reuse_port=reuse_port)
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"listener '{lc.name}' cannot bind {lc.address}:{lc.port}: {exc.strerror}",
                ) from exc
            bound.append(BoundListener(lc, sock))
    except OSError:
        for b in bound:
            b.sock.close()
        raise
    return bound


class _Server(uvicorn.Server):
    """uvicorn's server, telling us the moment it has started (no polling)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """SIGTERM/SIGINT start the drain (a second one forces exit); unlike uvicorn's own,
        the signal is not re-raised afterwards, so a clean drain exits with status 0."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {
            sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def make_server(
    state: AppState, bound: Sequence[BoundListener], on_started: Callable[[], None] = lambda: None
) -> uvicorn.Server:
    by_name = {lr.listener.name: lr for lr in state.listeners}
    ports: dict[int, ListenerRoutes] = {b.port: by_name[b.listener.name] for b in bound}
    app = Gateway(state, ports)
    cfg = uvicorn.Config(
        app,
        http="httptools",
        loop="none",
        lifespan="on",
        access_log=False,
        log_level="warning",
        proxy_headers=False,
        server_header=False,
        date_header=False,
        timeout_keep_alive=75,
        timeout_graceful_shutdown=int(DRAIN_SECONDS),
    )
    return _Server(cfg, on_started)


def describe(bound: Sequence[BoundListener]) -> str:
    return ", ".join(
        f"{b.listener.name} ({b.listener.type}) on {b.address}:{b.port}" for b in bound
    )


def run_worker(
    config: Config,
    *,
    reuse_port: bool,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_ready: Callable[[Sequence[BoundListener]], None] | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT on this process's own uvloop event loop."""
    bound = bind_listeners(config, reuse_port=reuse_port)
    state = build_app(config, max_body_bytes=max_body_bytes)
    server = make_server(state, bound, lambda: on_ready(bound) if on_ready else None)
    uvloop.run(server.serve(sockets=[b.sock for b in bound]))


@dataclass
class ThreadedGateway:
    """A gateway on its own event loop in a daemon thread (tests, `plano demo`)."""

    bound: list[BoundListener]
    server: uvicorn.Server
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop

    def port(self, listener_type: str = "model") -> int:
        return next(b.port for b in self.bound if b.listener.type == listener_type)

    def url(self, listener_type: str = "model") -> str:
        return f"http://127.0.0.1:{self.port(listener_type)}"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)
        self.thread.join(timeout=15)


@contextmanager
def gateway_in_thread(
    config: Config, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> Iterator[ThreadedGateway]:
    """Bind first (so connections queue in the backlog), then serve in a thread."""
    bound = bind_listeners(config, reuse_port=False)
    state = build_app(config, max_body_bytes=max_body_bytes)
    started = threading.Event()
    server = make_server(state, bound, started.set)
    loop = uvloop.new_event_loop()

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(sockets=[b.sock for b in bound]))
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=target, name="plano-gateway", daemon=True)
    thread.start()
    started.wait(timeout=15)
    if not server.started:
        thread.join(timeout=15)
        raise RuntimeError("the gateway did not start")
    handle = ThreadedGateway(bound, server, thread, loop)
    try:
        yield handle
    finally:
        handle.stop()
