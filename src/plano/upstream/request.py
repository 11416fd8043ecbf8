"""An upstream request as the listener built it, what an attempt holds (`Held`), and the answer
the exchange commits to relay (`Committed`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from plano.providers.catalogue import Api
from plano.upstream.clusters import Resolved
from plano.upstream.transport import UpstreamResponse

if TYPE_CHECKING:
    from plano.observability.record import RequestRecord
    from plano.upstream.stream_guard import StreamGuard


@dataclass(frozen=True, slots=True)
class Upstream:
    """Everything decided about one request before it leaves (one per attempt target)."""

    url: str
    headers: list[tuple[str, str]]
    body: bytes
    resolved: Resolved
    request_id: bytes
    route_headers: tuple[tuple[bytes, bytes], ...] = ()
    # A `listeners.model.translated.Translation` when client and upstream APIs differ: `body`
    # is then already encoded for the upstream API, so every target's body is sent alike.
    translation: Any = None
    # What a retry on another endpoint or model needs to rebuild the request:
    headers_in: Any = None  # the client's request headers (the ASGI list)
    doc: dict[str, Any] | None = None
    api: Api = Api.OPENAI_CHAT
    counting: bool = False  # Anthropic count_tokens
    stream: bool = False  # the client asked for a stream


class Rebuild(Protocol):
    """The listener's request builder, for another endpoint or fallback model."""

    def __call__(self, up: Upstream, resolved: Resolved, record: RequestRecord) -> Upstream: ...


class Held:
    """What an attempt holds until its answer is relayed or discarded: the response and
    callbacks (breaker slot, load count). `release()` gives all of it back, once."""

    __slots__ = ("_after", "resp")

    def __init__(self) -> None:
        self.resp: UpstreamResponse | None = None
        self._after: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None

    def callback(self, fn: Callable[..., None], *args: Any) -> None:
        if self._after is None:
            self._after = []
        self._after.append((fn, args))

    def release(self) -> None:
        resp, self.resp = self.resp, None
        try:
            if resp is not None:
                resp.release()
        finally:
            after, self._after = self._after, None
            for fn, args in after or ():
                fn(*args)


class Committed:
    """The upstream answer to relay: the response, the request that got it, the stream guard of
    its provider, and what else it holds (breaker slot, load count) until the relay is done."""

    __slots__ = ("guard", "held", "resp", "up")

    def __init__(
        self,
        resp: UpstreamResponse,
        up: Upstream,
        guard: StreamGuard | None = None,
        held: Held | None = None,
    ) -> None:
        self.resp = resp
        self.up = up
        self.guard = guard
        self.held = held

    def release(self) -> None:
        held = self.held
        if held is not None:
            self.held = None
            held.release()  # releases the response too
        else:
            self.resp.release()
