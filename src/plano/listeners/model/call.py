"""A model-listener request on its way through the pipeline (`listeners.pipeline.Call` plus the
model listener's view and working state)."""

from __future__ import annotations

import time

from plano.errors import PlanoError
from plano.filters.types import FilterContext
from plano.listeners.asgi import client_request_id
from plano.listeners.pipeline import Call
from plano.listeners.types import RawHeaders, Receive, RequestIds, Scope, Send
from plano.routing.step import Routed
from plano.upstream.request import Committed, Upstream
from plano.wire.api import Api


class ModelCall(Call):
    """View (decoded once): `requested` model and `stream`. Working state, in stage order:
    `routed` (the routing step's decision), `upstream` (the request built for the chosen
    model), `committed` (the answer the exchange chose; also `held`, released at the end).
    `filters` is the request's filter context, created when a chain first needs it and shared
    by the input and output chains (and its embeddings by the router)."""

    __slots__ = ("committed", "filters", "ids", "requested", "routed", "stream", "upstream")

    def __init__(self, scope: Scope, receive: Receive, send: Send, api: Api, ids: RequestIds):
        super().__init__(scope, receive, send, api)
        self.record.client_api = api.value
        self.ids = ids
        self.requested: str | None = None
        self.stream = False
        self.routed: Routed | None = None
        self.upstream: Upstream | None = None
        self.committed: Committed | None = None
        self.filters: FilterContext | None = None

    def filter_context(self) -> FilterContext:
        """The request's filter context (created on first use)."""
        ctx = self.filters
        if ctx is None:
            ctx = self.filters = FilterContext(self.record)
        return ctx

    def request_id(self) -> str:
        """The request id: the one set when the request was built, else the client's
        `x-request-id`, else one of ours."""
        rid = self.record.request_id
        if rid is None:  # the request failed before it was built
            rid = self.record.request_id = client_request_id(self.scope, self.ids)
        return rid

    def ours(self) -> RawHeaders:
        """What the gateway adds to every answer: the model that served, the request id, and
        what routing decided."""
        up = self.upstream
        if up is None:
            return [(b"x-request-id", self.request_id().encode())]
        return [
            (b"x-plano-model", up.resolved.name.encode()),
            (b"x-request-id", up.request_id),
            *up.route_headers,
        ]

    def failed(self, err: PlanoError) -> RawHeaders:
        record = self.record
        if record.upstream_sent and not record.upstream_done:
            record.upstream_done = time.perf_counter_ns()
        return self.ours()
