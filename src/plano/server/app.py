"""The composition root: config in, frozen AppState out, and the ASGI callable serving it.

`build_app(config)` builds everything that does not need a running event loop (clusters, the model
table, per-listener routes, prebuilt bodies). `Gateway` is the bare ASGI app: it dispatches by the
listener socket a request arrived on, then by (method, path) in a dict.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import orjson

from plano.config import Config, ListenerConfig
from plano.errors import FeatureNotAvailable, MethodNotAllowed, NotFound
from plano.routing.resolve import ModelTable
from plano.server.http import Receive, Scope, Send, send_bytes, send_error
from plano.server.model_listener import Handler, ModelListener
from plano.upstream.client import UpstreamClient
from plano.upstream.clusters import Cluster, build_clusters, visible

log = logging.getLogger("plano")

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT: Final = 5.0

_CORS: Final = [
    (b"allow", b"GET, POST, OPTIONS"),
    (b"access-control-allow-origin", b"*"),
    (
        b"access-control-allow-headers",
        b"Authorization, Content-Type, x-api-key, "
        b"anthropic-version, x-request-id, X-Model-Affinity",
    ),
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-max-age", b"86400"),
]


@dataclass(frozen=True, slots=True)
class ListenerRoutes:
    listener: ListenerConfig
    routes: Mapping[tuple[str, str], Handler]


@dataclass(frozen=True, slots=True)
class AppState:
    config: Config
    clusters: tuple[Cluster, ...]
    models: ModelTable
    client: UpstreamClient
    listeners: tuple[ListenerRoutes, ...]


def models_body(clusters: tuple[Cluster, ...]) -> bytes:
    """`GET /v1/models`: every visible configured model by its canonical name."""
    seen: dict[str, str] = {}
    for c in visible(clusters):
        if not c.wildcard:
            seen.setdefault(f"{c.provider}/{c.model_id}", c.row.owned_by)
    data = [
        {"id": name, "object": "model", "created": 0, "owned_by": owner}
        for name, owner in seen.items()
    ]
    return orjson.dumps({"object": "list", "data": data})


def _connect_timeout(config: Config) -> float:
    raw = config.overrides.upstream_connect_timeout if config.overrides else None
    return float(raw) if raw is not None else DEFAULT_CONNECT_TIMEOUT


def build_app(config: Config, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> AppState:
    clusters = build_clusters(config)
    aliases = {name: alias.target for name, alias in config.model_aliases.items()}
    models = ModelTable(clusters, aliases)
    client = UpstreamClient()
    listeners = []
    body = models_body(clusters)
    for lc in config.listeners:
        routes: dict[tuple[str, str], Handler]
        if lc.type == "model":
            routes = ModelListener(
                models,
                client,
                timeout=lc.timeout,
                connect_timeout=_connect_timeout(config),
                max_body_bytes=max_body_bytes,
                models_body=body,
            ).routes()
        else:
            routes = _not_yet(lc)
        listeners.append(ListenerRoutes(lc, routes))
    return AppState(config, clusters, models, client, tuple(listeners))


def _not_yet(lc: ListenerConfig) -> dict[tuple[str, str], Handler]:
    """Agent and prompt listeners bind and answer health checks; their APIs come later."""
    what = "agent orchestration" if lc.type == "agent" else "prompt targets"

    async def unavailable(scope: Scope, receive: Receive, send: Send) -> None:
        err = FeatureNotAvailable(
            f"listener '{lc.name}' is a {lc.type} listener; {what} are "
            "not available in this build yet"
        )
        await send_error(send, scope["path"], err)

    paths = ("/v1/chat/completions", "/v1/messages", "/v1/responses")
    return {("POST", p): unavailable for p in paths}


async def _healthz(scope: Scope, receive: Receive, send: Send) -> None:
    await send_bytes(send, 200, [], b"")


async def _preflight(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": list(_CORS)})
    await send({"type": "http.response.body", "body": b""})


class Gateway:
    """The ASGI callable. `ports` maps each bound port to the listener serving it."""

    def __init__(self, state: AppState, ports: Mapping[int, ListenerRoutes]) -> None:
        self.state = state
        self._by_port: dict[int, dict[tuple[str, str], Handler]] = {}
        self._paths: dict[int, frozenset[str]] = {}
        for port, lr in ports.items():
            routes = dict(lr.routes)
            routes[("GET", "/healthz")] = _healthz
            routes[("HEAD", "/healthz")] = _healthz
            for _, path in list(routes):
                routes[("OPTIONS", path)] = _preflight
            self._by_port[port] = routes
            self._paths[port] = frozenset(p for _, p in routes)
        self._fallback_port = next(iter(self._by_port)) if self._by_port else 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            server = scope.get("server")
            port = server[1] if server else self._fallback_port
            routes = self._by_port.get(port) or self._by_port[self._fallback_port]
            handler = routes.get((scope["method"], scope["path"]))
            if handler is not None:
                await handler(scope, receive, send)
                return
            await self._no_route(scope, send, port)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _no_route(self, scope: Scope, send: Send, port: int) -> None:
        path = scope["path"]
        if path in self._paths.get(port, ()):
            await send_error(
                send, path, MethodNotAllowed(f"method {scope['method']} is not allowed on {path}")
            )
        else:
            await send_error(send, path, NotFound(f"no route for {scope['method']} {path}"))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.state.client.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.state.client.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
