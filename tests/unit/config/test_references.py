"""Cross-reference rules between sections, and value rules of the smaller sections."""

from __future__ import annotations

import pytest

from tests.unit.config.cases import BASE, assert_problem, errors, find, load, one_error


def test_filter_ids_must_exist() -> None:
    found = errors(
        """
        version: v0.4.0
        agents: [{id: a1, url: "http://localhost:9000"}]
        filters: [{id: f1, url: "http://localhost:9001", type: http}]
        listeners:
          - {name: m, type: model, input_filters: [f1, nope], output_filters: [a1, gone]}
          - name: ag
            type: agent
            port: 8001
            agents:
              - {id: a1, description: d, input_filters: [f1, missing]}
        """
    )
    assert [(p.path, p.line) for p in found] == [
        ("listeners[0].input_filters[1]", 5),
        ("listeners[0].output_filters[1]", 5),
        ("listeners[1].agents[0].input_filters[1]", 10),
    ]
    assert found[0].message == (
        "listener 'm' references input_filters id 'nope', which is not defined in agents or"
        " filters (available: a1, f1)"
    )
    assert "agent 'a1' on listener 'ag' references input_filters id 'missing'" in found[2].message


def test_listener_agents_missing_from_agents_warn() -> None:
    cfg = load(
        """
        version: v0.4.0
        agents: [{id: a1, url: "http://localhost:9000"}]
        listeners:
          - {name: ag, type: agent, port: 8001, agents: [{id: a2, description: d}]}
        """
    )
    (warning,) = cfg.warnings
    assert_problem(warning, "listeners[0].agents[0].id", 4, "agent 'a2' is not defined")


def test_ids_are_unique_across_agents_and_filters() -> None:
    found = errors(
        """
        version: v0.4.0
        listeners: []
        agents:
          - {id: x, url: "http://localhost:9000"}
        filters:
          - {id: x, url: "http://localhost:9001"}
          - {id: y, url: "http://localhost:9002"}
          - {id: y, url: "http://localhost:9003"}
        """
    )
    assert [(p.path, p.line) for p in found] == [("filters[0].id", 6), ("filters[2].id", 8)]
    assert "already used by another agent/filter" in found[0].message


def test_filter_defaults_and_url_rules() -> None:
    cfg = load(
        BASE
        + "filters: [{id: guard, url: 'http://g:1'},"
        + " {id: h, url: 'https://h', type: http, tool: t}]\n"
    )
    got = [(f.id, f.type, f.transport, f.tool) for f in cfg.filters]
    assert got == [
        ("guard", "mcp", "streamable-http", "guard"),
        ("h", "http", "streamable-http", "t"),
    ]
    problem = one_error(BASE + "agents: [{id: a, url: 'localhost:9000'}]\n")
    assert_problem(problem, "agents[0].url", 9, "must start with http:// or https://")


def test_prompt_target_endpoints_must_be_declared() -> None:
    found = errors(
        BASE
        + """\
endpoints:
  api: {endpoint: "localhost:18083", connect_timeout: 0.005s}
agents: [{id: agent_x, url: "http://localhost:9"}]
prompt_targets:
  - {name: a, description: d, endpoint: {name: api, path: /a}}
  - {name: b, description: d, endpoint: {name: agent_x, path: /b}}
  - {name: c, description: d, endpoint: {name: nowhere, path: /c}}
  - {name: c, description: d, default: true}
  - {name: e, description: d, default: true}
"""
    )
    assert [(p.path, p.line) for p in found] == [
        ("prompt_targets[2].endpoint.name", 15),
        ("prompt_targets[3].name", 16),
        ("prompt_targets[4].default", 17),
    ]
    assert (
        found[0].message
        == "unknown endpoint 'nowhere'; declare it under endpoints (declared: agent_x, api)"
    )


def test_prompt_target_defaults() -> None:
    cfg = load(
        BASE
        + "prompt_targets:\n"
        + "  - {name: t, description: d, parameters: [{name: p, description: d, type: int}]}\n"
    )
    target = cfg.prompt_targets[0]
    assert (target.auto_llm_dispatch_on_response, target.default, target.endpoint) == (
        True,
        False,
        None,
    )
    parameter = target.parameters[0]
    assert (parameter.required, parameter.in_path, parameter.default, parameter.enum) == (
        False,
        False,
        None,
        None,
    )


def test_endpoint_rules() -> None:
    cfg = load(
        BASE
        + "endpoints:\n  a: {endpoint: api.example.com, protocol: https}\n  b: {endpoint: 'h:81'}\n"
    )
    assert (cfg.endpoints["a"].host_port, cfg.endpoints["b"].host_port) == (
        ("api.example.com", 443),
        ("h", 81),
    )
    found = errors(
        BASE
        + "endpoints:\n  1bad: {endpoint: 'h'}\n  c: {endpoint: 'h:99999'}\n  d: {endpoint: 'http://h/x'}\n"
    )
    assert [(p.path, p.line) for p in found] == [
        ("endpoints.1bad", 10),
        ("endpoints.c", 11),
        ("endpoints.d", 12),
    ]


def test_use_agent_orchestrator_needs_one_endpoint() -> None:
    problem = one_error(BASE + "overrides: {use_agent_orchestrator: true}\n")
    assert_problem(
        problem, "overrides.use_agent_orchestrator", 9, "exactly one entry under endpoints"
    )
    cfg = load(
        BASE + "overrides: {use_agent_orchestrator: true}\nendpoints: {orch: {endpoint: 'o:1'}}\n"
    )
    assert cfg.overrides.use_agent_orchestrator


def test_alias_targets() -> None:
    found = errors(
        BASE
        + """\
  - {model: anthropic/*}
model_aliases:
  fast: {target: gpt-4o}
  full: {target: openai/gpt-4o}
  wild: {target: anthropic/claude-x}
  chained: {target: fast}
  arch.missing.v1: {target: gpt-5}
"""
    )
    assert [(p.path, p.line) for p in found] == [
        ("model_aliases.chained.target", 14),
        ('model_aliases["arch.missing.v1"].target', 15),
    ]
    assert "which is another alias" in found[0].message
    assert (
        "'gpt-5', which is not a declared model (declared: anthropic/*, gpt-4o, openai/gpt-4o)"
        in found[1].message
    )


def test_routing_preferences_rules() -> None:
    found = errors(
        BASE
        + """\
routing_preferences:
  - {name: code, description: d, models: [openai/gpt-4o, gpt-4o]}
  - {name: code, description: d, models: [openai/gpt-5]}
  - {name: cheap, description: d, models: [gpt-4o], selection_policy: {prefer: cheapest}}
  - {name: fast, description: d, models: [gpt-4o], selection_policy: {prefer: fastest}}
  - {name: empty, description: d, models: []}
"""
    )
    assert [(p.path, p.line) for p in found] == [
        ("routing_preferences[1].name", 11),
        ("routing_preferences[1].models[0]", 11),
        ("routing_preferences[2].selection_policy.prefer", 12),
        ("routing_preferences[3].selection_policy.prefer", 13),
        ("routing_preferences[4].models", 14),
    ]
    assert "needs a model_metrics_sources entry of type cost" in found[2].message
    assert "needs a model_metrics_sources entry of type latency" in found[3].message


def test_metrics_sources() -> None:
    cfg = load(
        BASE
        + """\
model_metrics_sources:
  - {type: cost, provider: models.dev, refresh_interval: 60, model_aliases: {a/b: openai/gpt-4o}}
  - {type: latency, provider: prometheus, url: "http://prom:9090", query: q}
routing_preferences:
  - {name: c, description: d, models: [gpt-4o], selection_policy: {prefer: cheapest}}
  - {name: f, description: d, models: [gpt-4o], selection_policy: {prefer: fastest}}
"""
    )
    cost, latency = cfg.model_metrics_sources
    assert cost.type == "cost" and dict(cost.model_aliases) == {"a/b": "openai/gpt-4o"}
    assert latency.type == "latency" and latency.query == "q"
    found = errors(
        BASE
        + """\
model_metrics_sources:
  - {type: cost, provider: digitalocean}
  - {type: cost, provider: models.dev}
  - {type: latency, provider: prometheus, url: "http://p"}
"""
    )
    assert [(p.path, p.line) for p in found] == [
        ("model_metrics_sources[1].type", 11),
        ("model_metrics_sources[2].query", 12),
    ]


def test_state_storage() -> None:
    assert_problem(
        one_error(BASE + "state_storage: {type: postgres}\n"),
        "state_storage.connection_string",
        9,
        "connection_string is required when state_storage.type is postgres",
    )
    assert_problem(
        one_error(BASE + "state_storage: {type: sqlite}\n"), "state_storage.type", 9, "got 'sqlite'"
    )
    cfg = load(BASE + "state_storage: {type: memory}\n")
    assert cfg.state_storage is not None and cfg.state_storage.type == "memory"


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("grpc://collector:4317", "http:// or https://"),
        ("http://collector:4317/v1/traces", "must not have a path"),
        ("collector:4317", "http:// or https://"),
    ],
)
def test_tracing_endpoint(endpoint: str, fragment: str) -> None:
    problem = one_error(BASE + f"tracing: {{opentracing_grpc_endpoint: '{endpoint}'}}\n")
    assert_problem(problem, "tracing.opentracing_grpc_endpoint", 9, fragment)


def test_tracing_ok() -> None:
    cfg = load(
        BASE + "tracing: {random_sampling: 10, opentracing_grpc_endpoint: 'https://otel:4317/'}\n"
    )
    assert cfg.tracing is not None and cfg.tracing.random_sampling == 10


@pytest.mark.parametrize(
    ("section", "path"),
    [
        ("routing: {session_max_entries: 10001}", "routing.session_max_entries"),
        ("routing: {session_max_entries: 0}", "routing.session_max_entries"),
        ("routing: {session_ttl_seconds: 0}", "routing.session_ttl_seconds"),
        ("prompt_caching: {min_prefix_tokens: 0}", "prompt_caching.min_prefix_tokens"),
        ("prompt_caching: {session_ttl_seconds: 0}", "prompt_caching.session_ttl_seconds"),
        (
            "routing: {routing_budget: {max_switch_spend_pct: 101}}",
            "routing.routing_budget.max_switch_spend_pct",
        ),
        (
            "routing: {routing_budget: {max_switch_spend_pct: -1}}",
            "routing.routing_budget.max_switch_spend_pct",
        ),
        (
            "routing: {routing_budget: {max_switch_spend_pct: 5, cache_read_discount: 1.5}}",
            "routing.routing_budget.cache_read_discount",
        ),
        ("routing: {routing_budget: {}}", "routing.routing_budget.max_switch_spend_pct"),
        (
            "ratelimits: [{model: gpt-4o, selector: {key: x, value: y},"
            " limit: {tokens: 5, unit: week}}]",
            "ratelimits[0].limit.unit",
        ),
        ("mode: chat", "mode"),
        (
            "prompt_guards: {input_guards: {jailbreak: {}}}",
            "prompt_guards.input_guards.jailbreak.on_exception",
        ),
    ],
)
def test_value_limits(section: str, path: str) -> None:
    found = errors(BASE + section + "\n")
    assert find(found, path).line == 9


def test_routing_budget_needs_a_cost_source() -> None:
    problem = one_error(BASE + "routing: {routing_budget: {max_switch_spend_pct: 20}}\n")
    assert_problem(problem, "routing.routing_budget", 9, "type cost")
    cfg = load(
        BASE
        + "routing: {routing_budget: {max_switch_spend_pct: 20}}\n"
        + "model_metrics_sources: [{type: cost, provider: models.dev}]\n"
    )
    assert cfg.routing.routing_budget is not None
    budget = cfg.routing.routing_budget
    assert (
        budget.replenish_on_rebind,
        budget.cache_read_discount,
        budget.record_counterfactual,
    ) == (True, 0.1, False)


def test_redis_session_cache_needs_a_url() -> None:
    problem = one_error(BASE + "routing: {session_cache: {type: redis}}\n")
    assert_problem(problem, "routing.session_cache.url", 9, "redis://")
    cfg = load(
        BASE
        + "routing: {session_cache: {type: redis, url: 'rediss://r:6380', tenant_header: x-org}}\n"
    )
    assert cfg.routing.session_cache.url == "rediss://r:6380"


def test_section_defaults() -> None:
    cfg = load(BASE)
    assert (cfg.prompt_caching.enabled, cfg.prompt_caching.min_prefix_tokens) == (False, 1024)
    assert (cfg.routing.session_ttl_seconds, cfg.routing.session_max_entries) == (600, 10000)
    assert cfg.routing.session_cache.type == "memory"
    assert cfg.overrides.upstream_connect_timeout == 5.0
    assert cfg.overrides.routing_model_id == "Plano-Orchestrator"
    assert cfg.overrides.orchestrator_model_context_length == 8192
    assert (cfg.tracing, cfg.state_storage, cfg.prompt_guards, cfg.mode) == (None, None, None, None)


def test_many_problems_are_reported_together() -> None:
    found = errors(
        """
        version: v9
        listeners:
          - {name: m, type: model, port: 70000}
          - {name: ag, type: agent, port: 8001, agents: [{id: a, description: d}],
             input_filters: [nope]}
        model_providers:
          - {model: ollama/llama3}
          - {model: gpt-4o}
        model_aliases: {x: {target: nothing}}
        state_storage: {type: postgres}
        tracing: {opentracing_grpc_endpoint: 'ftp://x'}
        extra_key: 1
        """
    )
    assert [p.path for p in found] == [
        "version",
        "listeners[0].port",
        "listeners[1].input_filters[0]",
        "model_providers[0].base_url",
        "model_providers[1].model",
        "model_aliases.x.target",
        "state_storage.connection_string",
        "tracing.opentracing_grpc_endpoint",
        "extra_key",
    ]
    assert [p.line for p in found] == [1, 3, 5, 7, 8, 9, 10, 11, 12]
