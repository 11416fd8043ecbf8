"""Circuit breaker (Envoy's sense): a bound on concurrent calls to one provider.

When the provider already has ``max_requests`` calls under way, a new call is refused at once with
503 (or goes to the next fallback) instead of piling up behind a slow upstream.
"""

from __future__ import annotations

from plano.config.resilience import CircuitBreakersConfig


class Breaker:
    __slots__ = ("active", "limit")

    def __init__(self, cfg: CircuitBreakersConfig) -> None:
        self.limit = cfg.max_requests
        self.active = 0

    def admit(self) -> bool:
        if self.active >= self.limit:
            return False
        self.active += 1
        return True

    def release(self) -> None:
        self.active -= 1
