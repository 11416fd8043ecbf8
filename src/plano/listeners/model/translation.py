"""The request side of a translated exchange: the client speaks one API, the provider another.

The request is decoded with the client's codec into the IR (`prepare`), continued from stored
conversation state when a Responses client names a `previous_response_id`
(`continue_conversation`), and rebuilt with the upstream's codec (`encode`, once per attempt
target). A retry on another endpoint or a fallback model reuses the decoded request
(`translation_for`). The response side is `translated`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final

import orjson

from plano import ir
from plano.errors import BadRequest, NotImplementedDialect
from plano.providers.bedrock_auth import BedrockSigner
from plano.routing.prompt_caching import has_markers, inject
from plano.state.conversations import (
    ConversationNotFound,
    ConversationStore,
    ConversationStoreUnavailable,
)
from plano.state.deadline import StateStoreTimeout
from plano.translate import ClientCodec, UpstreamCodec, client_codec, upstream_codec
from plano.translate.openai_responses import input_messages
from plano.wire.api import Api, json_bytes

API_NAMES: Final = {
    Api.OPENAI_CHAT: "OpenAI Chat Completions",
    Api.ANTHROPIC_MESSAGES: "Anthropic Messages",
    Api.OPENAI_RESPONSES: "OpenAI Responses",
    Api.GEMINI: "Gemini generateContent",
    Api.BEDROCK_CONVERSE: "Bedrock Converse",
}
COUNT_PATH: Final = "/v1/messages/count_tokens"
# What reading a JSON document of an unexpected shape raises; never a server error.
SHAPE_ERRORS: Final = (KeyError, TypeError, AttributeError, ValueError, IndexError)


@dataclass(slots=True)
class Translation:
    """A request decoded for translation; `history` is what conversation state keeps of it."""

    client_api: Api
    upstream_api: Api
    client: ClientCodec
    upstream: UpstreamCodec
    request: ir.Request
    history: list[ir.Message] = field(default_factory=list)
    count_only: bool = False  # Anthropic count_tokens, answered by the gateway itself
    inject_cache: bool = False  # add the upstream's prompt-cache markers (prompt_caching)
    stream_only: bool = False  # the upstream answers only streamed requests


def prepare(
    client_api: Api, upstream_api: Api, doc: dict[str, Any], *, count_only: bool = False
) -> Translation:
    """Decode a client request for translation; BadRequest in the client's terms."""
    if count_only:
        doc.setdefault("max_tokens", 1)  # count_tokens requests carry none
    tr = _prepare(client_api, upstream_api, doc)
    tr.count_only = count_only
    return tr


def _prepare(client_api: Api, upstream_api: Api, doc: dict[str, Any]) -> Translation:
    client, upstream = client_codec(client_api), upstream_codec(upstream_api)
    if client is None or upstream is None:
        raise NotImplementedDialect(
            f"translation from {API_NAMES[client_api]} to {API_NAMES[upstream_api]} "
            "is not available in this build"
        )
    try:
        request = client.parse_request(doc)
    except SHAPE_ERRORS as exc:  # a field of the wrong JSON type somewhere
        raise BadRequest(
            f"request body does not match the {API_NAMES[client_api]} API ({type(exc).__name__})"
        ) from None
    history = request.messages
    if client_api is Api.OPENAI_RESPONSES and isinstance(doc.get("instructions"), str):
        history = request.messages[1:]  # instructions are per request, never carried over
    return Translation(client_api, upstream_api, client, upstream, request, list(history))


def translation_for(
    prior: Translation | None,
    client_api: Api,
    upstream_api: Api,
    doc: dict[str, Any],
    count_only: bool,
    stream_only: bool,
    *,
    fallback: bool = False,
) -> Translation:
    """The translation of a request for one attempt target. A retry on another endpoint or a
    fallback model reuses the request already decoded (its conversation included) and only
    swaps the upstream codec; the first target decodes the client's document."""
    if prior is None:
        tr = prepare(client_api, upstream_api, doc, count_only=count_only)
        if fallback and tr.request.previous_response_id is not None:
            # The conversation lives with the untranslated primary's provider, not in our store.
            raise BadRequest(
                "previous_response_id cannot be continued on a fallback model of another API",
                param="previous_response_id",
            )
        tr.stream_only = stream_only
        return tr
    if upstream_api is prior.upstream_api and stream_only is prior.stream_only:
        return prior
    codec = upstream_codec(upstream_api)
    if codec is None:
        raise NotImplementedDialect(
            f"translation from {API_NAMES[client_api]} to {API_NAMES[upstream_api]} "
            "is not available in this build"
        )
    return replace(prior, upstream_api=upstream_api, upstream=codec, stream_only=stream_only)


def encode(
    tr: Translation,
    model_id: str,
    provider: str,
    url: str,
    headers: list[tuple[str, str]],
    signer: BedrockSigner | None,
) -> tuple[bytes, list[tuple[str, str]]]:
    """The upstream body (built by the upstream codec from the IR) and its headers, signed when
    the provider signs requests. Done once per attempt target, before the exchange engine sends."""
    client_stream = tr.request.stream
    tr.request.stream = client_stream or tr.stream_only
    try:
        built = tr.upstream.build_request(tr.request, model_id)
    finally:
        tr.request.stream = client_stream
    if tr.inject_cache and not has_markers(built):
        inject(built, tr.upstream_api, provider, model_id)
    body = json_bytes(built)
    if signer is not None:
        headers = [*headers, *signer.headers(url, dict(headers), body)]
    return body, headers


def estimate_tokens(request: ir.Request) -> int:
    """An estimate of a request's input tokens for providers without a counting endpoint:
    about four bytes of UTF-8 text (and tool schema JSON) a token, plus a few per message."""
    size = 0
    for m in request.messages:
        size += 12
        for p in m.content:
            if isinstance(p, ir.Text | ir.Refusal | ir.Thinking):
                size += len(p.text.encode())
            elif isinstance(p, ir.ToolCall):
                size += len(p.name) + len(p.arguments.encode())
            elif isinstance(p, ir.ToolResult):
                size += sum(len(c.text.encode()) for c in p.content if isinstance(c, ir.Text))
            elif isinstance(p, ir.Image):
                size += 6000  # ~1500 tokens, a mid-size image
    for t in request.tools:
        size += len(t.name) + len(t.description or "") + len(orjson.dumps(t.parameters))
    return max(1, (size + 3) // 4)


async def continue_conversation(
    store: ConversationStore | None, tr: Translation, within: float | None = None
) -> None:
    """Prepend the stored conversation named by `previous_response_id` (if any): 400 without a
    store, 503 when the store fails, 504 when it does not answer within `within` seconds (the
    request's time left) or its own cap, 409 (the original's status) for an unknown id."""
    prev = tr.request.previous_response_id
    if prev is None:
        return
    if store is None:
        raise BadRequest(
            "previous_response_id needs conversation state on this gateway "
            "(state_storage is not configured)",
            param="previous_response_id",
        )
    try:
        items = await store.load(prev, within=within)
    except StateStoreTimeout:
        raise
    except Exception as exc:  # the store's driver errors: the store is unreachable
        raise ConversationStoreUnavailable(
            f"conversation state store unavailable ({type(exc).__name__})"
        ) from None
    if items is None:
        raise ConversationNotFound(
            f"Conversation state not found for previous_response_id: {prev}",
            param="previous_response_id",
        )
    earlier = input_messages(items)
    tr.history = earlier + tr.history
    tr.request.messages = earlier + tr.request.messages
