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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

import orjson

from plano.config.sections import AgentConfig, FilterConfig
from plano.errors import PlanoError
from plano.observability import names as n
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.upstream.client import UpstreamClient

Headers = Sequence[tuple[str, str]]

DEFAULT_FILTER_TIMEOUT: Final = 30.0

# Client headers a filter never receives from us (framing, hop-by-hop, what we set ourselves).
_NOT_PASSED: Final = frozenset(
    {
        b"host",
        b"content-length",
        b"content-type",
        b"accept",
        b"accept-encoding",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"upgrade",
        b"expect",
        b"proxy-authorization",
        b"proxy-connection",
        b"x-envoy-original-path",
        b"x-arch-upstream",
        b"x-envoy-max-retries",
    }
)


class FilterRejected(PlanoError):
    """A filter answered 4xx (or an MCP tool error): the request stops here with that status."""

    code = "filter_rejected"
    kind = "client"

    def __init__(self, filter_id: str, status: int, body: bytes) -> None:
        super().__init__(f"filter '{filter_id}' rejected the request with status {status}")
        self.filter_id = filter_id
        self.status = status
        self.body = body

    def own_body(self) -> bytes:
        """The original's body for a rejected model-listener request."""
        return orjson.dumps(
            {
                "error": "FilterChainError",
                "agent": self.filter_id,
                "status": self.status,
                "agent_response": self.body.decode("utf-8", "replace"),
            }
        )


class FilterFailed(PlanoError):
    """A filter could not be used: 5xx, transport error, timeout or an unusable answer."""

    status = 500
    code = "filter_failed"

    def __init__(self, filter_id: str, reason: str, *, answered: int = 0) -> None:
        super().__init__(f"Filter chain processing failed: filter '{filter_id}': {reason}")
        self.filter_id = filter_id
        self.reason = reason
        self.answered = answered  # the filter's own HTTP status, when it answered 5xx


class Filter(Protocol):
    """One compiled filter: body bytes in, new body bytes out."""

    id: str
    span_name: str  # the child span of one call, built at config load

    async def apply(self, body: bytes, path: str, headers: Headers) -> bytes: ...

    async def close(self) -> None: ...


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
    ) -> bytes:
        if telemetry is None or record is None or not telemetry.traced:
            for f in self.filters:
                body = await f.apply(body, path, headers)
            return body
        for f in self.filters:
            body = await _traced(f, body, path, headers, telemetry, record)
        return body

    async def close(self) -> None:
        for f in self.filters:
            await f.close()


async def _traced(
    f: Filter, body: bytes, path: str, headers: Headers, telemetry: Telemetry, record: RequestRecord
) -> bytes:
    span = telemetry.child(record, f.span_name, n.SERVICE_FILTER)
    attributes: dict[str, str | int] = {n.ATTR_FILTER_ID: f.id}
    try:
        out = await f.apply(body, path, with_traceparent(headers, span.traceparent))
    except FilterRejected as err:
        attributes[n.ATTR_HTTP_STATUS] = err.status
        span.end(error=err.code, attributes=attributes)
        raise
    except PlanoError as err:
        span.end(error=err.code, attributes=attributes)
        raise
    span.end(attributes=attributes)
    return out


def with_traceparent(headers: Headers, traceparent: str | None) -> Headers:
    """`headers` with `traceparent` replaced (unchanged when there is none to send)."""
    if traceparent is None:
        return headers
    out = [(k, v) for k, v in headers if k.lower() != n.HEADER_TRACEPARENT]
    out.append((n.HEADER_TRACEPARENT, traceparent))
    return out


def trace_context(headers: Headers) -> dict[str, str]:
    """The W3C trace context among `headers` (for carriers other than HTTP headers)."""
    return {
        k.lower(): v for k, v in headers if k.lower() in (n.HEADER_TRACEPARENT, n.HEADER_TRACESTATE)
    }


def passed_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    """The client headers a filter or agent receives (decoded once per request)."""
    return [
        (k.decode("latin-1"), v.decode("latin-1")) for k, v in raw if k.lower() not in _NOT_PASSED
    ]


class FilterTable:
    """Every filter of a config, built once and shared by every chain that names it."""

    def __init__(
        self,
        filters: Iterable[FilterConfig],
        agents: Iterable[AgentConfig],
        client: UpstreamClient,
        *,
        timeout: float = DEFAULT_FILTER_TIMEOUT,
    ) -> None:
        self._configs: dict[str, FilterConfig] = {}
        for a in agents:  # the original lets a chain name an agent; it is then an MCP filter
            self._configs[a.id] = FilterConfig(id=a.id, url=a.url)
        for f in filters:
            self._configs[f.id] = f
        self._client = client
        self._timeout = timeout
        self._built: dict[str, Filter] = {}

    def get(self, filter_id: str) -> Filter:
        built = self._built.get(filter_id)
        if built is None:
            config = self._configs.get(filter_id)
            if config is None:
                raise KeyError(f"filter '{filter_id}' is not defined in filters or agents")
            built = self._built[filter_id] = _build(config, self._client, self._timeout)
        return built

    async def close(self) -> None:
        for f in self._built.values():
            await f.close()


def _build(config: FilterConfig, client: UpstreamClient, timeout: float) -> Filter:
    if config.type == "http":
        from plano.filters.http_filter import HttpFilter

        return HttpFilter(config, client, timeout=timeout)
    from plano.filters.mcp_filter import McpFilter

    return McpFilter(config, timeout=timeout)


def compile_chain(ids: Sequence[str], table: FilterTable) -> Chain | None:
    """One chain for `ids`, or None when there are none (the caller then skips it: zero cost)."""
    if not ids:
        return None
    return Chain(tuple(table.get(i) for i in ids))
