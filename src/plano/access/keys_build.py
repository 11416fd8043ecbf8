"""Building gateway-key access from the config (`access.keys`), once per worker."""

from __future__ import annotations

from plano.access.budget import BudgetEvents, Budgets, Pricing
from plano.access.cost import CostMeter
from plano.access.keys import KeyHeaders
from plano.access.keys_access import KeyAccess, KeyEvents
from plano.access.keys_cache import KeyCache
from plano.config import Config
from plano.config.access import resolve
from plano.config.keys import KeysConfig
from plano.observability.key_metrics import KeyMetrics
from plano.observability.metrics import PrometheusMetrics
from plano.state.keys import KeyStore
from plano.state.keys_file import FileKeyStore
from plano.state.keys_memory import MemoryKeyStore
from plano.state.keys_postgres import PostgresKeyStore
from plano.state.ratelimit_memory import MemoryRateLimitStore, RateLimitStore
from plano.state.ratelimit_redis import RedisRateLimitStore


def build_key_store(cfg: KeysConfig, source: str = "<string>") -> KeyStore:
    """The configured store (a relative file path is relative to the config file)."""
    if cfg.store == "postgres":
        assert cfg.dsn is not None
        return PostgresKeyStore(cfg.dsn, call_timeout=cfg.call_timeout)
    if cfg.store == "file":
        assert cfg.path is not None
        return FileKeyStore(resolve(source, cfg.path))
    return MemoryKeyStore()


def _limits(config: Config) -> RateLimitStore:
    """Key rate limits share the `ratelimits` engine's backend (`ratelimit_backend`)."""
    backend = config.ratelimit_backend
    if backend.type == "redis":
        return RedisRateLimitStore(backend.url, prefix=backend.key_prefix, timeout=backend.timeout)
    return MemoryRateLimitStore()


def build_key_access(
    config: Config,
    prices: Pricing | None,
    events: KeyEvents | None = None,
    alerts: BudgetEvents | None = None,
    store: KeyStore | None = None,
) -> KeyAccess | None:
    """The worker's key access, or None when `access.keys.enabled` is off."""
    cfg = config.access.keys
    if not cfg.enabled:
        return None
    store = store if store is not None else build_key_store(cfg, config.source)
    return KeyAccess(
        KeyCache(store, cfg.cache_ttl),
        KeyHeaders(cfg.header),
        Budgets(store, prices, cfg.default_max_tokens, alerts),
        _limits(config),
        events,
    )


def build_keys(
    config: Config, costs: CostMeter | None, metrics: object, store: KeyStore | None = None
) -> KeyAccess | None:
    """The worker's key access with its telemetry, its budgets settled by the cost meter."""
    if not config.access.keys.enabled:
        return None
    events = KeyMetrics(metrics) if isinstance(metrics, PrometheusMetrics) else None
    prices = costs.table if costs is not None else None
    access = build_key_access(config, prices, events, events, store)
    if access is not None and costs is not None:
        access.settle_by(costs.subscribe)
    return access
