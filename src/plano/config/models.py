"""The validated, migrated config: :class:`Config` and its listener and model-provider models.

All models are frozen and refuse unknown keys. Instances are produced by
:func:`plano.config.load_config`; building them by hand skips migrations and cross-checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from plano.config.access import ListenerTlsConfig, ModelPriceConfig, PricingConfig
from plano.config.fieldtypes import (
    Address,
    Duration,
    FrozenDict,
    HttpUrl,
    Port,
    StrictModel,
    StrMap,
)
from plano.config.keys import AccessConfig
from plano.config.problems import Problem
from plano.config.resilience import (
    DEFAULT_FALLBACK_ON,
    CircuitBreakersConfig,
    FallbackOn,
    HealthConfig,
    LoadBalancing,
    OutlierDetectionConfig,
    OverloadConfig,
    ProviderEndpointConfig,
    RateLimitBackendConfig,
    RetryPolicyConfig,
    TimeoutsConfig,
)
from plano.config.sections import (
    AgentConfig,
    AliasMap,
    AnyFilterConfig,
    EndpointMap,
    MetricsSourceConfig,
    ModelAliasConfig,
    OverridesConfig,
    PromptCachingConfig,
    PromptGuardsConfig,
    PromptTargetConfig,
    RateLimitConfig,
    RoutingConfig,
    RoutingPreferenceConfig,
    StateStorageConfig,
    TracingConfig,
)
from plano.config.server import ServerConfig
from plano.providers import catalogue

ListenerType = Literal["model", "prompt", "agent"]

DEFAULT_PORTS: Mapping[str, int] = {"model": 12000, "prompt": 10000}
DEFAULT_TIMEOUTS: Mapping[str, float] = {"model": 300.0, "prompt": 300.0, "agent": 30.0}
KNOWN_ROUTERS = frozenset({"plano_orchestrator_v1"})


class AgentRefConfig(StrictModel):
    """An agent offered by an agent listener (``listeners[].agents[]``)."""

    id: str
    description: str
    default: bool = False
    input_filters: tuple[str, ...] = ()


class ListenerConfig(StrictModel):
    """One listener. Port and timeout defaults depend on ``type``; agent listeners need a port."""

    name: str
    type: ListenerType
    address: Address = "0.0.0.0"
    port: Port
    timeout: Duration
    max_retries: int | None = Field(default=None, ge=0)
    timeouts: TimeoutsConfig | None = None  # per attempt (model listener; see resilience)
    overload: OverloadConfig | None = None
    router: str | None = None
    agents: tuple[AgentRefConfig, ...] = ()
    input_filters: tuple[str, ...] = ()
    output_filters: tuple[str, ...] = ()
    tls: ListenerTlsConfig | None = None  # ours: TLS termination (docs/access.md)

    @model_validator(mode="before")
    @classmethod
    def _type_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kind = data.get("type")
        out = dict(data)
        if (
            not isinstance(kind, str) or kind not in DEFAULT_TIMEOUTS
        ):  # bad or missing type: reported; no noise about the rest
            out.setdefault("port", 0)
            out.setdefault("timeout", 0)
            return out
        if "port" not in out:
            if kind == "agent":
                raise ValueError("an agent listener needs a 'port'")
            out["port"] = DEFAULT_PORTS[kind]
        out.setdefault("timeout", DEFAULT_TIMEOUTS[kind])
        return out


class ModelProviderConfig(StrictModel):
    """One ``model_providers[]`` entry, with the prefix resolved.

    ``model`` is kept as written (``openai/gpt-4o``, ``anthropic/*``); ``provider`` is the canonical
    prefix (``google/...`` -> ``gemini``); ``model_id`` is everything after the first ``/``.
    ``headers`` is a read-only mapping.
    """

    name: str
    model: str
    provider: str
    model_id: str
    wildcard: bool = False
    access_key: str | None = None
    default: bool = False
    base_url: HttpUrl | None = None
    passthrough_auth: bool = False
    http_host: str | None = None
    provider_interface: str | None = None
    headers: StrMap = Field(default_factory=FrozenDict)
    internal: bool = False
    # Resilience (not in the original's schema; see docs/configuration.md):
    retry_policy: RetryPolicyConfig | None = None
    fallbacks: tuple[str, ...] = ()
    fallback_on: tuple[FallbackOn, ...] = DEFAULT_FALLBACK_ON
    timeouts: TimeoutsConfig | None = None
    endpoints: tuple[ProviderEndpointConfig, ...] = ()
    load_balancing: LoadBalancing = "round_robin"
    outlier_detection: OutlierDetectionConfig | None = None
    circuit_breakers: CircuitBreakersConfig | None = None
    health: HealthConfig = HealthConfig()  # the provider's own circuit, on by default
    validate_stream: bool = False  # check each streamed event is JSON before relaying it
    # A stream that breaks after it started is continued on a fallback (docs/resilience.md).
    stream_continuation: bool = True
    pricing: ModelPriceConfig | None = None  # ours: this model's price (docs/access.md, Costs)

    @property
    def interface_prefix(self) -> str:
        """Catalogue row name: ``provider_interface`` for a custom prefix, else ``provider``."""
        return self.provider_interface or self.provider

    @property
    def row(self) -> catalogue.ProviderRow | None:
        """The catalogue row that serves this provider (see ``catalogue.runtime_row``)."""
        try:
            return catalogue.runtime_row(self.provider, self.provider_interface)
        except KeyError:
            return None


class Config(StrictModel):
    """A loaded ``plano_config.yaml``."""

    version: str
    listeners: tuple[ListenerConfig, ...]
    model_providers: tuple[ModelProviderConfig, ...] = ()
    model_aliases: AliasMap = Field(default_factory=FrozenDict)
    agents: tuple[AgentConfig, ...] = ()
    filters: tuple[AnyFilterConfig, ...] = ()
    endpoints: EndpointMap = Field(default_factory=FrozenDict)
    overrides: OverridesConfig = OverridesConfig()
    prompt_caching: PromptCachingConfig = PromptCachingConfig()
    system_prompt: str | None = None
    prompt_targets: tuple[PromptTargetConfig, ...] = ()
    ratelimits: tuple[RateLimitConfig, ...] = ()
    ratelimit_backend: RateLimitBackendConfig = RateLimitBackendConfig()
    server: ServerConfig = ServerConfig()  # ours: connection limits, drain times
    tracing: TracingConfig | None = None
    mode: Literal["llm", "prompt"] | None = None  # parsed, no effect
    routing: RoutingConfig = RoutingConfig()
    state_storage: StateStorageConfig | None = None
    prompt_guards: PromptGuardsConfig | None = None
    routing_preferences: tuple[RoutingPreferenceConfig, ...] = ()
    model_metrics_sources: tuple[MetricsSourceConfig, ...] = ()
    pricing: PricingConfig | None = None  # ours: prices for cost accounting (docs/access.md)
    access: AccessConfig = AccessConfig()  # ours: gateway keys (docs/access.md)
    # Set by the loader, not read from YAML:
    declared_version: str = ""
    source: str = "<string>"
    missing_env: tuple[tuple[str, str], ...] = ()
    warnings: tuple[Problem, ...] = ()

    @property
    def model_listener(self) -> ListenerConfig:
        """The one model listener (the loader adds one when the file declares none)."""
        for listener in self.listeners:
            if listener.type == "model":
                return listener
        raise LookupError("config has no model listener")

    @property
    def default_provider(self) -> ModelProviderConfig | None:
        return next((p for p in self.model_providers if p.default), None)

    @property
    def visible_providers(self) -> tuple[ModelProviderConfig, ...]:
        """Providers declared by the user (internal ones left out, as for ``/v1/models``)."""
        return tuple(p for p in self.model_providers if not p.internal)


LOADER_FIELDS = frozenset({"declared_version", "source", "missing_env", "warnings"})
YAML_KEYS = frozenset(Config.model_fields) - LOADER_FIELDS

__all__ = [
    "KNOWN_ROUTERS",
    "YAML_KEYS",
    "AgentRefConfig",
    "Config",
    "ListenerConfig",
    "ModelAliasConfig",
    "ModelProviderConfig",
]
