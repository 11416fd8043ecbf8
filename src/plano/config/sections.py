"""Config models for the top-level sections other than listeners and model providers.

Shapes follow the original JSON schema (``plano_config_schema.yaml``). Every model is frozen and
refuses unknown keys. Sections whose behaviour is implemented elsewhere are modelled strictly but
kept close to the YAML, so later layers can interpret them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    model_validator,
)

from plano.config.fieldtypes import (
    Duration,
    FrozenDict,
    HttpUrl,
    StrictModel,
    StrMap,
    freeze_mapping,
)
from plano.config.guards import GuardFilterConfig, PiiFilterConfig
from plano.config.resilience import RetryPolicyConfig

DEFAULT_ORCHESTRATOR_MODEL = "Plano-Orchestrator"
DEFAULT_TRACING_ENDPOINT = "http://localhost:4317"


class AgentConfig(StrictModel):
    """An agent backend (``agents[]``), reached by agent listeners."""

    id: str
    url: HttpUrl
    # Ours: retries for the agent call (off by default: an agent call may not be idempotent).
    retry_policy: RetryPolicyConfig | None = None


class FilterConfig(StrictModel):
    """A filter service (``filters[]``) used in filter chains."""

    id: str
    url: HttpUrl
    type: Literal["mcp", "http"] = "mcp"
    transport: Literal["streamable-http"] = "streamable-http"
    tool: str = ""  # defaults to the filter id
    # Ours: retries for `type: http` filter calls (off by default: a filter may not be idempotent).
    retry_policy: RetryPolicyConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_tool(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tool") is None and "id" in data:
            return {**data, "tool": data["id"]}
        return data


def _filter_type(data: Any) -> str:
    """The discriminator of a ``filters[]`` entry (``mcp`` when the entry names no type)."""
    value = data.get("type", "mcp") if isinstance(data, dict) else getattr(data, "type", "mcp")
    return value if value in ("guard", "pii") else "service"


AnyFilterConfig = Annotated[
    Annotated[FilterConfig, Tag("service")]
    | Annotated[GuardFilterConfig, Tag("guard")]
    | Annotated[PiiFilterConfig, Tag("pii")],
    Discriminator(_filter_type),
]


class EndpointConfig(StrictModel):
    """A named upstream for prompt targets (``endpoints.<name>``): ``host[:port]``."""

    endpoint: str
    connect_timeout: Duration | None = None
    protocol: Literal["http", "https"] = "http"
    http_host: str | None = None
    prefix_affinity: bool = False

    @model_validator(mode="after")
    def _check_endpoint(self) -> EndpointConfig:
        _ = self.host_port
        return self

    @property
    def host_port(self) -> tuple[str, int]:
        """Host and port; the port defaults to 80 for http and 443 for https."""
        host, sep, port = self.endpoint.rpartition(":")
        if not sep:
            host, port = self.endpoint, ""
        if not host or "/" in self.endpoint:
            raise ValueError(f"endpoint '{self.endpoint}' must be 'host' or 'host:port'")
        if not port:
            return host, 443 if self.protocol == "https" else 80
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"endpoint '{self.endpoint}' has an invalid port")
        return host, int(port)


class OverridesConfig(StrictModel):
    """Miscellaneous switches (``overrides``)."""

    prompt_target_intent_matching_threshold: float | None = None  # parsed, no effect
    optimize_context_window: bool = False
    use_agent_orchestrator: bool = False
    disable_signals: bool = False
    # Ours: the share of requests analysed for agentic signals (by request id, deterministic).
    signals_sample_rate: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    # Ours: the share of one core's time a worker's signal analysis may take (beyond: skipped).
    signals_cpu_budget: Annotated[float, Field(gt=0.0, le=1.0)] = 0.02
    upstream_connect_timeout: Duration = 5.0
    upstream_tls_ca_path: str = "/etc/ssl/certs/ca-certificates.crt"
    llm_routing_model: str | None = None
    agent_orchestration_model: str | None = None
    orchestrator_model_context_length: Annotated[int, Field(ge=1)] = 8192
    # Prompt targets (ours, not the original's): the model that detects intent and extracts
    # parameters (default Arch-Function), how it is asked (auto: the Arch-Function protocol for
    # an Arch-Function name, native tool calling otherwise), and whether spans carry argument
    # values (names only by default).
    function_calling_model: str | None = None
    function_calling_backend: Literal["auto", "arch_function", "tools"] = "auto"
    trace_prompt_arguments: bool = False
    # Embedding jobs (guard, embedded router, agent selection) waiting or running in one worker
    # before new ones are refused instead of queued (default: 4 x the CPU count).
    embedding_max_pending: Annotated[int, Field(ge=1, le=4096)] | None = None

    @property
    def routing_model_id(self) -> str:
        """Router model id (``provider/`` prefix dropped), default ``Plano-Orchestrator``."""
        return _bare(self.llm_routing_model or DEFAULT_ORCHESTRATOR_MODEL)

    @property
    def orchestration_model_id(self) -> str:
        return _bare(self.agent_orchestration_model or DEFAULT_ORCHESTRATOR_MODEL)


def _bare(model: str) -> str:
    return model.split("/", 1)[1] if "/" in model else model


class PromptCachingConfig(StrictModel):
    """Instance-wide prompt-cache helpers (``prompt_caching``). Off unless ``enabled``."""

    enabled: bool = False
    session_affinity: bool = True
    inject_cache_control: bool = True
    min_prefix_tokens: Annotated[int, Field(ge=1)] = 1024
    session_ttl_seconds: Annotated[int, Field(ge=1)] | None = None


Scalar = str | int | float | bool


class PromptParameterConfig(StrictModel):
    name: str
    description: str
    type: str
    required: bool = False
    default: Scalar | None = None
    enum: tuple[Scalar, ...] | None = None
    in_path: bool = False
    format: str | None = None


class PromptEndpointConfig(StrictModel):
    name: str
    path: str
    http_method: Literal["GET", "POST"] = "GET"
    http_headers: StrMap = Field(default_factory=FrozenDict)


class PromptTargetConfig(StrictModel):
    name: str
    description: str
    default: bool = False
    auto_llm_dispatch_on_response: bool = True
    parameters: tuple[PromptParameterConfig, ...] = ()
    endpoint: PromptEndpointConfig | None = None
    system_prompt: str | None = None


class RateLimitSelectorConfig(StrictModel):
    key: str
    value: str


class RateLimitLimitConfig(StrictModel):
    """``tokens`` (the original's) or ``requests`` per ``unit``; exactly one of them."""

    tokens: Annotated[int, Field(ge=1)] | None = None
    requests: Annotated[int, Field(ge=1)] | None = None
    unit: Literal["second", "minute", "hour", "day"]

    @model_validator(mode="after")
    def _one_amount(self) -> RateLimitLimitConfig:
        if (self.tokens is None) == (self.requests is None):
            raise ValueError("a limit gives either 'tokens' or 'requests' (one of them)")
        return self


class RateLimitConfig(StrictModel):
    model: str
    selector: RateLimitSelectorConfig
    limit: RateLimitLimitConfig


class SpanAttributesConfig(StrictModel):
    header_prefixes: tuple[str, ...] = ()
    static: StrMap = Field(default_factory=FrozenDict)


class PosthogExporterConfig(StrictModel):
    type: Literal["posthog"]
    url: HttpUrl
    api_key: str
    distinct_id_header: str | None = None
    capture_messages: bool = False


class TracingConfig(StrictModel):
    random_sampling: Annotated[int, Field(ge=0, le=100)] = 0
    trace_arch_internal: bool = False  # parsed, no effect
    opentracing_grpc_endpoint: str = DEFAULT_TRACING_ENDPOINT
    span_attributes: SpanAttributesConfig = SpanAttributesConfig()
    # Request span names: the original's (`POST /v1/chat/completions gpt-4o`) or the OTel GenAI
    # form (`chat gpt-4o`) for LLM calls. An extension of this implementation.
    span_names: Literal["plano", "genai"] = "plano"
    exporters: tuple[PosthogExporterConfig, ...] = ()


class SessionCacheConfig(StrictModel):
    type: Literal["memory", "redis"] = "memory"
    url: str | None = None
    tenant_header: str | None = None


class RoutingBudgetConfig(StrictModel):
    max_switch_spend_pct: Annotated[float, Field(ge=0, le=100)]
    replenish_on_rebind: bool = True
    cache_read_discount: Annotated[float, Field(ge=0, le=1)] = 0.1
    record_counterfactual: bool = False


Phrase = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class PreferenceRouterConfig(StrictModel):
    """Which backend picks the route (``routing.router``; an extension of this implementation).
    The other keys tune the embedded router (see docs/routing.md, "Embedded router")."""

    type: Literal["auto", "orchestrator", "embedded"] = "auto"
    timeout: Duration = 5.0  # orchestrator call
    # The embedded router's defaults are those of `routing/no_route.py` (a test checks).
    no_match_threshold: Annotated[float, Field(ge=-1, le=1)] = 0.2  # best route cosine floor
    no_match_margin: Annotated[float, Field(ge=-1, le=1)] = 0.1  # route vs "other" anchors
    topic_bank: bool = True  # borrow example requests from the built-in topic bank
    topic_threshold: Annotated[float, Field(ge=-1, le=1)] = 0.55  # route claims a bank topic
    topic_near_threshold: Annotated[float, Field(ge=-1, le=1)] = 0.4  # unclaimed, not "other"
    other_anchors: tuple[Phrase, ...] = ()  # texts meaning "no route fits"


class RoutingConfig(StrictModel):
    llm_provider: str | None = None  # parsed, no effect
    model: str | None = None  # parsed, no effect
    session_ttl_seconds: Annotated[int, Field(ge=1)] = 600
    session_max_entries: Annotated[int, Field(ge=1, le=10000)] = 10000
    session_cache: SessionCacheConfig = SessionCacheConfig()
    routing_budget: RoutingBudgetConfig | None = None
    route_on_user_only: bool = False
    router: PreferenceRouterConfig = PreferenceRouterConfig()


class StateStorageConfig(StrictModel):
    type: Literal["memory", "postgres"]
    connection_string: str | None = None


class OnExceptionConfig(StrictModel):
    message: str


class JailbreakGuardConfig(StrictModel):
    on_exception: OnExceptionConfig


class InputGuardsConfig(StrictModel):
    jailbreak: JailbreakGuardConfig


class PromptGuardsConfig(StrictModel):
    input_guards: InputGuardsConfig | None = None


class SelectionPolicyConfig(StrictModel):
    prefer: Literal["cheapest", "fastest", "none"]


class RoutingPreferenceConfig(StrictModel):
    name: str
    description: str
    models: Annotated[tuple[str, ...], Field(min_length=1)]
    selection_policy: SelectionPolicyConfig | None = None
    # Ours: example requests of this route, extra vectors for the embedded router.
    examples: tuple[Phrase, ...] = ()


class CostMetricsSourceConfig(StrictModel):
    type: Literal["cost"]
    provider: Literal["digitalocean", "models.dev"]
    url: HttpUrl | None = None
    refresh_interval: Annotated[int, Field(ge=1)] | None = None
    model_aliases: StrMap = Field(default_factory=FrozenDict)


class LatencyMetricsSourceConfig(StrictModel):
    type: Literal["latency"]
    provider: Literal["prometheus"]
    url: HttpUrl
    query: str
    refresh_interval: Annotated[int, Field(ge=1)] | None = None


MetricsSourceConfig = Annotated[
    CostMetricsSourceConfig | LatencyMetricsSourceConfig, Field(discriminator="type")
]


class ModelAliasConfig(StrictModel):
    target: str
    fallbacks: tuple[str, ...] = ()  # models (or aliases of models) tried in order on failure


def _freeze_aliases(value: Mapping[str, ModelAliasConfig]) -> Mapping[str, ModelAliasConfig]:
    return freeze_mapping(value)


AliasMap = Annotated[Mapping[str, ModelAliasConfig], AfterValidator(_freeze_aliases)]
EndpointMap = Annotated[Mapping[str, EndpointConfig], AfterValidator(freeze_mapping)]
