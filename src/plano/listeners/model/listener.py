"""The model listener (default :12000): the LLM proxy for every client API.

Per request: read the body, decode a view (model, stream), resolve the model to a cluster, rewrite
only what must change (the model id), and forward the original bytes when nothing changed. The
response is relayed as it arrives: whole bodies with their length, event streams chunk by chunk.
What happened is noted in the request's `RequestRecord` for telemetry.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson

from plano.errors import (
    BadRequest,
    MalformedJson,
    PlanoError,
    Unauthorized,
)
from plano.filters.chain import Chain, FilterRejected
from plano.listeners.asgi import (
    JSON_CT,
    ClientDisconnected,
    RawHeaders,
    Receive,
    Scope,
    Send,
    read_body,
    send_bytes,
    send_error,
)
from plano.listeners.model import translated
from plano.listeners.model.filtered import filter_headers, relay_filtered
from plano.listeners.model.relay import note_usage, relay_failure, relay_stream
from plano.listeners.model.translated import overhead_header
from plano.observability import names as n
from plano.observability.names import HEADER_OVERHEAD
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.providers.auth import client_credential
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable, Resolved
from plano.routing.step import (
    Routed,
    RoutingStep,
    note_decision,
    resolve_routed,
    wants_routing,
)
from plano.state.conversations import ConversationStore
from plano.upstream.attempts import Attempts, ClusterPolicy, Upstream
from plano.upstream.client import UpstreamClient
from plano.upstream.outcome import RetryFirst
from plano.upstream.policies import Resilience
from plano.wire import anthropic_messages, openai_chat, openai_responses

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # handler name for telemetry (llm_chat, list_models, ...)
    handler: Handler


# Never forwarded upstream: hop-by-hop, framing, and what we set ourselves.
_NOT_FORWARDED: Final = frozenset(
    {
        b"host",
        b"content-length",
        b"content-type",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-authorization",
        b"proxy-connection",
        b"accept-encoding",
        b"expect",
    }
)
_TRACE_HEADERS: Final = frozenset({b"traceparent", b"tracestate"})
# With tracing on, the client's trace context is replaced by the gateway span's.
_NOT_FORWARDED_TRACED: Final = _NOT_FORWARDED | _TRACE_HEADERS
# Never relayed downstream from the upstream response (plus the headers we set ourselves).
_NOT_RELAYED: Final = frozenset(
    {
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"upgrade",
        b"proxy-connection",
        b"x-plano-model",
        b"x-request-id",
        HEADER_OVERHEAD.encode(),
    }
)


class RequestIds:
    """Request ids: a random prefix per listener and a counter (no syscall per request)."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


class ModelListener:
    def __init__(
        self,
        models: ModelTable,
        client: UpstreamClient,
        *,
        timeout: float,
        connect_timeout: float,
        max_body_bytes: int,
        models_body: bytes,
        telemetry: Telemetry,
        input_chain: Chain | None = None,
        output_chain: Chain | None = None,
        routing: RoutingStep | None = None,
        conversations: ConversationStore | None = None,
        resilience: Resilience | None = None,
        keep_body: bool = False,
    ) -> None:
        self._keep_body = keep_body  # record.request_body for PostHog's `$ai_input`
        self._input_chain = input_chain  # None: no filters, nothing to do (compiled away)
        self._output_chain = output_chain
        self._telemetry = telemetry
        self._routing = routing
        self._models = models
        self._client = client
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._max_body = max_body_bytes
        self._models_body = models_body
        self._ids = RequestIds()
        self._translated = translated.TranslatedExchange(telemetry, conversations, output_chain)
        self._gate = self._limiter = self._attempts = None
        if resilience is not None:
            self._gate, self._limiter = resilience.gate, resilience.limiter
            if resilience.policies or resilience.alias_fallbacks:
                self._attempts = Attempts(
                    resilience.policies,
                    resilience.alias_fallbacks,
                    client,
                    deadline=timeout,
                    rebuild=self._rebuild,
                    events=resilience.events,
                )

    def routes(self) -> dict[tuple[str, str], Route]:
        def proxy(api: Api) -> Route:
            async def handle(scope: Scope, receive: Receive, send: Send) -> None:
                await self._serve(scope, receive, send, api)

            async def gated(scope: Scope, receive: Receive, send: Send) -> None:
                await self.proxy(scope, receive, send, api)

            return Route("llm_chat", handle if self._gate is None else gated)

        return {
            ("POST", openai_chat.PATH): proxy(Api.OPENAI_CHAT),
            ("POST", anthropic_messages.PATH): proxy(Api.ANTHROPIC_MESSAGES),
            ("POST", openai_responses.PATH): proxy(Api.OPENAI_RESPONSES),
            ("POST", translated.COUNT_TOKENS_PATH): proxy(Api.ANTHROPIC_MESSAGES),
            ("GET", "/v1/models"): Route("list_models", self.list_models),
        }

    async def list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, [(b"content-type", b"application/json")], self._models_body)

    async def proxy(self, scope: Scope, receive: Receive, send: Send, api: Api) -> None:
        gate = self._gate
        if gate is None:
            await self._serve(scope, receive, send, api)
            return
        try:
            await gate.enter()
        except PlanoError as err:  # full: 503 at once
            scope["plano.record"].error_kind = "overloaded"
            await send_error(send, scope["path"], err)
            return
        try:
            await self._serve(scope, receive, send, api)
        finally:
            gate.leave()

    async def _serve(self, scope: Scope, receive: Receive, send: Send, api: Api) -> None:
        path: str = scope["path"]
        record: RequestRecord = scope["plano.record"]
        record.client_api = api.value
        routed = None
        try:
            body = await read_body(scope, receive, self._max_body)
            record.bytes_in = len(body)
            if self._input_chain is not None:
                body = await self._input_chain.run(
                    body, path, filter_headers(record), telemetry=self._telemetry, record=record
                )
            if self._keep_body:
                record.request_body = body
            if wants_routing(self._routing, body) and self._routing is not None:
                routed = await self._route(scope, body, api, record)
            upstream = self._prepare(scope, body, api, record, routed)
            tr = upstream.translation
            if tr is not None and await self._translated.continued(tr):  # encode it again
                doc, resolved, requested = (
                    upstream.doc or {},
                    upstream.resolved,
                    record.requested_model,
                )
                upstream = self._build(
                    scope, doc, body, api, resolved, record, requested, routed, upstream
                )
            if self._limiter is not None:
                await self._ratelimit(scope, upstream)
        except ClientDisconnected:
            record.error_kind = "client_gone"
            return
        except FilterRejected as err:
            record.error_kind = err.kind
            await send_bytes(send, err.status, [JSON_CT], err.original_body())
            return
        except PlanoError as err:
            record.error_kind = err.kind
            rid = record.request_id or self._ids.new()
            await send_error(send, path, err, [(b"x-request-id", rid.encode())])
            return
        await self._forward(receive, send, path, api, upstream, record)
        if routed is not None and self._routing is not None:
            ok = 200 <= record.upstream_status < 300 and record.error_kind is None
            await self._routing.after_response(routed, record.prompt_tokens, ok)

    async def _ratelimit(self, scope: Scope, up: Upstream) -> None:
        assert self._limiter is not None
        selector = self._limiter.applicable(scope["headers"])
        if selector is not None:
            r = up.resolved
            names = (r.model_id, r.name, r.cluster.name)
            await self._limiter.check(selector, names, r.cluster.provider, up.doc)

    async def _route(self, scope: Scope, body: bytes, api: Api, record: RequestRecord) -> Routed:
        """The routing step, in a `routing` span when tracing is on (the router model's call is
        its child: it carries the span's context instead of the client's)."""
        assert self._routing is not None
        if not self._telemetry.traced:
            return await self._routing.route_body(body, api, scope["headers"])
        span = self._telemetry.child(record, n.SPAN_ROUTING, n.SERVICE_ROUTING, "internal")
        headers = [kv for kv in scope["headers"] if kv[0] not in _TRACE_HEADERS]
        if span.traceparent:
            headers.append((b"traceparent", span.traceparent.encode()))
            if record.tracestate:
                headers.append((b"tracestate", record.tracestate.encode()))
        started = time.perf_counter_ns()
        try:
            routed = await self._routing.route_body(body, api, headers)
        except PlanoError as err:
            span.end(error=err.kind)
            raise
        d = routed.decision
        attrs: dict[str, Any] = {
            n.ATTR_ROUTING_DETERMINATION_MS: (time.perf_counter_ns() - started) // 1_000_000,
            n.ATTR_ROUTING_DECISION: d.reason,
        }
        if isinstance(routed.doc.get("model"), str):
            attrs[n.ATTR_MODEL_REQUESTED] = routed.doc["model"]
        if d.model:
            attrs[n.ATTR_ROUTE_SELECTED_MODEL] = d.model
        if d.route:
            attrs[n.ATTR_ROUTE_NAME] = d.route
        span.end(attributes=attrs)
        return routed

    def _prepare(
        self, scope: Scope, body: bytes, api: Api, record: RequestRecord, routed: Routed | None
    ) -> Upstream:
        if routed is not None:
            doc = routed.doc
        else:
            try:
                doc = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise MalformedJson(f"request body is not valid JSON: {exc}") from None
            if type(doc) is not dict:
                raise MalformedJson("request body must be a JSON object")
        requested = doc.get("model")
        if requested is not None and not isinstance(requested, str):
            raise BadRequest("`model` must be a string", param="model")
        record.requested_model = requested
        record.stream = doc.get("stream") is True
        resolved = resolve_routed(self._models, requested or None, routed)
        return self._build(scope, doc, body, api, resolved, record, requested, routed)

    def _rebuild(self, up: Upstream, resolved: Resolved, record: RequestRecord) -> Upstream:
        """The same request for another endpoint or fallback model (body re-encoded)."""
        assert up.doc is not None
        doc = up.doc
        return self._build(up.scope, doc, b"", up.api, resolved, record, doc.get("model"), None, up)

    def _build(
        self,
        scope: Scope,
        doc: dict[str, Any],
        body: bytes,
        api: Api,
        resolved: Resolved,
        record: RequestRecord,
        requested: Any,
        routed: Routed | None,
        prior: Upstream | None = None,
    ) -> Upstream:
        stream = record.stream
        cluster = resolved.cluster
        record.model = resolved.name
        record.provider = cluster.provider
        record.upstream_model = resolved.model_id
        note_decision(record, routed, resolved)
        upstream_api = cluster.row.upstream_api(api)
        translation = None
        counting = scope["path"] == translated.COUNT_TOKENS_PATH
        if upstream_api is not api:
            before = prior.translation if prior is not None else None
            only = cluster.row.stream_only
            translation = translated.translation_for(
                before, api, upstream_api, doc, counting, only, fallback=prior is not None
            )
            translation.inject_cache |= bool(routed and routed.inject_cache)
        changed = translation is None and (
            _rewrite(doc, requested, resolved.model_id)
            or bool(routed and routed.changed)
            or not body
        )
        headers, credential = self._headers(scope, resolved, record)
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
        url = cluster.url(upstream_api, resolved.model_id, stream)
        if counting:
            url += "/count_tokens"
        elif translation is not None:
            body, headers = translated.encode(
                translation, resolved.model_id, cluster.provider, url, headers, cluster.signer
            )
        return Upstream(
            url=url,
            headers=headers,
            body=orjson.dumps(doc) if changed else body,
            resolved=resolved,
            request_id=(record.request_id or "").encode(),
            route_headers=routed.response_headers if routed is not None else (),
            translation=translation,
            scope=scope,
            doc=doc,
            api=api,
        )

    def _headers(
        self, scope: Scope, resolved: Resolved, record: RequestRecord
    ) -> tuple[list[tuple[str, str]], str | None]:
        cluster = resolved.cluster
        replaced = cluster.replaced_headers
        ours_trace = record.traceparent is not None
        skipped = _NOT_FORWARDED_TRACED if ours_trace else _NOT_FORWARDED
        out: list[tuple[str, str]] = [("content-type", "application/json")]
        authorization = x_api_key = None
        client_id = False
        for key, value in scope["headers"]:
            if key in skipped:
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

    def _open(
        self, up: Upstream, record: RequestRecord
    ) -> tuple[AbstractAsyncContextManager[Any], ClusterPolicy | None]:
        """The upstream call: direct, or through the attempt loop when resilience applies."""
        attempts = self._attempts
        policy = None if attempts is None else attempts.policy_for(up, record.requested_model)
        if attempts is None or policy is None:
            return self._client.post(up.url, up.headers, up.body, self._timeout), None
        if policy.inline_first:  # sent like a direct call; `_forward` judges the answer
            return self._client.post(
                up.url, up.headers, up.body, attempts.first_limits(policy)
            ), policy
        return attempts.open(up, record, record.requested_model), policy

    async def _forward(  # noqa: PLR0915 - the hot path, kept in one frame
        self,
        receive: Receive,
        send: Send,
        path: str,
        api: Api,
        up: Upstream,
        record: RequestRecord,
    ) -> None:
        ours: RawHeaders = [
            (b"x-plano-model", up.resolved.name.encode()),
            (b"x-request-id", up.request_id),
            *up.route_headers,
        ]
        if up.translation is not None and up.translation.count_only:
            await self._translated.count(send, up.translation, ours)
            return
        started = False
        record.upstream_sent = time.perf_counter_ns()
        opened, policy = self._open(up, record)
        # True while the first attempt of an `inline_first` policy is not yet judged good:
        # until then a failure goes to the attempt loop instead of the client.
        first = policy is not None and policy.inline_first
        while True:
            try:
                async with opened as got:
                    if policy is None or first:
                        resp, guard = got, None if policy is None else policy.guard
                        record.attempts += 1
                        if first:
                            assert self._attempts is not None and policy is not None
                            # Read whole unless a success stream, as the loop does (both
                            # clients keep the body: the relay's `read()` gets it again).
                            whole = (
                                None
                                if resp.status < 300 and resp.content_type == "text/event-stream"
                                else await resp.read()
                            )
                            failed = self._attempts.judge_first(
                                resp, up, policy, record.requested_model, whole
                            )
                            if failed is not None:
                                raise RetryFirst(failed)
                            first = False
                    else:
                        resp, up, guard = got
                        ours[0] = (b"x-plano-model", up.resolved.name.encode())
                    record.upstream_headers = time.perf_counter_ns()
                    record.upstream_status = resp.status
                    if up.translation is not None:  # decoded and encoded again for the client
                        target = translated.target_of(up, ours, path)
                        await self._translated.relay(
                            receive, send, resp, up.translation, target, record, guard
                        )
                        return
                    headers = [
                        (name, v)
                        for k, v in resp.raw_headers
                        if (name := k.lower()) not in _NOT_RELAYED
                    ]
                    headers.extend(ours)
                    if resp.status >= 400:
                        record.error_kind = "upstream_status"
                    if resp.status < 300 and resp.content_type == "text/event-stream":
                        headers.append(overhead_header(record, record.upstream_headers))
                        self._telemetry.stream_started(record)
                        await send(
                            {
                                "type": "http.response.start",
                                "status": resp.status,
                                "headers": headers,
                            }
                        )
                        started = True
                        if self._output_chain is None:
                            await relay_stream(resp, receive, send, record, guard)
                        else:
                            await relay_filtered(self._output_chain, resp, send, path, record)
                    else:
                        data = await resp.read()
                        record.upstream_done = time.perf_counter_ns()
                        if self._output_chain is not None and resp.status < 300:
                            data = await self._output_chain.run(data, path, filter_headers(record))
                        if resp.status < 300 and b'"usage"' in data:
                            note_usage(record, data)
                        headers.append(overhead_header(record, record.upstream_done))
                        await send_bytes(send, resp.status, headers, data)
                return
            except RetryFirst as again:
                pending = again.failed
            except PlanoError as err:
                if first and self._attempts is not None and policy is not None:
                    pending = self._attempts.failed_first(err, policy, up)
                else:
                    await relay_failure(send, path, api, err, record, ours, started=started)
                    return
            assert self._attempts is not None
            first = False
            opened = self._attempts.resume(
                up, record, record.requested_model, pending, record.upstream_sent
            )


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
