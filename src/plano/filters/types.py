"""What a filter chain and its filters share: the filter protocol, its two errors, and the trace
context a filter receives (`chain` builds the filters; the filters import only this module)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from plano.embedding.memo import EmbeddingMemo
from plano.errors import PlanoError
from plano.observability import names as n
from plano.observability.record import RequestRecord

Headers = Sequence[tuple[str, str]]


class FilterRejected(PlanoError):
    """A filter answered 4xx (or an MCP tool error): the request stops here with that status."""

    code = "filter_rejected"
    kind = "client"

    def __init__(self, filter_id: str, status: int, body: bytes) -> None:
        super().__init__(f"filter '{filter_id}' rejected the request with status {status}")
        self.filter_id = filter_id
        self.status = status
        self.body = body

    def own_body(self) -> bytes | None:
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


class FilterContext:
    """What the filters of one request share, beside the body: the request's telemetry `record`
    (verdicts go there: span attributes, metrics), its `embeddings` (one vector per text for the
    guard, the router and agent selection) and `state`, per-request data a built-in filter keeps
    from the input chain to the output chain (PII placeholders to restore). Created once per
    request; nothing in it outlives the request."""

    __slots__ = ("embeddings", "record", "state")

    def __init__(
        self, record: RequestRecord | None = None, embeddings: EmbeddingMemo | None = None
    ) -> None:
        self.record = record
        self.embeddings = embeddings if embeddings is not None else EmbeddingMemo()
        self.state: dict[str, Any] = {}


class Filter(Protocol):
    """One compiled filter: body bytes in, new body bytes out."""

    id: str
    span_name: str  # the child span of one call, built at config load

    async def apply(
        self, body: bytes, path: str, headers: Headers, ctx: FilterContext
    ) -> bytes: ...

    async def close(self) -> None: ...


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
