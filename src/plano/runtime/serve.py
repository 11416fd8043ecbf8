"""Serving: bind listener sockets, run one event loop per worker, drain on SIGTERM.

Each worker process binds every listener itself with SO_REUSEPORT, so N workers share the ports
and the kernel spreads connections among them (as Envoy's worker threads do). One worker serves
all listeners on one uvloop event loop through our lean HTTP/1.1 server (`plano.http.server`,
httptools) and a bare ASGI app.
The admin listener (`/metrics`, `/healthz`; see `plano.listeners.admin`) is one more socket of
the same server.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Final, Protocol

import uvloop

from plano.config import Config, ListenerConfig
from plano.http.server import LeanServer
from plano.listeners.admin import AdminApp, AdminSettings, WithAdmin
from plano.listeners.admin_keys import KeysAdmin, admin_token
from plano.listeners.app import DEFAULT_MAX_BODY_BYTES, AppState, Gateway, ListenerRoutes, build_app
from plano.listeners.console import Console, console_token
from plano.observability.metrics import PrometheusMetrics
from plano.observability.telemetry import Telemetry
from plano.runtime.tls import listener_contexts

log = logging.getLogger("plano")

# SIGTERM drain: stop accepting at once, let in-flight requests and streams finish, and give up
# on stragglers early enough that the process is gone within 10 s.
DRAIN_SECONDS: Final = 8.0

# In-process gateways (tests, `plano demo`) put their admin listener on any free loopback port.
EPHEMERAL_ADMIN: Final = AdminSettings(port=0)
# The collector's young-generation threshold while serving (CPython's default: 700). Requests
# in flight are live objects that every young collection scans again, so with the default the
# collector's CPU per request grew about 8x from 1 to 256 connections; see settle_heap.
GC_YOUNG_THRESHOLD: Final = 5000


def settle_heap() -> None:
    """Just before a worker serves: everything built at startup (modules, config, clients,
    caches) lives as long as the worker, so it leaves the collector's generations and is never
    scanned again (`gc.freeze`, ~5 % of CPU per request); and young collections run every
    `GC_YOUNG_THRESHOLD` net allocations instead of 700, so that under load they do not keep
    rescanning the objects of the requests in flight. Request objects are freed by reference
    counting, not by the collector (no per-request cycles: see `http.response.Response`), so
    the rarer collections find little garbage and hold the loop no longer than before."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


class BindError(OSError):
    """A listening socket could not be bound; the message names what and where."""


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
                raise BindError(
                    exc.errno,
                    f"listener '{lc.name}' cannot bind {lc.address}:{lc.port}: {exc.strerror}",
                ) from exc
            bound.append(BoundListener(lc, sock))
    except OSError:
        for b in bound:
            b.sock.close()
        raise
    return bound


@dataclass(frozen=True, slots=True)
class BoundAdmin:
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def address(self) -> str:
        return str(self.sock.getsockname()[0])

    @property
    def url(self) -> str:
        host = self.address
        if ":" in host:
            host = f"[{host}]"
        elif host == "0.0.0.0":
            host = "127.0.0.1"
        return f"http://{host}:{self.port}"


def bind_admin(settings: AdminSettings, *, reuse_port: bool) -> BoundAdmin:
    try:
        return BoundAdmin(bind(settings.address, settings.port, reuse_port=reuse_port))
    except OSError as exc:
        raise BindError(
            exc.errno,
            f"admin listener cannot bind {settings.address}:{settings.port}: {exc.strerror} "
            "(choose another port with --admin-port or PLANO_ADMIN_PORT, or 'off')",
        ) from exc


def check_admin_port_free(settings: AdminSettings) -> None:
    """Raise BindError if another process holds the admin port. Workers bind it with SO_REUSEPORT,
    which would silently share it with another gateway of the same user; this bind would not."""
    bind_admin(settings, reuse_port=False).sock.close()


def keys_admin(state: AppState) -> KeysAdmin | None:
    """The key admin API when gateway keys are on."""
    if state.keys is None:
        return None
    return KeysAdmin(state.keys, admin_token(state.config.access.keys.admin_token, os.environ))


def metrics_of(state: AppState) -> PrometheusMetrics | None:
    metrics = state.telemetry.metrics
    return metrics if isinstance(metrics, PrometheusMetrics) else None


class HttpServer(Protocol):
    """What serving needs of an HTTP server (our LeanServer)."""

    started: bool
    should_exit: bool

    async def serve(self, sockets: list[socket.socket]) -> None: ...

    def handle_exit(self, sig: int, frame: FrameType | None) -> None: ...


def make_server(
    state: AppState,
    bound: Sequence[BoundListener],
    on_started: Callable[[], None] = lambda: None,
    admin: BoundAdmin | None = None,
) -> HttpServer:
    by_name = {lr.listener.name: lr for lr in state.listeners}
    ports: dict[int, ListenerRoutes] = {b.port: by_name[b.listener.name] for b in bound}
    app = Gateway(state, ports)
    keys = keys_admin(state)
    guard = None if keys is None else admin_token(state.config.access.keys.admin_token, os.environ)
    console = Console(
        state.console, state.config, state.loaded_at, state.keys, console_token(os.environ, guard)
    )
    asgi = (
        app
        if admin is None
        else WithAdmin(app, AdminApp(metrics_of(state), keys, console), admin.port)
    )
    limits = state.config.server  # `server:` in the config: timeouts, limit, drain time
    tls, watcher = listener_contexts(
        {b.port: (b.listener.name, b.listener.tls) for b in bound}, state.config.source
    )
    start = on_started
    if tls:

        def start_watching() -> None:
            watcher.start()  # on the serving loop: certificate files are polled for changes
            on_started()

        start = start_watching

    return LeanServer(
        asgi,
        keep_alive_timeout=limits.keepalive_timeout,
        header_timeout=limits.header_timeout,
        body_timeout=limits.body_timeout,
        max_connections=limits.max_connections,
        drain_seconds=limits.drain_timeout,
        on_started=start,
        tls=tls,
    )


def describe(bound: Sequence[BoundListener], admin: BoundAdmin | None = None) -> str:
    text = ", ".join(
        f"{b.listener.name} ({b.listener.type}) on {b.address}:{b.port}" for b in bound
    )
    if admin is not None:
        text += f"; metrics on {admin.url}/metrics"
    return text


def _sockets(bound: Sequence[BoundListener], admin: BoundAdmin | None) -> list[socket.socket]:
    return [b.sock for b in bound] + ([admin.sock] if admin is not None else [])


def _bind_all(
    config: Config, admin: AdminSettings | None, *, reuse_port: bool
) -> tuple[list[BoundListener], BoundAdmin | None]:
    bound = bind_listeners(config, reuse_port=reuse_port)
    try:
        admin_bound = bind_admin(admin, reuse_port=reuse_port) if admin is not None else None
    except OSError:
        for b in bound:
            b.sock.close()
        raise
    return bound, admin_bound


def run_worker(
    config: Config,
    *,
    reuse_port: bool,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    on_ready: Callable[[str], None] | None = None,
    admin: AdminSettings | None = None,
) -> None:
    """Serve until SIGTERM/SIGINT on this process's own uvloop event loop. `on_ready` gets a
    one-line description of what is served (listeners, admin) once it is."""
    bound, admin_bound = _bind_all(config, admin, reuse_port=reuse_port)
    state = build_app(config, max_body_bytes=max_body_bytes)
    server = make_server(
        state,
        bound,
        lambda: on_ready(describe(bound, admin_bound)) if on_ready else None,
        admin_bound,
    )
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, server.handle_exit)
    settle_heap()
    uvloop.run(server.serve(_sockets(bound, admin_bound)))


@dataclass
class ThreadedGateway:
    """A gateway on its own event loop in a daemon thread (tests, `plano demo`)."""

    bound: list[BoundListener]
    server: HttpServer
    thread: threading.Thread
    loop: asyncio.AbstractEventLoop
    admin: BoundAdmin | None = None

    def port(self, listener_type: str = "model") -> int:
        return next(b.port for b in self.bound if b.listener.type == listener_type)

    def url(self, listener_type: str = "model") -> str:
        return f"http://127.0.0.1:{self.port(listener_type)}"

    @property
    def admin_port(self) -> int:
        if self.admin is None:
            raise LookupError("this gateway runs without an admin listener")
        return self.admin.port

    @property
    def admin_url(self) -> str:
        """`http://host:port` of the admin listener (`/metrics`, `/healthz`)."""
        if self.admin is None:
            raise LookupError("this gateway runs without an admin listener")
        return self.admin.url

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)
        self.thread.join(timeout=15)


@contextmanager
def gateway_in_thread(
    config: Config,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    admin: AdminSettings | None = EPHEMERAL_ADMIN,
    telemetry: Telemetry | None = None,
) -> Iterator[ThreadedGateway]:
    """Bind first (so connections queue in the backlog), then serve in a thread. The admin
    listener defaults to a free loopback port (`admin_url`); `admin=None` leaves it out.
    `telemetry` replaces the sinks built from the config and environment."""
    bound, admin_bound = _bind_all(config, admin, reuse_port=False)
    state = build_app(config, max_body_bytes=max_body_bytes, telemetry=telemetry)
    started = threading.Event()
    server = make_server(state, bound, started.set, admin_bound)
    loop = uvloop.new_event_loop()

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve(_sockets(bound, admin_bound)))
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=target, name="plano-gateway", daemon=True)
    thread.start()
    started.wait(timeout=15)
    if not server.started:
        thread.join(timeout=15)
        raise RuntimeError("the gateway did not start")
    handle = ThreadedGateway(bound, server, thread, loop, admin_bound)
    try:
        yield handle
    finally:
        handle.stop()
