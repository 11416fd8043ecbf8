"""Config models for resilience: retries, failover, load balancing, outlier detection, circuit
breakers, timeouts, overload limits and the rate-limit backend.

None of these keys exist in the original's schema (Envoy did this work there, configured by the
CLI); they are written in its style: snake_case, Envoy's words, durations as ``"30s"``/``"500ms"``.
Everything is optional and off unless written, so an original config runs unchanged.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from plano.config.fieldtypes import Duration, HttpUrl, StrictModel

RetryOn = Literal["connect-failure", "reset", "timeout", "5xx", "retriable-status-codes"]
DEFAULT_RETRY_ON: tuple[RetryOn, ...] = (
    "connect-failure",
    "reset",
    "timeout",
    "5xx",
    "retriable-status-codes",
)
FallbackOn = Literal["context_window", "content_policy", "rate_limited", "unavailable"]
DEFAULT_FALLBACK_ON: tuple[FallbackOn, ...] = ("context_window", "rate_limited", "unavailable")


class RetryPolicyConfig(StrictModel):
    """``model_providers[].retry_policy``: retries on the same model (Envoy's retry policy)."""

    num_retries: Annotated[int, Field(ge=0, le=10)] = 1
    retry_on: tuple[RetryOn, ...] = DEFAULT_RETRY_ON
    retriable_status_codes: tuple[Annotated[int, Field(ge=400, le=599)], ...] = (
        429,
        500,
        502,
        503,
        504,
    )
    base_interval: Duration = 0.5
    max_interval: Duration = 5.0
    # A Retry-After longer than this is not waited for on this model (the next fallback serves).
    max_retry_after: Duration = 10.0
    # A stall (no response head within `first_byte`, no first token within `first_token`) goes
    # to the next fallback at once instead of being retried on the same silent provider; with
    # no fallback left it is retried as `retry_on: timeout` says.
    failover_on_stall: bool = True

    @model_validator(mode="after")
    def _intervals(self) -> RetryPolicyConfig:
        if self.max_interval < self.base_interval:
            raise ValueError("max_interval must not be shorter than base_interval")
        return self


class TimeoutsConfig(StrictModel):
    """Per-attempt limits (``timeouts`` on a provider or the model listener); unset = no limit
    beyond the listener's ``timeout`` (the whole request's deadline)."""

    connect: Duration | None = None
    first_byte: Duration | None = None  # until the response head (and, unstreamed, the body)
    first_token: Duration | None = None  # streamed: from the send until the first content event
    idle: Duration | None = None  # between two chunks of a stream
    total: Duration | None = None  # one attempt, head to last byte


class ProviderEndpointConfig(StrictModel):
    """One of several endpoints serving the same model (``model_providers[].endpoints[]``)."""

    base_url: HttpUrl | None = None  # default: the provider's base_url
    access_key: str | None = None  # default: the provider's access_key
    weight: Annotated[int, Field(ge=1, le=1000)] = 1


class OutlierDetectionConfig(StrictModel):
    """Eject an endpoint after consecutive failures (5xx, connect errors, timeouts)."""

    consecutive_failures: Annotated[int, Field(ge=1)] = 5
    base_ejection_time: Duration = 30.0
    max_ejection_time: Duration = 300.0
    max_ejection_percent: Annotated[int, Field(ge=0, le=100)] = 50


class HealthConfig(StrictModel):
    """``model_providers[].health``: the provider's own circuit (on by default). After
    ``consecutive_failures`` failed attempts in a row (5xx, connect errors, resets, timeouts) the
    circuit opens: for ``open_for`` every request with a fallback left skips the provider. Then up
    to ``half_open_probes`` requests at a time probe it: a success closes the circuit, a failure
    opens it again. Shared by the workers of one gateway run (docs/resilience.md)."""

    enabled: bool = True
    consecutive_failures: Annotated[int, Field(ge=1)] = 3
    open_for: Duration = 10.0
    half_open_probes: Annotated[int, Field(ge=1)] = 1


class CircuitBreakersConfig(StrictModel):
    """Per-provider bound on concurrent upstream calls; a full breaker answers 503 at once."""

    max_requests: Annotated[int, Field(ge=1)] = 1024
    max_pending_requests: Annotated[int, Field(ge=0)] = 0
    max_pending_wait: Duration = 1.0


LoadBalancing = Literal["round_robin", "least_request", "random", "ring_hash"]


class OverloadConfig(StrictModel):
    """Model listener ``overload``: concurrent requests served and waiting; beyond both, 503."""

    max_concurrent_requests: Annotated[int, Field(ge=1)]
    max_pending_requests: Annotated[int, Field(ge=0)] = 0
    max_pending_wait: Duration = 5.0


class RateLimitBackendConfig(StrictModel):
    """``ratelimit_backend``: where token buckets live. ``memory`` is per process."""

    type: Literal["memory", "redis"] = "memory"
    url: str = "redis://127.0.0.1:6379/0"
    key_prefix: str = "plano:ratelimit:"
    on_backend_error: Literal["allow", "deny"] = "allow"
    timeout: Duration = 0.25


__all__ = [
    "DEFAULT_FALLBACK_ON",
    "DEFAULT_RETRY_ON",
    "CircuitBreakersConfig",
    "FallbackOn",
    "HealthConfig",
    "LoadBalancing",
    "OutlierDetectionConfig",
    "OverloadConfig",
    "ProviderEndpointConfig",
    "RateLimitBackendConfig",
    "RetryPolicyConfig",
    "TimeoutsConfig",
]
