"""Resilience built once, at load: per-provider attempt policies, alias fallbacks, the overload
gate and the rate limiter. A provider with nothing configured gets no policy, so its requests take
the exchange engine's direct path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Final, Protocol

from plano.config import Config, ListenerConfig, ModelProviderConfig
from plano.config.resilience import DEFAULT_FALLBACK_ON, TimeoutsConfig
from plano.errors import PlanoError
from plano.providers.endpoints import origin
from plano.upstream.balancer import Balancer
from plano.upstream.breaker import Breaker
from plano.upstream.clusters import Cluster, Resolved
from plano.upstream.health import Circuit, build_circuit
from plano.upstream.outlier import OutlierState
from plano.upstream.overload import OverloadGate
from plano.upstream.ratelimit import RateLimiter, RateLimitEvents, build_ratelimiter
from plano.upstream.retry import NO_RETRIES, RetryPolicy
from plano.upstream.stream_guard import StreamGuard


class ResilienceEvents(Protocol):
    """What the exchange engine reports (the Prometheus sink implements it)."""

    def retry(self, provider: str, model: str) -> None: ...
    def ejection(self, provider: str, model: str) -> None: ...
    def failover(self, provider: str, model: str) -> None: ...
    def breaker_rejected(self, provider: str, model: str) -> None: ...
    def first_token_timeout(self, provider: str, model: str) -> None: ...
    def health_skipped(self, provider: str, model: str) -> None: ...
    def circuit(self, provider: str, state: str) -> None: ...
    def reset(self, provider: str, model: str) -> None: ...


@dataclass(slots=True)
class ClusterPolicy:
    """Resilience for one provider, built once."""

    retry: RetryPolicy
    endpoints: tuple[Cluster, ...]  # the provider's endpoint variants; index 0 is the cluster
    balancer: Balancer | None
    outlier: OutlierState | None
    breaker: Breaker | None
    connect: float | None
    first_byte: float | None
    total: float | None
    guard: StreamGuard | None
    fallbacks: tuple[Resolved, ...] = ()
    fallback_on: frozenset[str] = frozenset()
    continuation: bool = True  # `stream_continuation`: a broken stream goes on on a fallback
    first_token: float | None = None  # streamed answers: until the first content event
    health: Circuit | None = None  # the provider's own circuit
    # The first attempt needs none of the loop's machinery: it is sent like a direct call.
    inline_first: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        self.inline_first = (
            self.balancer is None
            and self.breaker is None
            and self.first_byte is None
            and self.total is None
            and self.first_token is None
        )


# The policy of a model without one of its own (an alias's fallback list applies to it).
NO_POLICY: Final = ClusterPolicy(
    NO_RETRIES, (), None, None, None, None, None, None, None, (), frozenset(DEFAULT_FALLBACK_ON)
)


@dataclass(frozen=True, slots=True)
class Resilience:
    policies: Mapping[str, ClusterPolicy]
    alias_fallbacks: Mapping[str, tuple[Resolved, ...]]
    gate: OverloadGate | None
    limiter: RateLimiter | None
    events: ResilienceEvents | None


def build_resilience(
    config: Config,
    listener: ListenerConfig,
    clusters: tuple[Cluster, ...],
    resolve: Callable[[str], Resolved],
    events: ResilienceEvents | None = None,
    ratelimit_events: RateLimitEvents | None = None,
) -> Resilience:
    by_name = {c.name: c for c in clusters}
    aliases = {
        name: tuple(resolve(f) for f in spec.fallbacks)
        for name, spec in config.model_aliases.items()
        if spec.fallbacks
    }
    skippable = _skippable(config, resolve)
    on_change = events.circuit if events is not None else None
    policies: dict[str, ClusterPolicy] = {}
    for p in config.model_providers:
        cluster = by_name.get(p.name)
        if cluster is None:
            continue
        health = p.health.enabled and p.name in skippable
        if health or _configured(p, listener):
            policy = _policy(config, listener, p, cluster, resolve)
            if health:
                policy.health = build_circuit(p.name, p.health, on_change)
            policies[p.name] = policy
    gate = OverloadGate(listener.overload) if listener.overload is not None else None
    limiter = build_ratelimiter(config, ratelimit_events)
    return Resilience(policies, aliases, gate, limiter, events)


def _skippable(config: Config, resolve: Callable[[str], Resolved]) -> set[str]:
    """The providers a request may skip for a fallback: every candidate but the last of some
    list (a provider with `fallbacks`, an alias with `fallbacks`, and those lists but their
    last)."""
    out = {p.name for p in config.model_providers if p.fallbacks}
    chains = [p.fallbacks for p in config.model_providers]
    chains.extend((a.target, *a.fallbacks) for a in config.model_aliases.values())
    for chain in chains:
        for name in chain[:-1]:
            try:
                out.add(resolve(name).cluster.name)
            except PlanoError:  # not a model this listener serves: nothing to skip
                continue
    return out


def _configured(p: ModelProviderConfig, listener: ListenerConfig) -> bool:
    return bool(
        listener.max_retries
        or listener.timeouts is not None
        or p.retry_policy is not None
        or p.fallbacks
        or p.timeouts is not None
        or p.endpoints
        or p.circuit_breakers is not None
        or p.validate_stream
        or not p.stream_continuation  # the opt-out holds for an alias's fallbacks too
    )


def _policy(
    config: Config,
    listener: ListenerConfig,
    p: ModelProviderConfig,
    cluster: Cluster,
    resolve: Callable[[str], Resolved],
) -> ClusterPolicy:
    endpoints = _endpoints(p, cluster)
    outlier = None
    if p.outlier_detection is not None and len(endpoints) > 1:
        outlier = OutlierState(len(endpoints), p.outlier_detection)
    balancer = None
    if len(endpoints) > 1 or p.endpoints:
        balancer = Balancer([w for _, w in endpoints], p.load_balancing, outlier)
    t = _timeouts(listener.timeouts, p.timeouts)
    return ClusterPolicy(
        retry=RetryPolicy.of(p.retry_policy, listener.max_retries),
        endpoints=tuple(c for c, _ in endpoints),
        balancer=balancer,
        outlier=outlier,
        breaker=Breaker(p.circuit_breakers) if p.circuit_breakers is not None else None,
        connect=t.connect if t.connect is not None else config.overrides.upstream_connect_timeout,
        first_byte=t.first_byte,
        total=t.total,
        first_token=t.first_token,
        guard=StreamGuard(t.idle, p.validate_stream) if t.idle or p.validate_stream else None,
        fallbacks=tuple(resolve(name) for name in p.fallbacks),
        fallback_on=frozenset(p.fallback_on),
        continuation=p.stream_continuation,
    )


def _endpoints(p: ModelProviderConfig, cluster: Cluster) -> list[tuple[Cluster, int]]:
    """The provider's endpoint variants: the cluster itself, or one copy per `endpoints` entry
    (its own origin and key, fresh URL and auth caches)."""
    if not p.endpoints:
        return [(cluster, 1)]
    out = []
    for ep in p.endpoints:
        base = ep.base_url or p.base_url
        variant = replace(
            cluster,
            origin=origin(cluster.row, base),
            access_key=ep.access_key or cluster.access_key,
            own_base_url=base is not None,
            _urls={},
            _auth={},
        )
        out.append((variant, ep.weight))
    return out


def _timeouts(listener: TimeoutsConfig | None, provider: TimeoutsConfig | None) -> TimeoutsConfig:
    """Provider values win field by field over the listener's."""
    if listener is None:
        return provider or TimeoutsConfig()
    if provider is None:
        return listener
    merged = {k: v for k, v in listener.model_dump().items()}
    merged.update({k: v for k, v in provider.model_dump().items() if v is not None})
    return TimeoutsConfig(**merged)
