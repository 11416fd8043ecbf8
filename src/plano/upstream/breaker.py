"""Circuit breaker (Envoy's sense): a bound on concurrent calls to one provider.

When the provider already has ``max_requests`` calls under way, up to ``max_pending_requests``
more wait (each at most ``max_pending_wait``) for one to finish; any other call is refused at
once (503, or the next fallback serves) instead of piling up behind a slow upstream. The same
counter-and-queue as the listener's overload gate.
"""

from __future__ import annotations

from plano.config.resilience import CircuitBreakersConfig, OverloadConfig
from plano.upstream.overload import OverloadGate


class Breaker(OverloadGate):
    __slots__ = ()

    def __init__(self, cfg: CircuitBreakersConfig) -> None:
        super().__init__(
            OverloadConfig(
                max_concurrent_requests=cfg.max_requests,
                max_pending_requests=cfg.max_pending_requests,
                max_pending_wait=cfg.max_pending_wait,
            )
        )
