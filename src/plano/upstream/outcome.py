"""What one upstream attempt leaves: a failure to retry or relay (`Failed`), what it holds until
its answer is relayed (`Held`), and the checks that judge an answer (`check_whole`,
`fails_over`). Used by the attempt loop (`attempts.Attempts`) and by the model listener, which
makes the usual first attempt itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

import aiohttp

from plano.errors import PlanoError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from plano.upstream.retry import Outcome

if TYPE_CHECKING:
    from plano.upstream.attempts import Upstream

Response = Any  # the upstream client's response (lean HTTP/1.1 or aiohttp), body unread
# A response to relay, the request that got it, and what to release when it is done.
Committed = tuple[Response, "Upstream", "Held"]

_CONTEXT_WINDOW: Final = (
    b"context_length_exceeded",
    b"maximum context length",
    b"context window",
    b"prompt is too long",
    b"too many tokens",
)
_CONTENT_POLICY: Final = (b"content_policy", b"content_filter", b"content management policy")


class Failed:
    """A failed attempt: an error, or an error response kept until it is known whether it is
    relayed (nothing left to try) or discarded (a retry or the next model follows)."""

    __slots__ = ("body", "error", "outcome", "resp", "retry_after", "stack", "status", "up")

    def __init__(
        self,
        error: PlanoError | None,
        outcome: Outcome,
        status: int = 0,
        *,
        stack: Held | None = None,
        resp: Response | None = None,
        up: Upstream | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        self.error = error or UpstreamProtocolError(f"upstream answered {status}")
        self.outcome = outcome
        self.status = status
        self.stack = stack
        self.resp = resp
        self.up = up
        self.body = body
        self.retry_after = retry_after

    @classmethod
    def of(cls, exc: BaseException) -> Failed:
        if isinstance(exc, TimeoutError):
            return cls(UpstreamTimeout("upstream did not answer in time"), Outcome.TIMEOUT)
        if isinstance(exc, UpstreamTimeout):
            return cls(exc, Outcome.TIMEOUT)
        if isinstance(exc, UpstreamProtocolError):
            return cls(exc, Outcome.RESET)
        if not isinstance(exc, PlanoError):  # the body broke off while it was read
            return cls(UpstreamUnavailable(f"upstream failed: {type(exc).__name__}"), Outcome.RESET)
        # Both client implementations word a failure to connect this way.
        connect = isinstance(exc.__cause__, aiohttp.ClientConnectorError) or str(exc).startswith(
            "could not connect"
        )
        return cls(exc, Outcome.CONNECT if connect else Outcome.RESET)

    def response_or_error(self) -> Committed | PlanoError:
        """Relay the upstream's own error response when there is one; else the error."""
        if self.resp is not None and self.stack is not None and self.up is not None:
            return self.resp, self.up, self.stack
        return self.error

    async def discard(self) -> None:
        if self.stack is not None:
            await self.stack.aclose()


def looks_whole(body: bytes) -> bool:
    """A JSON document that is not cut short: it opens and closes as an object or array (cheap;
    the client's parser sees the rest)."""
    if body[:1] == b"{" and body[-1:] == b"}":  # the usual compact object, without copies
        return True
    end = body.rstrip()[-1:]
    return body.lstrip()[:1] in (b"{", b"[") and end in (b"}", b"]")


class Held:
    """What an attempt holds until its answer is relayed: the upstream exchange (an async
    context manager, entered) and callbacks (breaker slot, load count). Lighter than an
    AsyncExitStack; exceptions go to the exchange so the client translates them."""

    __slots__ = ("_after", "_cm")

    def __init__(self) -> None:
        self._cm: Any = None
        self._after: list[tuple[Callable[..., None], tuple[Any, ...]]] | None = None

    def callback(self, fn: Callable[..., None], *args: Any) -> None:
        if self._after is None:
            self._after = []
        self._after.append((fn, args))

    async def __aenter__(self) -> Held:
        return self

    async def __aexit__(self, et: Any, ev: Any, tb: Any) -> bool:
        cm, self._cm = self._cm, None
        try:
            if cm is not None:
                return bool(await cm.__aexit__(et, ev, tb))
            return False
        finally:
            after, self._after = self._after, None
            for fn, args in after or ():
                fn(*args)

    async def aclose(self) -> None:
        await self.__aexit__(None, None, None)


def check_whole(status: int, body: bytes, up: Upstream) -> None:
    """A success answer read whole must look whole (else the attempt failed: cut or malformed)."""
    if status < 300 and not looks_whole(body):
        raise UpstreamProtocolError(
            f"upstream {up.resolved.cluster.name} sent a cut or malformed body"
        )


class RetryFirst(Exception):
    """Raised by the listener inside the first attempt's exchange when `Attempts.judge_first`
    found the answer wanting: the exchange is released, then `Attempts.resume` continues."""

    def __init__(self, failed: Failed) -> None:
        super().__init__()
        self.failed = failed


def fails_over(on: frozenset[str], outcome: Outcome, status: int, body: bytes) -> bool:
    """Whether a model's final failure may go to the next model, by `fallback_on`."""
    if outcome is not Outcome.STATUS or status >= 500:
        return "unavailable" in on
    if status == 429:
        return "rate_limited" in on
    if status in (400, 413):
        low = body.lower()
        if "context_window" in on and any(m in low for m in _CONTEXT_WINDOW):
            return True
        return "content_policy" in on and any(m in low for m in _CONTENT_POLICY)
    return False
