"""The model listener (default :12000): the LLM proxy for every client API.

Per request: read the body, decode a view (model, stream), resolve the model to a cluster, rewrite
only what must change (the model id), and forward the original bytes when nothing changed. The
response is relayed as it arrives: whole bodies with their length, event streams chunk by chunk.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
import orjson

from plano.errors import (
    BadRequest,
    MalformedJson,
    NotImplementedDialect,
    PlanoError,
    Unauthorized,
)
from plano.providers.auth import client_credential
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable, Resolved
from plano.server.http import (
    ClientDisconnected,
    RawHeaders,
    Receive,
    Scope,
    Send,
    read_body,
    send_bytes,
    send_error,
)
from plano.upstream.client import UpstreamClient
from plano.wire import anthropic_messages, openai_chat, openai_responses

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

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
# Never relayed downstream from the upstream response.
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
    }
)

_STREAM_ERROR: Final = {
    Api.OPENAI_CHAT: openai_chat.stream_error_event,
    Api.ANTHROPIC_MESSAGES: anthropic_messages.stream_error_event,
    Api.OPENAI_RESPONSES: openai_responses.stream_error_event,
}

_API_NAMES: Final = {
    Api.OPENAI_CHAT: "OpenAI Chat Completions",
    Api.ANTHROPIC_MESSAGES: "Anthropic Messages",
    Api.OPENAI_RESPONSES: "OpenAI Responses",
    Api.GEMINI: "Gemini generateContent",
    Api.BEDROCK_CONVERSE: "Bedrock Converse",
}


@dataclass(frozen=True, slots=True)
class Upstream:
    """Everything decided about one request before it leaves."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes
    resolved: Resolved
    request_id: bytes
    stream: bool


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
    ) -> None:
        self._models = models
        self._client = client
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=connect_timeout)
        self._max_body = max_body_bytes
        self._models_body = models_body

    def routes(self) -> dict[tuple[str, str], Handler]:
        def proxy(api: Api) -> Handler:
            async def handle(scope: Scope, receive: Receive, send: Send) -> None:
                await self.proxy(scope, receive, send, api)

            return handle

        return {
            ("POST", openai_chat.PATH): proxy(Api.OPENAI_CHAT),
            ("POST", anthropic_messages.PATH): proxy(Api.ANTHROPIC_MESSAGES),
            ("POST", openai_responses.PATH): proxy(Api.OPENAI_RESPONSES),
            ("GET", "/v1/models"): self.list_models,
        }

    async def list_models(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, [(b"content-type", b"application/json")], self._models_body)

    async def proxy(self, scope: Scope, receive: Receive, send: Send, api: Api) -> None:
        path: str = scope["path"]
        try:
            body = await read_body(scope, receive, self._max_body)
            upstream = self._prepare(scope, body, api)
        except ClientDisconnected:
            return
        except PlanoError as err:
            await send_error(send, path, err)
            return
        await self._forward(receive, send, path, api, upstream)

    def _prepare(self, scope: Scope, body: bytes, api: Api) -> Upstream:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise MalformedJson(f"request body is not valid JSON: {exc}") from None
        if type(doc) is not dict:
            raise MalformedJson("request body must be a JSON object")
        requested = doc.get("model")
        if requested is not None and not isinstance(requested, str):
            raise BadRequest("`model` must be a string", param="model")
        resolved = self._models.resolve(requested or None)
        cluster = resolved.cluster
        upstream_api = cluster.row.upstream_api(api)
        if upstream_api is not api:
            raise NotImplementedDialect(
                f"model '{resolved.name}' is served over {_API_NAMES[upstream_api]}, and "
                f"translation from {_API_NAMES[api]} to it is not available in this build yet"
            )
        changed = _rewrite(doc, requested, resolved.model_id)
        headers, credential, request_id = self._headers(scope, resolved)
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
        stream = doc.get("stream") is True
        return Upstream(
            url=cluster.url(upstream_api, resolved.model_id, stream),
            headers=headers,
            body=orjson.dumps(doc) if changed else body,
            resolved=resolved,
            request_id=request_id,
            stream=stream,
        )

    def _headers(
        self, scope: Scope, resolved: Resolved
    ) -> tuple[list[tuple[str, str]], str | None, bytes]:
        cluster = resolved.cluster
        replaced = cluster.replaced_headers
        out: list[tuple[str, str]] = [("content-type", "application/json")]
        authorization = x_api_key = None
        request_id: bytes | None = None
        for key, value in scope["headers"]:
            if key in _NOT_FORWARDED:
                continue
            if key in replaced:
                if key == b"authorization":
                    authorization = value.decode("latin-1")
                elif key == b"x-api-key":
                    x_api_key = value.decode("latin-1")
                continue
            if key == b"x-request-id":
                request_id = value
            out.append((key.decode("latin-1"), value.decode("latin-1")))
        if request_id is None:
            request_id = uuid.uuid4().hex.encode()
            out.append(("x-request-id", request_id.decode()))
        out.extend(cluster.extra_headers)
        if cluster.host_header:
            out.append(("host", cluster.host_header))
        credential = (
            client_credential(authorization, x_api_key) if cluster.passthrough_auth else None
        )
        return out, credential, request_id

    async def _forward(
        self, receive: Receive, send: Send, path: str, api: Api, up: Upstream
    ) -> None:
        ours: RawHeaders = [
            (b"x-plano-model", up.resolved.name.encode()),
            (b"x-request-id", up.request_id),
        ]
        started = False
        try:
            async with self._client.post(up.url, up.headers, up.body, self._timeout) as resp:
                headers = [
                    (k.lower(), v)
                    for k, v in resp.raw_headers
                    if k.lower() not in _NOT_RELAYED and k.lower() not in _OURS
                ]
                headers.extend(ours)
                if resp.status < 300 and resp.content_type == "text/event-stream":
                    await send(
                        {"type": "http.response.start", "status": resp.status, "headers": headers}
                    )
                    started = True
                    await _relay_stream(resp, receive, send)
                else:
                    data = await resp.read()
                    await send_bytes(send, resp.status, headers, data)
        except PlanoError as err:
            if not started:
                await send_error(send, path, err, ours)
            else:
                await send({"type": "http.response.body", "body": _STREAM_ERROR[api](err)})


_OURS: Final = frozenset({b"x-plano-model", b"x-request-id"})


async def _relay_stream(resp: aiohttp.ClientResponse, receive: Receive, send: Send) -> None:
    """Relay an event stream chunk by chunk; stop the upstream if the client leaves."""
    state = {"done": False}
    watcher = asyncio.ensure_future(_close_on_disconnect(receive, resp, state))
    try:
        async for chunk in resp.content.iter_any():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        state["done"] = True
        await send({"type": "http.response.body", "body": b""})
    finally:
        state["done"] = True
        watcher.cancel()


async def _close_on_disconnect(
    receive: Receive, resp: aiohttp.ClientResponse, state: dict[str, Any]
) -> None:
    message = await receive()
    if message["type"] == "http.disconnect" and not state["done"]:
        resp.close()


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
