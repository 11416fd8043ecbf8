"""The composition root: config in, frozen AppState out, and the ASGI callable serving it.

`build_app(config)` builds everything that does not need a running event loop (clusters, the model
table, per-listener routes, prebuilt bodies). `Gateway` is the bare ASGI app: it dispatches by the
listener socket a request arrived on, then by (method, path) in a dict.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Final

import orjson

from plano.access.cost import CostMeter, build_meter
from plano.access.keys_access import KeyAccess
from plano.access.keys_build import build_keys
from plano.config import Config, ListenerConfig
from plano.embedding.gate import PROCESS_GATE
from plano.errors import InternalError, MethodNotAllowed, NotFound
from plano.filters.chain import FilterTable, compile_chain
from plano.listeners.agent.listener import build_agent_listener
from plano.listeners.asgi import send_bytes, send_error, tag_error
from plano.listeners.model.listener import ModelListener
from plano.listeners.prompt.listener import build_prompt_listener
from plano.listeners.routing_api import routing_routes
from plano.listeners.signals_stage import Signals, build_signals
from plano.listeners.types import Message, Receive, RequestIds, Route, Scope, Send
from plano.observability.access_log import AccessLog
from plano.observability.access_log import Format as AccessLogFormat
from plano.observability.console_ring import ConsoleRing, bodies_on, build_ring
from plano.observability.metrics import PrometheusMetrics, build_metrics
from plano.observability.posthog import build_posthog, captures_messages
from plano.observability.record import RequestRecord
from plano.observability.telemetry import RecordSink, Telemetry
from plano.observability.tracing import build_tracing
from plano.routing.resolve import ModelTable
from plano.routing.step import RoutingStep, build_step
from plano.state.conversations import ConversationStore, build_conversations
from plano.upstream.clusters import Cluster, build_clusters, visible
from plano.upstream.lean import LeanTransport
from plano.upstream.policies import build_resilience
from plano.upstream.transport import Transport

log = logging.getLogger("plano")

DEFAULT_MAX_BODY_BYTES: Final = 32 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT: Final = 5.0

ALIAS_OWNER: Final = "plano"  # `owned_by` of an alias in `GET /v1/models`
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
    routes: Mapping[tuple[str, str], Route]


@dataclass(frozen=True, slots=True)
class AppState:
    config: Config
    clusters: tuple[Cluster, ...]
    models: ModelTable
    transport: Transport  # the one upstream client of this worker (its pools)
    listeners: tuple[ListenerRoutes, ...]
    telemetry: Telemetry
    filters: FilterTable | None = None
    routing: RoutingStep | None = None
    conversations: ConversationStore | None = None
    # Closed at shutdown after the transport (rate-limit stores).
    closers: tuple[Callable[[], Awaitable[None]], ...] = ()
    # Prices each finished request before telemetry sees it (`plano.access.cost`).
    costs: CostMeter | None = None
    keys: KeyAccess | None = None  # gateway keys (`access.keys`), with the admin API
    console: ConsoleRing | None = None  # the web console's ring of recent requests
    loaded_at: float = field(default_factory=time.time)  # when this config was loaded


def models_body(clusters: tuple[Cluster, ...], aliases: Mapping[str, str] | None = None) -> bytes:
    """`GET /v1/models`: every visible configured model by its canonical name, then each
    `model_aliases` entry whose target is configured, owned by `plano` (the gateway's name),
    with the model it resolves to as `root`."""
    seen: dict[str, str] = {}
    for c in visible(clusters):
        if not c.wildcard:
            seen.setdefault(f"{c.provider}/{c.model_id}", c.row.owned_by)
    data: list[dict[str, object]] = [
        {"id": name, "object": "model", "created": 0, "owned_by": owner}
        for name, owner in seen.items()
    ]
    for alias, target in (aliases or {}).items():
        if alias not in seen:  # `root`: the model it resolves to (as vLLM names a base model)
            data.append(
                {
                    "id": alias,
                    "object": "model",
                    "created": 0,
                    "owned_by": ALIAS_OWNER,
                    "root": target,
                }
            )
    return orjson.dumps({"object": "list", "data": data})


def _connect_timeout(config: Config) -> float:
    raw = config.overrides.upstream_connect_timeout if config.overrides else None
    return float(raw) if raw is not None else DEFAULT_CONNECT_TIMEOUT


def access_log_format(env: Mapping[str, str]) -> AccessLogFormat | None:
    """`PLANO_ACCESS_LOG`: `text` (default), `json`, or `off`."""
    value = env.get("PLANO_ACCESS_LOG", "text").strip().lower()
    if value in ("off", "none", "false", "0"):
        return None
    if value not in ("text", "json"):
        raise ValueError(f"PLANO_ACCESS_LOG must be text, json or off, not {value!r}")
    return "json" if value == "json" else "text"


def build_telemetry(config: Config, env: Mapping[str, str] | None = None) -> Telemetry:
    """Every telemetry sink of one worker, built once; absent sinks cost nothing."""
    env = os.environ if env is None else env
    fmt = access_log_format(env)
    records: list[RecordSink] = [AccessLog(fmt)] if fmt is not None else []
    metrics = build_metrics(
        ((p.provider, p.model_id) for p in config.model_providers if not p.wildcard),
        prompt_caching=config.prompt_caching.enabled,
    )
    tracing = build_tracing(config.tracing, env)
    posthog = build_posthog(config.tracing, env, counter=metrics.posthog_events)
    if posthog is not None:
        records.append(posthog)
    return Telemetry(metrics=metrics, tracing=tracing, records=records)


def build_app(
    config: Config,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    telemetry: Telemetry | None = None,
    transport: Transport | None = None,
) -> AppState:
    """Everything one worker serves with, built once from the config (`transport` replaces the
    lean HTTP/1.1 client, e.g. with `MockTransport` in tests)."""
    telemetry = telemetry if telemetry is not None else build_telemetry(config)
    PROCESS_GATE.configure(config.overrides.embedding_max_pending if config.overrides else None)
    clusters = build_clusters(config)
    aliases = {name: alias.target for name, alias in config.model_aliases.items()}
    models = ModelTable(clusters, aliases)
    transport = transport if transport is not None else LeanTransport()
    costs = build_meter(config)
    console = build_ring(os.environ)
    if console is not None:
        telemetry.attach(console)
    overrides = config.overrides
    signals = build_signals(
        overrides.disable_signals,
        overrides.signals_sample_rate,
        telemetry,
        overrides.signals_cpu_budget,
    )
    parts = _Parts(
        config,
        clusters,
        models,
        transport,
        telemetry,
        FilterTable(
            config.filters,
            config.agents,
            transport,
            clusters=clusters,
            prompt_guards=config.prompt_guards,
        ),
        build_step(config, clusters, transport, costs.table),
        build_conversations(config.state_storage),
        max_body_bytes,
        signals,
        keys=build_keys(config, costs, telemetry.metrics),
    )
    if parts.keys is not None:
        parts.closers.append(parts.keys.close)
    listeners = []
    for lc in config.listeners:
        routes: dict[tuple[str, str], Route]
        if lc.type == "model":
            routes = parts.model_routes(lc)
        elif lc.type == "agent":
            routes = build_agent_listener(
                lc,
                config,
                models,
                transport,
                parts.filters,
                max_body_bytes=max_body_bytes,
                telemetry=telemetry,
                conversations=parts.conversations,
                conversation=signals.agent_stage() if signals is not None else None,
                keys=parts.keys,
            ).routes()
        else:
            routes = build_prompt_listener(
                lc,
                config,
                models,
                transport,
                connect_timeout=_connect_timeout(config),
                max_body_bytes=max_body_bytes,
                telemetry=telemetry,
                guards=compile_chain(parts.filters.input_ids(()), parts.filters),
                keys=parts.keys,
            ).routes()
        listeners.append(ListenerRoutes(lc, routes))
    return AppState(
        config,
        clusters,
        models,
        transport,
        tuple(listeners),
        telemetry,
        parts.filters,
        parts.routing,
        parts.conversations,
        tuple(parts.closers),
        costs,
        parts.keys,
        console,
    )


@dataclass(slots=True)
class _Parts:
    """What the listeners of one worker share, while `build_app` composes them."""

    config: Config
    clusters: tuple[Cluster, ...]
    models: ModelTable
    transport: Transport
    telemetry: Telemetry
    filters: FilterTable
    routing: RoutingStep
    conversations: ConversationStore | None
    max_body_bytes: int
    signals: Signals | None = None
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    keys: KeyAccess | None = None

    def model_routes(self, lc: ListenerConfig) -> dict[tuple[str, str], Route]:
        """A model listener's routes, the routing decision API's among them."""
        config, telemetry = self.config, self.telemetry
        metrics = telemetry.metrics if isinstance(telemetry.metrics, PrometheusMetrics) else None
        resilience = build_resilience(
            config, lc, self.clusters, self.models.resolve, metrics, metrics
        )
        if resilience.limiter is not None:
            self.closers.append(resilience.limiter.store.close)
        routes = ModelListener(
            self.models,
            self.transport,
            timeout=lc.timeout,
            connect_timeout=_connect_timeout(config),
            max_body_bytes=self.max_body_bytes,
            models_body=models_body(self.clusters, self.models.aliases()),
            telemetry=telemetry,
            conversations=self.conversations,
            input_chain=compile_chain(self.filters.input_ids(lc.input_filters), self.filters),
            output_chain=compile_chain(lc.output_filters, self.filters),
            resilience=resilience,
            routing=self.routing,
            # PostHog's `$ai_input`, the console's bodies
            keep_body=captures_messages(config.tracing, os.environ) or bodies_on(os.environ),
            conversation=self.signals.model_stage() if self.signals is not None else None,
            keys=self.keys,
        ).routes()
        routes.update(routing_routes(self.routing, self.max_body_bytes))
        return routes


def _trace_headers(scope: Scope) -> tuple[str | None, str | None]:
    traceparent = tracestate = None
    for key, value in scope["headers"]:
        if key == b"traceparent":
            traceparent = value.decode("latin-1")
        elif key == b"tracestate":
            tracestate = value.decode("latin-1")
    return traceparent, tracestate


async def _healthz(scope: Scope, receive: Receive, send: Send) -> None:
    await send_bytes(send, 200, [], b"")


async def _preflight(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": list(_CORS)})
    await send({"type": "http.response.body", "body": b""})


_HEALTHZ: Final = Route("healthz", _healthz)
_PREFLIGHT: Final = Route("cors_preflight", _preflight)


@dataclass(frozen=True, slots=True)
class _Table:
    """Everything the dispatcher needs for one listener port."""

    name: str
    type: str
    routes: dict[tuple[str, str], Route]
    paths: frozenset[str]


class Gateway:
    """The ASGI callable. `ports` maps each bound port to the listener serving it.

    Every HTTP request gets a `RequestRecord` (in `scope["plano.record"]`) that handlers fill
    in; `Telemetry.begin/finish` bracket the handler. The `send` wrapper notes the status, the
    bytes sent and the moment the first body bytes left.
    """

    def __init__(self, state: AppState, ports: Mapping[int, ListenerRoutes]) -> None:
        self.state = state
        self._telemetry = state.telemetry
        self._settle = state.costs.settle if state.costs is not None else None
        self._ids = RequestIds()  # for error answers made before a listener named the request
        self._tables: dict[int, _Table] = {}
        for port, lr in ports.items():
            routes = dict(lr.routes)
            routes[("GET", "/healthz")] = _HEALTHZ
            routes[("HEAD", "/healthz")] = _HEALTHZ
            for _, path in list(routes):
                routes[("OPTIONS", path)] = _PREFLIGHT
            paths = frozenset(p for _, p in routes)
            self._tables[port] = _Table(lr.listener.name, lr.listener.type, routes, paths)
        self._fallback = next(iter(self._tables.values())) if self._tables else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self._lifespan(receive, send)
            return
        server = scope.get("server")
        table = self._tables.get(server[1]) if server else None
        table = table or self._fallback
        assert table is not None
        method: str = scope["method"]
        path: str = scope["path"]
        record = RequestRecord(table.name, table.type, method, path)
        record.request_headers = scope["headers"]
        scope["plano.record"] = record
        route = table.routes.get((method, path))
        if route is not None:
            record.handler = route.name
        telemetry, ids = self._telemetry, self._ids
        if telemetry.tracing is not None:
            telemetry.begin(record, *_trace_headers(scope))
        else:
            telemetry.begin(record)

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.body":
                body = message.get("body")
                if body:
                    record.bytes_out += len(body)
                    if not record.downstream_first_chunk:
                        record.downstream_first_chunk = time.perf_counter_ns()
            else:
                status = record.status = message["status"]
                if status >= 400:  # every error answer carries the request id
                    tag_error(message, scope, record, ids)
            await send(message)

        try:
            if route is not None:
                await route.handler(scope, receive, observed)
            else:
                await self._no_route(scope, observed, table)
        except Exception:
            if record.status:  # the answer had begun: the server cuts the connection
                raise
            # A bug, not the client's doing: a 500 in the client's dialect, logged and counted
            # with its status (the server's own last-resort 500 would leave the record at 0).
            log.exception("unhandled error serving %s %r", method, path)
            record.error_kind = "internal"
            await send_error(observed, path, InternalError("internal error"))
        finally:
            if self._settle is not None:
                self._settle(record)  # the cost is final here, before any sink reads it
            telemetry.finish(record)

    async def _no_route(self, scope: Scope, send: Send, table: _Table) -> None:
        path = scope["path"]
        if path in table.paths:
            await send_error(
                send, path, MethodNotAllowed(f"method {scope['method']} is not allowed on {path}")
            )
        else:
            await send_error(send, path, NotFound(f"no route for {scope['method']} {path}"))

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.state.transport.start()
                if self.state.filters is not None:
                    await self.state.filters.start()
                if self.state.routing is not None:
                    await self.state.routing.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.state.filters is not None:
                    await self.state.filters.close()
                await self.state.transport.close()
                for close in self.state.closers:
                    await close()
                if self.state.routing is not None:
                    await self.state.routing.close()
                if self.state.conversations is not None:
                    await self.state.conversations.close()
                self._telemetry.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
