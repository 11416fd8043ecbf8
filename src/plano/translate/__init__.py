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


class StreamDecoder(Protocol):
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
