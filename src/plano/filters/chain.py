"""A filter chain: the filters of one listener or agent, compiled once at config load.

`compile_chain` turns a list of filter ids into one `Chain` (or `None` when the list is empty, so
the caller skips the chain entirely and an empty chain costs nothing). A chain runs its filters in
list order; each sees the previous filter's output. A filter either returns the new body, rejects
the request (`FilterRejected`, the filter's own 4xx) or fails (`FilterFailed`, 5xx, transport
error, timeout, unusable answer). Failures are never skipped.

With tracing on (`Chain.run(..., telemetry=, record=)`), each filter call is a child span of the
request (`execute_raw_filter (<id>)` / `execute_mcp_filter_raw (<id>)`, service `plano(filter)`)
whose context the filter receives: as the `traceparent` header (http) or in the `tools/call`
request's `_meta` (mcp). With tracing off the loop is the plain one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from plano.config.guards import GuardFilterConfig, PiiFilterConfig
from plano.config.sections import AgentConfig, AnyFilterConfig, FilterConfig, PromptGuardsConfig
from plano.embedding.shared import settle
from plano.errors import PlanoError
from plano.filters.guard import GuardFilter, build_guard, prompt_guard, warm_up
from plano.filters.http_filter import HttpFilter
from plano.filters.mcp_filter import McpFilter
from plano.filters.pii.filter import PiiFilter
from plano.filters.types import (
    Filter,
    FilterContext,
    FilterFailed,
    FilterRejected,
    Headers,
    trace_context,
    with_traceparent,
)
from plano.http.headers import FRAMING, HOP_BY_HOP, NOT_PROXIED, connection_named
from plano.observability import names as n
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.upstream.clusters import Cluster
from plano.upstream.transport import Transport

__all__ = [
    "Chain",
    "Filter",
    "FilterContext",
    "FilterFailed",
    "FilterRejected",
    "FilterTable",
    "Headers",
    "compile_chain",
    "passed_headers",
    "trace_context",
    "with_traceparent",
]

DEFAULT_FILTER_TIMEOUT: Final = 30.0

# Client headers a filter never receives from us (framing, hop-by-hop, what we set ourselves).
_NOT_PASSED: Final = (
    HOP_BY_HOP
    | FRAMING
    | NOT_PROXIED
    | {
        b"host",
        b"content-type",
        b"accept",
        b"accept-encoding",
        b"expect",
        b"proxy-authorization",
        b"x-envoy-original-path",
        b"x-arch-upstream",
        b"x-envoy-max-retries",
    }
)


@dataclass(frozen=True, slots=True)
class Chain:
    filters: tuple[Filter, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.filters)

    async def run(
        self,
        body: bytes,
        path: str,
        headers: Headers,
        *,
        telemetry: Telemetry | None = None,
        record: RequestRecord | None = None,
        ctx: FilterContext | None = None,
    ) -> bytes:
        """`body` through every filter in order. `ctx` is the request's filter context (one per
        request, shared by its input and output chains); a fresh one when not given."""
        if ctx is None:
            ctx = FilterContext(record)
        if telemetry is None or record is None or not telemetry.traced:
            for f in self.filters:
                body = await f.apply(body, path, headers, ctx)
            return body
        for f in self.filters:
            body = await _traced(f, body, path, headers, ctx, telemetry, record)
        return body

    async def close(self) -> None:
        for f in self.filters:
            await f.close()


async def _traced(
    f: Filter,
    body: bytes,
    path: str,
    headers: Headers,
    ctx: FilterContext,
    telemetry: Telemetry,
    record: RequestRecord,
) -> bytes:
    span = telemetry.child(record, f.span_name, n.SERVICE_FILTER)
    attributes: dict[str, str | int] = {n.ATTR_FILTER_ID: f.id}
    try:
        out = await f.apply(body, path, with_traceparent(headers, span.traceparent), ctx)
    except FilterRejected as err:
        attributes[n.ATTR_HTTP_STATUS] = err.status
        span.end(error=err.code, attributes=attributes)
        raise
    except PlanoError as err:
        span.end(error=err.code, attributes=attributes)
        raise
    span.end(attributes=attributes)
    return out


def passed_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The client headers a filter or agent receives (decoded once per request); the ones the
    client's `Connection` header names are hop-by-hop and left out too."""
    out = []
    named: frozenset[bytes] = frozenset()
    for k, v in raw:
        key = k.lower()
        if key in _NOT_PASSED:
            if key == b"connection":
                named |= connection_named(v)
            continue
        out.append((k.decode("latin-1"), v.decode("latin-1")))
    if named:
        out = [h for h in out if h[0].lower().encode("latin-1") not in named]
    return out


class FilterTable:
    """Every filter of a config, built once and shared by every chain that names it."""

    def __init__(
        self,
        filters: Iterable[AnyFilterConfig],
        agents: Iterable[AgentConfig],
        transport: Transport,
        *,
        timeout: float = DEFAULT_FILTER_TIMEOUT,
        clusters: Sequence[Cluster] = (),
        prompt_guards: PromptGuardsConfig | None = None,
    ) -> None:
        self._configs: dict[str, AnyFilterConfig] = {}
        for a in agents:  # the original lets a chain name an agent; it is then an MCP filter
            self._configs[a.id] = FilterConfig(id=a.id, url=a.url)
        for f in filters:
            self._configs[f.id] = f
        # `prompt_guards.input_guards.jailbreak`: a guard in front of every input chain.
        guard = prompt_guard(prompt_guards)
        self._front: tuple[str, ...] = () if guard is None else (guard.id,)
        if guard is not None:
            self._configs[guard.id] = guard
        self._clusters = clusters
        self._transport = transport
        self._timeout = timeout
        self._built: dict[str, Filter] = {}
        self._warmup: asyncio.Future[None] | None = None

    def get(self, filter_id: str) -> Filter:
        built = self._built.get(filter_id)
        if built is None:
            config = self._configs.get(filter_id)
            if config is None:
                raise KeyError(f"filter '{filter_id}' is not defined in filters or agents")
            built = self._built[filter_id] = _build(
                config, self._transport, self._timeout, self._clusters
            )
        return built

    async def start(self) -> None:
        """At startup: load the embedder and run it once when a guard is in use (startup waits
        for it up to `STARTUP_WAIT_S`, then it goes on in the background)."""
        if any(isinstance(f, GuardFilter) for f in self._built.values()):
            self._warmup = asyncio.ensure_future(warm_up())
            await settle(self._warmup)

    def input_ids(self, ids: Sequence[str]) -> tuple[str, ...]:
        """An input chain's filter ids: the `prompt_guards` guard (if configured) first."""
        return (*self._front, *ids)

    async def close(self) -> None:
        if self._warmup is not None:
            await self._warmup  # a model load cannot be interrupted; it ends on its own
        for f in self._built.values():
            await f.close()


def _build(
    config: AnyFilterConfig, transport: Transport, timeout: float, clusters: Sequence[Cluster]
) -> Filter:
    if isinstance(config, GuardFilterConfig):
        return build_guard(config, transport, clusters)
    if isinstance(config, PiiFilterConfig):
        return PiiFilter(config)
    if config.type == "http":
        return HttpFilter(config, transport, timeout=timeout)
    return McpFilter(config, timeout=timeout)


def compile_chain(ids: Sequence[str], table: FilterTable) -> Chain | None:
    """One chain for `ids`, or None when there are none (the caller then skips it: zero cost)."""
    if not ids:
        return None
    return Chain(tuple(table.get(i) for i in ids))
