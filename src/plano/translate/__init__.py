"""Translators between each wire API and the IR hub (`plano.ir`): pure, sync, no I/O.

One module per API (`openai_chat`, `anthropic_messages`, `openai_responses`, `gemini`,
`bedrock_converse`), each exposing a `CLIENT` (the API as clients speak it to us) and/or an
`UPSTREAM` (the API as we speak it to a provider) object satisfying the protocols below.
`client_codec(api)` and `upstream_codec(api)` look them up.

Streams are translated incrementally: an upstream `StreamDecoder` turns raw response bytes (SSE or
AWS event-stream frames, split anywhere) into IR events; a client `StreamEncoder` turns IR events
into the client's wire bytes, emitting its full event lifecycle. Both hold per-stream state and
do O(chunk) work per call.
"""

from __future__ import annotations

from typing import Any, Protocol

from plano import ir
from plano.wire.api import Api


class StreamDecoder(Protocol):
    # Set by a consumer that takes `ir.TextRun`: a run of framed text deltas read at once
    # (the chat, Messages and Responses decoders; the others never emit runs).
    runs: bool

    def feed(self, chunk: bytes) -> list[ir.Event]:
        """Events completed by this chunk of upstream bytes (possibly none)."""
        ...

    def close(self) -> list[ir.Event]:
        """End of the upstream body: the closing events still owed, or a StreamError if the
        stream was cut short (no terminal event seen)."""
        ...


class StreamEncoder(Protocol):
    def encode(self, events: list[ir.Event]) -> bytes:
        """The client's wire bytes for these events (possibly empty)."""
        ...


class ClientCodec(Protocol):
    """An API as a client speaks it to the gateway."""

    def parse_request(self, doc: dict[str, Any]) -> ir.Request:
        """Raise `plano.errors.BadRequest` (with `param`) for what the API would reject."""
        ...

    def encode_response(self, response: ir.Response) -> bytes: ...

    def stream_encoder(self, request: ir.Request) -> StreamEncoder: ...


class UpstreamCodec(Protocol):
    """An API as the gateway speaks it to a provider."""

    def build_request(self, request: ir.Request, model_id: str) -> dict[str, Any]: ...

    def parse_response(self, doc: dict[str, Any]) -> ir.Response:
        """Raise `plano.errors.UpstreamProtocolError` for a body that is not this API's shape."""
        ...

    def stream_decoder(self) -> StreamDecoder: ...


# --- the registry ------------------------------------------------------------------------------
# Keyed by `plano.wire.api.Api`. Translator modules register themselves lazily on first lookup
# (they import this module for the protocols); other APIs (Gemini, Bedrock) add their upstream
# codecs with `register_upstream` from their own module, listed in `_UPSTREAM_MODULES`.

_CLIENTS: dict[Api, ClientCodec] = {}
_UPSTREAMS: dict[Api, UpstreamCodec] = {}
_CLIENT_MODULES: dict[Api, str] = {
    Api.OPENAI_CHAT: "plano.translate.openai_chat",
    Api.ANTHROPIC_MESSAGES: "plano.translate.anthropic_messages",
    Api.OPENAI_RESPONSES: "plano.translate.openai_responses",
}
_UPSTREAM_MODULES: dict[Api, str] = {
    **_CLIENT_MODULES,
    Api.GEMINI: "plano.translate.gemini",
    Api.BEDROCK_CONVERSE: "plano.translate.bedrock_converse",
}


def register_upstream(api: Api, codec: UpstreamCodec) -> None:
    _UPSTREAMS[api] = codec


def _load(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise


def client_codec(api: Api) -> ClientCodec | None:
    codec = _CLIENTS.get(api)
    if codec is None and api in _CLIENT_MODULES:
        mod = _load(_CLIENT_MODULES[api])
        codec = getattr(mod, "CLIENT", None)
        if codec is not None:
            _CLIENTS[api] = codec
    return codec


def upstream_codec(api: Api) -> UpstreamCodec | None:
    """The codec that speaks `api` to a provider, or None if this build has none."""
    codec = _UPSTREAMS.get(api)
    if codec is None and api in _UPSTREAM_MODULES:
        mod = _load(_UPSTREAM_MODULES[api])
        codec = getattr(mod, "UPSTREAM", None)
        if codec is not None:
            _UPSTREAMS[api] = codec
    return codec


def error_message(body: bytes) -> str | None:
    """The human message of an upstream error body, whatever its dialect.

    OpenAI, Anthropic and Gemini all nest it at `error.message`; Bedrock puts it at `message`.
    """
    import orjson

    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or None
    if not isinstance(doc, dict):
        return None
    err = doc.get("error")
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])
    if isinstance(err, str):
        return err
    msg = doc.get("message") or doc.get("Message")
    return msg if isinstance(msg, str) else None
