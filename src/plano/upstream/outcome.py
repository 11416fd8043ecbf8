"""What one upstream attempt leaves: a failure to retry or relay (`Failed`), and the checks that
judge an answer (`check_whole`, `fails_over`). Used by the exchange engine (`upstream.exchange`)."""

from __future__ import annotations

from typing import Final

from plano.errors import (
    PlanoError,
    UpstreamConnectFailed,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from plano.upstream.request import Committed, Held, Upstream
from plano.upstream.retry import Outcome
from plano.upstream.stream_guard import StreamGuard

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

    __slots__ = ("body", "error", "held", "outcome", "retry_after", "stalled", "status", "up")

    def __init__(
        self,
        error: PlanoError | None,
        outcome: Outcome,
        status: int = 0,
        *,
        held: Held | None = None,
        up: Upstream | None = None,
        body: bytes = b"",
        retry_after: float | None = None,
    ) -> None:
        self.error = error or UpstreamProtocolError(f"upstream answered {status}")
        self.outcome = outcome
        self.status = status
        self.held = held
        self.up = up
        self.body = body
        self.retry_after = retry_after
        self.stalled = False  # no head within first_byte / no first token within first_token

    @classmethod
    def of(cls, exc: PlanoError | TimeoutError, *, headless: bool = False) -> Failed:
        """The attempt failed with `exc` (the transport's errors, mapped at its boundary);
        `headless`: no response head had arrived."""
        if isinstance(exc, TimeoutError):  # the first-byte limit ran out
            failed = cls(
                UpstreamTimeout("upstream did not answer in time", phase="first_byte"),
                Outcome.TIMEOUT,
            )
            failed.stalled = headless
            return failed
        if isinstance(exc, UpstreamTimeout):
            return cls(exc, Outcome.TIMEOUT)
        if isinstance(exc, UpstreamConnectFailed):  # the request never reached the upstream
            return cls(exc, Outcome.CONNECT)
        return cls(exc, Outcome.RESET)

    def committed(self, guard: StreamGuard | None) -> Committed | PlanoError:
        """Relay the upstream's own error response when there is one; else the error."""
        held = self.held
        if held is not None and held.resp is not None and self.up is not None:
            return Committed(held.resp, self.up, guard, held)
        return self.error

    def discard(self) -> None:
        if self.held is not None:
            self.held.release()


def looks_whole(body: bytes) -> bool:
    """A JSON document that is not cut short: it opens and closes as an object or array (cheap;
    the client's parser sees the rest)."""
    if body[:1] == b"{" and body[-1:] == b"}":  # the usual compact object, without copies
        return True
    end = body.rstrip()[-1:]
    return body.lstrip()[:1] in (b"{", b"[") and end in (b"}", b"]")


def check_whole(status: int, body: bytes, up: Upstream) -> None:
    """A success answer read whole must look whole (else the attempt failed: cut or malformed)."""
    if status < 300 and not looks_whole(body):
        raise UpstreamProtocolError(
            f"upstream {up.resolved.cluster.name} sent a cut or malformed body"
        )


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
