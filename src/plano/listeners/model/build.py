"""Building the upstream request: resolve the model, choose what to forward, add credentials.

The client's body is forwarded as its original bytes unless something must change (the model id,
gateway-only fields, routing's edits); when the provider speaks another API the request is
translated (`translated`). `Builder.build` runs once per request and once more per attempt target
of another endpoint or fallback model (`Builder.rebuild`, handed to the exchange engine).
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

from plano.errors import BadRequest, Unauthorized
from plano.http.headers import FRAMING, HOP_BY_HOP, NOT_PROXIED, connection_named
from plano.listeners.model import translation
from plano.listeners.model.call import ModelCall
from plano.listeners.model.stream_usage import ask_usage, injects_usage
from plano.listeners.pipeline import Outcome, SyncStage
from plano.listeners.types import RequestIds
from plano.observability.names import HEADER_OVERHEAD
from plano.observability.record import RequestRecord
from plano.providers.auth import client_credential
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable
from plano.routing.step import Routed, note_decision, resolve_routed
from plano.upstream.clusters import Resolved
from plano.upstream.request import Upstream
from plano.wire.api import json_bytes

# Never forwarded upstream: hop-by-hop, framing, the client's cookies, and what we set ourselves
# (plus, per request, the headers the client's `Connection` header names).
_NOT_FORWARDED: Final = (
    HOP_BY_HOP
    | FRAMING
    | NOT_PROXIED
    | {b"host", b"content-type", b"proxy-authorization", b"accept-encoding", b"expect"}
)
TRACE_HEADERS: Final = frozenset({b"traceparent", b"tracestate"})
# With tracing on, the client's trace context is replaced by the gateway span's.
_NOT_FORWARDED_TRACED: Final = _NOT_FORWARDED | TRACE_HEADERS
# Never relayed downstream from the upstream response (plus the headers we set ourselves).
NOT_RELAYED: Final = (
    HOP_BY_HOP | FRAMING | {b"x-plano-model", b"x-request-id", HEADER_OVERHEAD.encode()}
)


class _Source(NamedTuple):
    """What a request is built from: the client's call, or a request built before."""

    doc: dict[str, Any]
    body: bytes  # the client's bytes (empty: encode `doc`)
    api: Api
    requested: Any
    routed: Routed | None
    headers_in: Any
    counting: bool
    stream: bool


class Builder:
    """Builds upstream requests for one listener (the model table, request ids)."""

    def __init__(self, models: ModelTable, ids: RequestIds) -> None:
        self._models = models
        self._ids = ids

    def first(self, call: ModelCall) -> Upstream:
        """The request for the model the client asked for (or routing chose)."""
        resolved = resolve_routed(self._models, call.requested or None, call.routed)
        return self.for_call(call, resolved, None)

    def for_call(self, call: ModelCall, resolved: Resolved, prior: Upstream | None) -> Upstream:
        """The call's request for `resolved` (`prior`: a request already built for it)."""
        return self._build(
            _Source(
                call.doc,
                call.body,
                call.api,
                call.requested,
                call.routed,
                call.scope["headers"],
                call.path == translation.COUNT_PATH,
                call.stream,
            ),
            call.record,
            resolved,
            prior,
        )

    def rebuild(self, up: Upstream, resolved: Resolved, record: RequestRecord) -> Upstream:
        """The same request for another endpoint or fallback model (body re-encoded)."""
        assert up.doc is not None
        doc = up.doc
        source = _Source(
            doc, b"", up.api, doc.get("model"), None, up.headers_in, up.counting, up.stream
        )
        return self._build(source, record, resolved, up)

    def _build(
        self, src: _Source, record: RequestRecord, resolved: Resolved, prior: Upstream | None
    ) -> Upstream:
        cluster = resolved.cluster
        record.model = resolved.name
        record.provider = cluster.provider
        record.upstream_model = resolved.model_id
        routed = src.routed
        note_decision(record, routed, resolved)
        upstream_api = cluster.row.upstream_api(src.api)
        tr = None
        if upstream_api is not src.api:
            tr = translation.translation_for(
                prior.translation if prior is not None else None,
                src.api,
                upstream_api,
                src.doc,
                src.counting,
                cluster.row.stream_only,
                fallback=prior is not None,
            )
            tr.inject_cache |= bool(routed and routed.inject_cache)
        body = src.body
        changed = tr is None and (
            _rewrite(src.doc, src.requested, resolved.model_id)
            or bool(routed and routed.changed)
            or not body
        )
        headers = self._upstream_headers(src, resolved, upstream_api, record)
        url = cluster.url(upstream_api, resolved.model_id, src.stream)
        if src.counting:
            url += "/count_tokens"
        elif tr is not None:
            body, headers = translation.encode(
                tr, resolved.model_id, cluster.provider, url, headers, cluster.signer
            )
        out = json_bytes(src.doc) if changed else body
        if tr is None and injects_usage(src.api, src.stream, src.doc):
            out = ask_usage(out, src.doc)  # the relay strips it again (`strip_usage`)
        return Upstream(
            url=url,
            headers=headers,
            body=out,
            resolved=resolved,
            request_id=(record.request_id or "").encode(),
            route_headers=routed.response_headers if routed is not None else (),
            translation=tr,
            headers_in=src.headers_in,
            doc=src.doc,
            api=src.api,
            counting=src.counting,
            stream=src.stream,
        )

    def _upstream_headers(
        self, src: _Source, resolved: Resolved, upstream_api: Api, record: RequestRecord
    ) -> list[tuple[str, str]]:
        """The forwarded client headers, then the provider's credentials."""
        cluster = resolved.cluster
        headers, credential = self._headers(src.headers_in, resolved, record)
        routed = src.routed
        if routed is not None and routed.prefix_hash:
            headers.append(("x-plano-prefix-hash", routed.prefix_hash))
        if credential is None and cluster.needs_key:
            raise Unauthorized(
                f"no access key is configured for provider '{cluster.name}', "
                "and it does not pass the client's credential through"
            )
        auth = cluster.auth(upstream_api, credential)
        if upstream_api is Api.ANTHROPIC_MESSAGES and any(
            k == "anthropic-version" for k, _ in headers
        ):
            # An Anthropic client names the API version it speaks; keep it.
            auth = tuple(h for h in auth if h[0] != "anthropic-version")
        headers.extend(auth)
        return headers

    def _headers(
        self, headers_in: Any, resolved: Resolved, record: RequestRecord
    ) -> tuple[list[tuple[str, str]], str | None]:
        """The client's headers as forwarded (ours and hop-by-hop ones left out, credentials
        kept aside for `passthrough_auth`), a request id, trace context, the provider's own."""
        cluster = resolved.cluster
        replaced = cluster.replaced_headers
        ours_trace = record.traceparent is not None
        skipped = _NOT_FORWARDED_TRACED if ours_trace else _NOT_FORWARDED
        out: list[tuple[str, str]] = [("content-type", "application/json")]
        authorization = x_api_key = None
        client_id = False
        hop: frozenset[bytes] = frozenset()
        for key, value in headers_in:
            if key in skipped:
                if key == b"connection":
                    hop |= connection_named(value)
                continue
            if key in replaced:
                if key == b"authorization":
                    authorization = value.decode("latin-1")
                elif key == b"x-api-key":
                    x_api_key = value.decode("latin-1")
                continue
            if key == b"x-request-id":
                record.request_id = value.decode("latin-1")
                client_id = True
            out.append((key.decode("latin-1"), value.decode("latin-1")))
        if hop:  # named hop-by-hop by the client's Connection header (its request id stays)
            hop -= {b"x-request-id"}
            out = [h for h in out if h[0].encode("latin-1") not in hop or h[0] == "content-type"]
        if not client_id:
            if record.request_id is None:
                record.request_id = self._ids.new()
            out.append(("x-request-id", record.request_id))
        if ours_trace:
            out.append(("traceparent", record.traceparent or ""))
            if record.tracestate:
                out.append(("tracestate", record.tracestate))
        out.extend(cluster.extra_headers)
        if cluster.host_header:
            out.append(("host", cluster.host_header))
        credential = (
            client_credential(authorization, x_api_key) if cluster.passthrough_auth else None
        )
        return out, credential


class Build(SyncStage[ModelCall]):
    """Resolve the model and build the upstream request (`call.upstream`)."""

    def __init__(self, builder: Builder) -> None:
        self._builder = builder

    def __call__(self, call: ModelCall) -> Outcome:
        call.upstream = self._builder.first(call)
        return None


class Decode(SyncStage[ModelCall]):
    """The view the gateway reads of a client request: the model it names and `stream`."""

    def __call__(self, call: ModelCall) -> Outcome:
        return decode_view(call)


def decode_view(call: ModelCall) -> Outcome:
    """`call.requested` and `call.stream` from `call.doc` (again after a filter changed it)."""
    doc = call.doc
    requested = doc.get("model")
    if requested is not None and not isinstance(requested, str):
        return BadRequest("`model` must be a string", param="model")
    stream = doc.get("stream")
    if stream is not None and stream is not True and stream is not False:
        return BadRequest("stream: expected a boolean", param="stream")
    record = call.record
    call.requested = record.requested_model = requested
    call.stream = record.stream = stream is True
    return None


def _rewrite(doc: dict[str, Any], requested: Any, model_id: str) -> bool:
    """Set the upstream model id and drop gateway-only fields; True if the body changed."""
    changed = False
    if requested != model_id:
        doc["model"] = model_id
        changed = True
    if "routing_preferences" in doc:
        del doc["routing_preferences"]
        changed = True
    return changed
