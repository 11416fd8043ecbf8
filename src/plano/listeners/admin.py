"""The admin listener (default 127.0.0.1:9901): `GET /metrics`, `GET /healthz`, the web console
(`/`, `/console/...`, `console`) and the key admin API (`/admin/keys`, `admin_keys`) when gateway
keys are on.

It is never one of the config's listeners: it binds its own socket, on loopback by default, and
the server hands it every request that arrives on that socket. Every worker binds it (with
SO_REUSEPORT when there are several) and answers for the whole gateway. Rendering a scrape reads
every metric (and, with workers, every worker's files), so it runs in a thread, off the loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

from plano.config import Config
from plano.listeners.asgi import header, send_bytes
from plano.listeners.console import Console
from plano.listeners.types import Receive, Scope, Send
from plano.observability.metrics import PrometheusMetrics

DEFAULT_ADDRESS: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9901
ENV_PORT: Final = "PLANO_ADMIN_PORT"
ENV_ADDRESS: Final = "PLANO_ADMIN_ADDRESS"
OFF: Final = "off"

App = Callable[[Scope, Receive, Send], Awaitable[None]]

_TEXT: Final = (b"content-type", b"text/plain; charset=utf-8")


@dataclass(frozen=True, slots=True)
class AdminSettings:
    address: str = DEFAULT_ADDRESS
    port: int = DEFAULT_PORT


def admin_settings(
    port: str | None, address: str | None, environ: Mapping[str, str]
) -> AdminSettings | None:
    """Settings from `--admin-port/--admin-address`, else `PLANO_ADMIN_PORT/_ADDRESS`, else the
    defaults; None when the port is `off`. Raises ValueError for a port that is not one."""
    raw = port if port is not None else environ.get(ENV_PORT)
    addr = address if address is not None else environ.get(ENV_ADDRESS) or DEFAULT_ADDRESS
    if raw is None or not raw.strip():
        return AdminSettings(addr, DEFAULT_PORT)
    raw = raw.strip()
    if raw.lower() == OFF:
        return None
    if not raw.isdigit() or int(raw) > 65535:
        raise ValueError(f"admin port must be 0-65535 or '{OFF}', got {raw!r}")
    return AdminSettings(addr, int(raw))


def admin_conflict(config: Config, admin: AdminSettings | None, workers: int) -> str | None:
    """Why `admin` cannot be used with `config` and `workers`, or None."""
    if admin is None:
        return None
    if admin.port == 0 and workers > 1:
        return "admin port 0 (any free port) needs --workers 1: workers must share a port"
    for lc in config.listeners:
        if admin.port and lc.port == admin.port:
            return (
                f"admin port {admin.port} is also the port of listener '{lc.name}'; "
                f"choose another with --admin-port or ${ENV_PORT}"
            )
    return None


class AdminApp:
    """The bare ASGI app of the admin socket."""

    def __init__(
        self,
        metrics: PrometheusMetrics | None,
        keys: App | None = None,
        console: Console | None = None,
    ) -> None:
        self._metrics = metrics
        self._keys = keys  # the key admin API (`admin_keys`), when gateway keys are on
        self._console = console

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        if self._keys is not None and path.startswith("/admin/keys"):
            await self._keys(scope, receive, send)
        elif self._console is not None and self._console.handles(path):
            await self._console(scope, receive, send)
        elif path not in ("/metrics", "/healthz"):
            await send_bytes(send, 404, [_TEXT], b"not found\n")
        elif method not in ("GET", "HEAD"):
            await send_bytes(send, 405, [_TEXT, (b"allow", b"GET, HEAD")], b"")
        elif path == "/healthz":
            await send_bytes(send, 200, [_TEXT], b"")
        elif self._metrics is None:
            await send_bytes(send, 404, [_TEXT], b"metrics are not enabled\n")
        else:
            accept = header(scope, b"accept")
            encoding = header(scope, b"accept-encoding")
            self._metrics.flush()  # on the loop, where requests are recorded
            body, headers = await asyncio.to_thread(
                self._metrics.render,
                accept.decode("latin-1") if accept else None,
                encoding.decode("latin-1") if encoding else None,
            )
            await send_bytes(send, 200, headers, body)


class WithAdmin:
    """Routes requests that arrived on the admin socket to the admin app, all else (requests on
    the public listeners, lifespan) to the gateway."""

    __slots__ = ("_admin", "_app", "_port")

    def __init__(self, app: App, admin: App, admin_port: int) -> None:
        self._app = app
        self._admin = admin
        self._port = admin_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            if server is not None and server[1] == self._port:
                await self._admin(scope, receive, send)
                return
        await self._app(scope, receive, send)
