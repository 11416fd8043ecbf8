"""The configuration layer: ``plano_config.yaml`` -> a frozen, validated, migrated :class:`Config`.

Builds nothing: later layers read the config and build their own runtime objects from it.
See ``docs/configuration.md`` for every key, default and rule.
"""

from __future__ import annotations

from plano.config.fieldtypes import parse_duration
from plano.config.loader import load_config, load_config_text
from plano.config.models import (
    AgentRefConfig,
    Config,
    ListenerConfig,
    ModelProviderConfig,
)
from plano.config.problems import ConfigError, Problem, format_report
from plano.config.sections import (
    AgentConfig,
    CostMetricsSourceConfig,
    EndpointConfig,
    FilterConfig,
    LatencyMetricsSourceConfig,
    ModelAliasConfig,
    OverridesConfig,
    PosthogExporterConfig,
    PromptCachingConfig,
    PromptEndpointConfig,
    PromptGuardsConfig,
    PromptParameterConfig,
    PromptTargetConfig,
    RateLimitConfig,
    RoutingBudgetConfig,
    RoutingConfig,
    RoutingPreferenceConfig,
    SelectionPolicyConfig,
    SessionCacheConfig,
    StateStorageConfig,
    TracingConfig,
)
from plano.config.zero_config import (
    ZERO_CONFIG_ADDRESS,
    render_zero_config_yaml,
    synthesize_zero_config,
)

__all__ = [
    "ZERO_CONFIG_ADDRESS",
    "AgentConfig",
    "AgentRefConfig",
    "Config",
    "ConfigError",
    "CostMetricsSourceConfig",
    "EndpointConfig",
    "FilterConfig",
    "LatencyMetricsSourceConfig",
    "ListenerConfig",
    "ModelAliasConfig",
    "ModelProviderConfig",
    "OverridesConfig",
    "PosthogExporterConfig",
    "Problem",
    "PromptCachingConfig",
    "PromptEndpointConfig",
    "PromptGuardsConfig",
    "PromptParameterConfig",
    "PromptTargetConfig",
    "RateLimitConfig",
    "RoutingBudgetConfig",
    "RoutingConfig",
    "RoutingPreferenceConfig",
    "SelectionPolicyConfig",
    "SessionCacheConfig",
    "StateStorageConfig",
    "TracingConfig",
    "format_report",
    "load_config",
    "load_config_text",
    "parse_duration",
    "render_zero_config_yaml",
    "synthesize_zero_config",
]
