"""`POST /v1/embeddings` on the model listener: its own pipeline, built from the model listener's
stages where they apply.

    ReadBody → DecodeJson → DecodeEmbeddings (the request's shape, 400 with the parameter named)
    → Authenticate → BuildEmbeddings (resolve the model: names, aliases, wildcards as for chat;
    the provider's embeddings URL) → Authorize → RateLimit
    → Send (retries, fallbacks, circuits: the provider's policy, as for chat)
    → RelayEmbeddings (the answer, usage noted)

Routing is by model only: no preference routing, no input or output filters (they read chat
messages). OpenAI-compatible providers (Azure by deployment) get the client's bytes (the model
id rewritten when it differs) and the answer is relayed as its bytes: the vectors are never
decoded, only the `usage` object at the end is read. Gemini is translated to and from
`batchEmbedContents` (`translate.embeddings_gemini`), Bedrock Titan and Cohere embedding models to
and from `InvokeModel` (`translate.embeddings_bedrock`, SigV4-signed when configured so). Other
providers (Anthropic, ChatGPT, Bedrock chat models) get a 400 naming the model and its provider.
"""

from __future__ import annotations

import re
import time
from typing import Final

import orjson

from plano.errors import BadRequest, Unauthorized
from plano.listeners.asgi import JSON_CT, send_bytes
from plano.listeners.model.build import NOT_RELAYED, Builder
from plano.listeners.model.call import ModelCall
from plano.listeners.model.relay import note_usage
from plano.listeners.model.translated import overhead_header
from plano.listeners.pipeline import Outcome, Stage, SyncStage
from plano.listeners.types import RawHeaders, Receive, RequestIds, Scope, Send
from plano.observability.record import RequestRecord
from plano.providers.catalogue import Api
from plano.providers.endpoints import embeddings_path
from plano.routing.resolve import ModelTable
from plano.translate.embeddings_bedrock import TOKEN_COUNT_HEADER, from_bedrock, to_bedrock
from plano.translate.embeddings_gemini import from_gemini, to_gemini
from plano.upstream.clusters import Resolved
from plano.upstream.request import Upstream
from plano.upstream.transport import UpstreamResponse
from plano.wire import bedrock_converse as bedrock_wire
from plano.wire import gemini as gemini_wire
from plano.wire import openai_chat
from plano.wire.openai_embeddings import PATH, EmbeddingsRequest, parse

EMBEDDINGS_PATH: Final = PATH
EMBEDDINGS_HANDLER: Final = "embeddings"  # the route's handler name (metrics' `handler` label)
# The answer's `usage` object (flat in every OpenAI-compatible embeddings answer).
_USAGE: Final = re.compile(rb'"usage"\s*:\s*(\{[^{}]*\})')


class EmbeddingsCall(ModelCall):
    """A model-listener call with the embeddings request's view (`embed`)."""

    __slots__ = ("embed",)

    def __init__(self, scope: Scope, receive: Receive, send: Send, ids: RequestIds) -> None:
        super().__init__(scope, receive, send, Api.OPENAI_CHAT, ids)
        self.record.client_api = "openai_embeddings"
        self.embed: EmbeddingsRequest | None = None


class DecodeEmbeddings(SyncStage[EmbeddingsCall]):
    """The request's shape (`wire.openai_embeddings.parse`) and the model it names."""

    def __call__(self, call: EmbeddingsCall) -> Outcome:
        req = call.embed = parse(call.doc)
        call.requested = call.record.requested_model = req.model
        return None


def _no_embeddings(requested: str, resolved: Resolved) -> BadRequest:
    return BadRequest(
        f"model '{requested}' (provider {resolved.cluster.provider}) has no embeddings API",
        param="model",
    )


class EmbeddingsBuilder(Builder):
    """Upstream embeddings requests: the first, and one per other endpoint or fallback model."""

    def __init__(self, models: ModelTable, ids: RequestIds) -> None:
        super().__init__(models, ids)
        self._table = models

    def embeddings(self, call: EmbeddingsCall) -> Upstream:
        resolved = self._table.resolve(call.requested)
        return self._embed(call.doc, call.body, resolved, call.scope["headers"], call.record)

    def rebuild(self, up: Upstream, resolved: Resolved, record: RequestRecord) -> Upstream:
        assert up.doc is not None
        return self._embed(up.doc, b"", resolved, up.headers_in, record)

    def _embed(
        self,
        doc: dict[str, object],
        body: bytes,
        resolved: Resolved,
        headers_in: object,
        record: RequestRecord,
    ) -> Upstream:
        cluster = resolved.cluster
        requested = doc.get("model")
        record.model = resolved.name
        record.provider = cluster.provider
        record.upstream_model = resolved.model_id
        path = embeddings_path(cluster.row, cluster.origin, resolved.model_id)
        if path is None:
            raise _no_embeddings(str(requested), resolved)
        api = cluster.row.chat_api
        headers, credential = self._headers(headers_in, resolved, record)
        if credential is None and cluster.needs_key:
            raise Unauthorized(
                f"no access key is configured for provider '{cluster.name}', "
                "and it does not pass the client's credential through"
            )
        headers.extend(cluster.auth(api, credential))
        url = cluster.origin.base + path
        if api is Api.GEMINI:
            body = to_gemini(parse(doc), resolved.model_id)
        elif api is Api.BEDROCK_CONVERSE:
            body = to_bedrock(parse(doc), resolved.model_id)
            if cluster.signer is not None:
                headers.extend(cluster.signer.headers(url, dict(headers), body))
        elif not body or requested != resolved.model_id:
            doc["model"] = resolved.model_id
            body = orjson.dumps(doc)
        return Upstream(
            url=url,
            headers=headers,
            body=body,
            resolved=resolved,
            request_id=(record.request_id or "").encode(),
            headers_in=headers_in,
            doc=doc,
        )


class BuildEmbeddings(SyncStage[EmbeddingsCall]):
    """Resolve the model and build the upstream request (`call.upstream`)."""

    def __init__(self, builder: EmbeddingsBuilder) -> None:
        self._builder = builder

    def __call__(self, call: EmbeddingsCall) -> Outcome:
        call.upstream = self._builder.embeddings(call)
        return None


def note_embeddings_usage(record: RequestRecord, data: bytes) -> None:
    """The usage of an OpenAI-shaped answer, read from its `usage` object alone (the vectors
    before it are never decoded); the whole body is parsed only if that object is not flat."""
    at = data.rfind(b'"usage"')
    if at < 0:
        return
    m = _USAGE.match(data, at)
    if m is None:
        note_usage(record, data)
        return
    try:
        usage = orjson.loads(m.group(1))
    except orjson.JSONDecodeError:
        return
    prompt = usage.get("prompt_tokens")
    if type(prompt) is int:
        record.note_usage(prompt, None, None)


def _upstream_message(api: Api, status: int, data: bytes) -> str:
    if api is Api.GEMINI:
        err = gemini_wire.error_message(data)
        return err[1] if err is not None else f"Gemini answered {status}"
    return bedrock_wire.error_message(data) or f"Bedrock answered {status}"


def _translate(
    api: Api, data: bytes, req: EmbeddingsRequest, model_id: str, resp: UpstreamResponse
) -> tuple[bytes, int]:
    if api is Api.GEMINI:
        return from_gemini(data, req, model_id)
    counted = None
    for k, v in resp.raw_headers:
        if k.lower() == TOKEN_COUNT_HEADER and v.isdigit():
            counted = int(v)
    return from_bedrock(data, req, model_id, counted)


def _openai_error(status: int, message: str) -> bytes:
    """A provider's error, relayed with its status in OpenAI's envelope."""
    kind = openai_chat.error_type(status)
    doc = {"error": {"message": message, "type": kind, "param": None, "code": None}}
    return orjson.dumps(doc)


class RelayEmbeddings(Stage[EmbeddingsCall]):
    """The committed answer to the client: passthrough bytes, or Gemini's translated."""

    async def __call__(self, call: EmbeddingsCall) -> Outcome:
        committed = call.committed
        assert committed is not None and call.embed is not None
        resp, up = committed.resp, committed.up
        record = call.record
        record.upstream_headers = time.perf_counter_ns()
        status = record.upstream_status = resp.status
        data = await resp.read()
        record.upstream_done = time.perf_counter_ns()
        headers: RawHeaders
        api = up.resolved.cluster.row.chat_api
        if api is Api.GEMINI or api is Api.BEDROCK_CONVERSE:
            headers = [JSON_CT]
            if status >= 300:
                record.error_kind = "upstream_status"
                data = _openai_error(status, _upstream_message(api, status, data))
            else:
                data, tokens = _translate(api, data, call.embed, up.resolved.model_id, resp)
                record.note_usage(tokens, None, None)
        else:
            headers = [(n, v) for k, v in resp.raw_headers if (n := k.lower()) not in NOT_RELAYED]
            if status >= 400:
                record.error_kind = "upstream_status"
            elif status < 300:
                note_embeddings_usage(record, data)
        headers.extend(call.ours())
        headers.append(overhead_header(record, record.upstream_done))
        await send_bytes(call.send, status, headers, data)
        return None
