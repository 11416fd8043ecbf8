"""One exception tree for everything that reaches a client as an error.

Each error knows its HTTP status, a machine-readable code and a human message; the wire modules
render it in the client's own dialect (OpenAI or Anthropic envelope). Messages must never contain
secrets: build them from names and ids, never from credentials or raw header values.
"""

from __future__ import annotations

from typing import Literal


class PlanoError(Exception):
    status: int = 500
    code: str = "internal_error"
    # Error class for telemetry: client, timeout, connect, parse, stream, other.
    kind: str = "other"

    def __init__(
        self, message: str, *, param: str | None = None, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers

    def own_body(self) -> bytes | None:
        """A body of the original's own shape (filter and agent errors), sent as it is instead
        of the client dialect's error envelope; None for every other error."""
        return None


class BadRequest(PlanoError):
    status = 400
    code = "invalid_request"
    kind = "client"


class MalformedJson(BadRequest):
    code = "invalid_json"


class ModelNotFound(BadRequest):
    code = "model_not_found"


class Unauthorized(PlanoError):
    kind = "client"
    status = 401
    code = "invalid_api_key"


class Forbidden(PlanoError):
    kind = "client"
    status = 403
    code = "permission_denied"


class NotFound(PlanoError):
    kind = "client"
    status = 404
    code = "not_found"


class MethodNotAllowed(PlanoError):
    kind = "client"
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(PlanoError):
    kind = "client"
    status = 413
    code = "request_too_large"


class RateLimited(PlanoError):
    kind = "client"
    status = 429
    code = "rate_limit_exceeded"


class InternalError(PlanoError):
    status = 500
    code = "internal_error"


class NotImplementedDialect(PlanoError):
    """A request needs a translation this build does not have yet."""

    status = 501
    code = "dialect_not_supported"


class FeatureNotAvailable(PlanoError):
    """A configured feature whose serving path this build does not have yet."""

    status = 501
    code = "not_implemented"


class UpstreamUnavailable(PlanoError):
    """Could not reach the upstream (connect refused, reset before a response, DNS)."""

    status = 502
    code = "upstream_unavailable"
    kind = "connect"


class UpstreamConnectFailed(UpstreamUnavailable):
    """Could not open a connection to the upstream: refused, DNS, TLS handshake."""


class UpstreamReset(UpstreamUnavailable):
    """The connection closed or was reset before the response head arrived."""


class UpstreamBodyBroken(UpstreamUnavailable):
    """The connection closed or was reset while the body was read, or the gateway aborted it."""


class Overloaded(PlanoError):
    status = 503
    code = "overloaded"


class GatewayFull(Overloaded):
    """The listener's overload gate refused the request (`overload:`); counted apart."""

    kind = "overloaded"


TimeoutPhase = Literal["connect", "total", "read", "first_byte", "first_token"]


class UpstreamTimeout(PlanoError):
    """A limit of the exchange ran out; `phase` says which (connect, total, read, first_byte,
    first_token)."""

    status = 504
    code = "upstream_timeout"
    kind = "timeout"

    def __init__(
        self,
        message: str,
        *,
        phase: TimeoutPhase = "total",
        param: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message, param=param, headers=headers)
        self.phase: TimeoutPhase = phase


class UpstreamProtocolError(PlanoError):
    """The upstream answered with something that is not its API's shape."""

    status = 502
    code = "upstream_protocol_error"
    kind = "parse"
