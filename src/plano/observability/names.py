"""Every telemetry name in one place: span names, span attributes, metric names, label names.

The names follow the original Plano (reference §9.1, §9.2) so dashboards and trace queries
written for it keep working; names the original does not have use the `plano_` prefix.
"""

from __future__ import annotations

from typing import Final

SERVICE_NAME: Final = "plano"
SERVICE_LLM: Final = "plano(llm)"
SERVICE_ROUTING: Final = "plano(routing)"
SERVICE_ORCHESTRATOR: Final = "plano(orchestrator)"
SERVICE_FILTER: Final = "plano(filter)"
SERVICE_AGENT: Final = "plano(agent)"
SERVICE_INBOUND: Final = "plano(inbound)"

# Child-span names of agent listeners and filter chains (reference §5, §9.1); `{}` = an id.
SPAN_ROUTING: Final = "routing"  # the routing step (the router model's call is its child)
SPAN_HTTP_FILTER: Final = "execute_raw_filter ({})"
SPAN_MCP_FILTER: Final = "execute_mcp_filter_raw ({})"
SPAN_GUARD_FILTER: Final = "guard ({})"  # a built-in guard filter (runs in the gateway)
SPAN_AGENT: Final = "{} {}"  # agent id, API path: `flight_agent /v1/chat/completions`
# The agent-selection span is named after the agent listener (as the original renames it).

# Span attributes (reference §9.1).
ATTR_SERVICE_OVERRIDE: Final = "service.name.override"
ATTR_REQUEST_ID: Final = "request_id"
ATTR_HTTP_METHOD: Final = "http.method"
ATTR_HTTP_PATH: Final = "http.path"
ATTR_HTTP_STATUS: Final = "http.status_code"
ATTR_LLM_MODEL: Final = "llm.model"
ATTR_LLM_PROVIDER: Final = "llm.provider"
ATTR_LLM_STREAM: Final = "llm.is_streaming"
ATTR_LLM_DURATION_MS: Final = "llm.duration_ms"
ATTR_LLM_TTFT: Final = "llm.time_to_first_token"
ATTR_LLM_RESPONSE_BYTES: Final = "llm.response_bytes"
ATTR_USAGE_PROMPT: Final = "llm.usage.prompt_tokens"
ATTR_USAGE_COMPLETION: Final = "llm.usage.completion_tokens"
ATTR_USAGE_TOTAL: Final = "llm.usage.total_tokens"
ATTR_USAGE_CACHED: Final = "llm.usage.cached_input_tokens"
ATTR_USAGE_CACHE_CREATION: Final = "llm.usage.cache_creation_tokens"
# Cost (the original's names; set when the model has a price): input counts cache reads/writes.
ATTR_USAGE_INPUT_COST: Final = "llm.usage.input_cost_usd"
ATTR_USAGE_OUTPUT_COST: Final = "llm.usage.output_cost_usd"
ATTR_USAGE_TOTAL_COST: Final = "llm.usage.total_cost_usd"
# OpenTelemetry GenAI semantic conventions, beside the original's llm.usage.*.
ATTR_GEN_AI_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
ATTR_GEN_AI_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
ATTR_GEN_AI_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"
ATTR_GEN_AI_CACHE_CREATION: Final = "gen_ai.usage.cache_creation.input_tokens"
ATTR_GEN_AI_OPERATION: Final = "gen_ai.operation.name"
ATTR_GEN_AI_PROVIDER: Final = "gen_ai.provider.name"
ATTR_GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
ATTR_GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
ATTR_GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
ATTR_GEN_AI_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
ATTR_GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
ATTR_GEN_AI_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
ATTR_GEN_AI_TEMPERATURE: Final = "gen_ai.request.temperature"
ATTR_GEN_AI_TOP_P: Final = "gen_ai.request.top_p"
# `gen_ai.operation.name` values.
GEN_AI_CHAT: Final = "chat"
GEN_AI_TEXT_COMPLETION: Final = "text_completion"
GEN_AI_EMBEDDINGS: Final = "embeddings"
GEN_AI_GENERATE_CONTENT: Final = "generate_content"
ATTR_MODEL_REQUESTED: Final = "model.requested"
ATTR_ROUTE_SELECTED_MODEL: Final = "route.selected_model"
ATTR_ROUTING_DETERMINATION_MS: Final = "routing.determination_ms"
ATTR_ROUTE_NAME: Final = "plano.route.name"
ATTR_ROUTING_DECISION: Final = "plano.routing.decision"
ATTR_SESSION_ID: Final = "plano.session_id"
ATTR_OVERHEAD_MS: Final = "plano.overhead_ms"
ATTR_ERROR_KIND: Final = "plano.error.kind"
ATTR_STREAM_CONTINUED: Final = "plano.stream.continued"
ATTR_UPSTREAM_ATTEMPTS: Final = "plano.upstream.attempts"
ATTR_LISTENER: Final = "plano.listener"
ATTR_UPSTREAM_STATUS: Final = "plano.upstream.status_code"
ATTR_SELECTION_LISTENER: Final = "selection.listener"
ATTR_SELECTION_AGENT_COUNT: Final = "selection.agent_count"
ATTR_SELECTION_AGENTS: Final = "selection.agents"
ATTR_SELECTION_MS: Final = "selection.determination_ms"
ATTR_SELECTION_BACKEND: Final = "plano.selection.backend"
ATTR_AGENT_ID: Final = "plano.agent.id"
ATTR_FILTER_ID: Final = "plano.filter.id"
ATTR_PII_PREFIX: Final = "plano.pii."  # + entity: occurrences a PII filter found (no values)
# The guard filter's verdict on the request (the last guard of the chain that inspected it).
ATTR_GUARD_VERDICT: Final = "plano.guard.verdict"
ATTR_GUARD_SCORE: Final = "plano.guard.score"
ATTR_GUARD_RULE: Final = "plano.guard.rule"
ATTR_GUARD_SOURCE: Final = "plano.guard.source"
ATTR_GUARD_FILTER: Final = "plano.guard.filter"
# Span event marking the first token handed to the client (streams), like the original's.
EVENT_TTFT: Final = "llm.time_to_first_token"
# W3C trace context headers, received from clients and sent to every upstream.
HEADER_TRACEPARENT: Final = "traceparent"
HEADER_TRACESTATE: Final = "tracestate"

# Response header carrying the gateway's own added time.
HEADER_OVERHEAD: Final = "x-plano-overhead-ms"

# Metrics (reference §9.2). The original's families keep their names and labels; this gateway adds
# a `listener` label to the HTTP families (it serves every listener in one process).
METRIC_HTTP_REQUESTS: Final = "brightstaff_http_requests_total"
METRIC_HTTP_DURATION: Final = "brightstaff_http_request_duration_seconds"
METRIC_HTTP_IN_FLIGHT: Final = "brightstaff_http_in_flight_requests"
METRIC_UPSTREAM_REQUESTS: Final = "brightstaff_llm_upstream_requests_total"
METRIC_UPSTREAM_DURATION: Final = "brightstaff_llm_upstream_duration_seconds"
METRIC_TTFT: Final = "brightstaff_llm_time_to_first_token_seconds"
METRIC_TOKENS: Final = "brightstaff_llm_tokens_total"
METRIC_USAGE_MISSING: Final = "brightstaff_llm_tokens_usage_missing_total"
METRIC_COST: Final = "plano_cost_usd_total"  # ours: USD by provider, model, gateway key, team
METRIC_TPOT: Final = "plano_time_per_output_token_seconds"
METRIC_OVERHEAD: Final = "plano_overhead_seconds"
METRIC_ADDED_TTFC: Final = "plano_added_ttfc_seconds"
METRIC_ACTIVE_STREAMS: Final = "plano_active_streams"
METRIC_ERRORS: Final = "plano_request_errors_total"
METRIC_RETRIES: Final = "plano_upstream_retries_total"
METRIC_EJECTIONS: Final = "plano_upstream_ejections_total"
METRIC_RATELIMITED: Final = "plano_ratelimited_requests_total"
METRIC_GUARD_VERDICTS: Final = "plano_guard_verdicts_total"
METRIC_FAILOVERS: Final = "plano_upstream_failovers_total"
METRIC_BREAKER_REJECTIONS: Final = "plano_upstream_breaker_rejections_total"
METRIC_FIRST_TOKEN_TIMEOUTS: Final = "plano_upstream_first_token_timeouts_total"
METRIC_HEALTH_SKIPS: Final = "plano_upstream_health_skips_total"
METRIC_CIRCUIT_STATE: Final = "plano_upstream_circuit_state"
METRIC_CIRCUIT_CHANGES: Final = "plano_upstream_circuit_changes_total"
METRIC_RESETS: Final = "plano_upstream_resets_total"
METRIC_RATELIMIT_BACKEND_ERRORS: Final = "plano_ratelimit_backend_errors_total"
METRIC_BUILD_INFO: Final = "plano_build_info"
METRIC_ROUTING_DECISIONS: Final = "plano_routing_decisions_total"
METRIC_SESSION_CACHE_ERRORS: Final = "plano_session_cache_errors_total"
METRIC_POSTHOG_EVENTS: Final = "plano_posthog_events_total"
METRIC_PII_ENTITIES: Final = "plano_pii_entities_total"
METRIC_PROMPT_CACHE: Final = "brightstaff_prompt_cache_requests_total"
METRIC_ROUTER_DECISIONS: Final = "brightstaff_router_decisions_total"
METRIC_ROUTER_DURATION: Final = "brightstaff_router_decision_duration_seconds"
METRIC_ROUTER_SKIPS: Final = "brightstaff_router_skips_total"
METRIC_ROUTING_SERVICE: Final = "brightstaff_routing_service_requests_total"
METRIC_SESSION_CACHE_EVENTS: Final = "brightstaff_session_cache_events_total"
METRIC_SESSION_BINDING_EVENTS: Final = "brightstaff_session_binding_events_total"
METRIC_SESSION_SWITCHES: Final = "brightstaff_session_switch_decisions_total"

LABEL_LISTENER: Final = "listener"
LABEL_HANDLER: Final = "handler"
LABEL_METHOD: Final = "method"
LABEL_STATUS_CLASS: Final = "status_class"
LABEL_ERROR_CLASS: Final = "error_class"
LABEL_PROVIDER: Final = "provider"
LABEL_MODEL: Final = "model"
LABEL_KIND: Final = "kind"
LABEL_VERSION: Final = "version"
LABEL_REASON: Final = "reason"
LABEL_STATE: Final = "state"
LABEL_BACKEND: Final = "backend"
LABEL_DECISION: Final = "decision"
LABEL_OUTCOME: Final = "outcome"
LABEL_ROUTE: Final = "route"
LABEL_SELECTED_MODEL: Final = "selected_model"
LABEL_FALLBACK: Final = "fallback"
LABEL_EVENT: Final = "event"
LABEL_KEY: Final = "key"
LABEL_TEAM: Final = "team"
LABEL_FILTER: Final = "filter"
LABEL_ENTITY: Final = "entity"
LABEL_ACTION: Final = "action"
LABEL_VERDICT: Final = "verdict"
LABEL_SOURCE: Final = "source"

# Values of `brightstaff_session_binding_events_total{event}`.
BINDING_REFRESH: Final = "refresh"

# Values of `brightstaff_llm_tokens_total{kind}`.
TOKENS_PROMPT: Final = "prompt"
TOKENS_COMPLETION: Final = "completion"
TOKENS_CACHE_READ: Final = "cache_read"

# Routing budget (the original's span attributes on the request span).
ATTR_CACHE_WARM: Final = "plano.cache.warm"
ATTR_CACHE_IDLE_MS: Final = "plano.cache.idle_ms"
ATTR_SESSION_OVERHEAD_PCT: Final = "plano.session.overhead_pct"
ATTR_SESSION_SWITCH_SPEND: Final = "plano.session.switch_spend_in_usd"
ATTR_SESSION_BASELINE: Final = "plano.session.baseline_in_usd"
ATTR_SESSION_SWITCHES: Final = "plano.session.switches"
ATTR_SWITCH_COST: Final = "plano.switch.cost_in_usd"
ATTR_SWITCH_CEILING: Final = "plano.switch.overhead_ceiling_in_usd"
ATTR_SWITCH_DECISION: Final = "plano.switch.decision"
ATTR_SWITCH_COUNTERFACTUAL: Final = "plano.switch.counterfactual_route"

# Prompt listener (prompt targets / function calling).
SERVICE_PROMPT: Final = "plano(prompt)"
SPAN_INTENT: Final = "function_calling"  # the function-calling model's call (intent detection)
SPAN_PROMPT_ENDPOINT: Final = "prompt_target {}"  # the target's endpoint call, by target name
SPAN_PROMPT_LLM: Final = "prompt_llm"  # the final LLM call with the API result as context
ATTR_PROMPT_TARGET: Final = "plano.prompt_target.name"
ATTR_PROMPT_PARAMETERS: Final = "plano.prompt_target.parameters"  # names, comma-separated
ATTR_PROMPT_ARGUMENTS: Final = "plano.prompt_target.arguments"  # JSON, only when configured
ATTR_PROMPT_OUTCOME: Final = "plano.prompt_target.outcome"
ATTR_PROMPT_BACKEND: Final = "plano.function_calling.backend"
ATTR_PROMPT_MODEL: Final = "plano.function_calling.model"
METRIC_PROMPT_TARGET_CALLS: Final = "plano_prompt_target_calls_total"
LABEL_TARGET: Final = "target"
# Agentic signals (reference §9.3) on the request span: the report's summary, per category
# `signals.<layer>.<category>.count|.severity` (only categories that fired), one event per signal
# instance named `signal.<layer>.<category>.<leaf>`, and the flag appended to a concerning
# request span's name.
ATTR_SIGNALS_QUALITY: Final = "signals.quality"
ATTR_SIGNALS_QUALITY_SCORE: Final = "signals.quality_score"
ATTR_SIGNALS_TURN_COUNT: Final = "signals.turn_count"
ATTR_SIGNALS_EFFICIENCY: Final = "signals.efficiency_score"
ATTR_SIGNALS_CATEGORY: Final = "signals.{}.{}.{}"  # layer, category, count|severity
EVENT_SIGNAL: Final = "signal.{}"  # the signal's type, `layer.category.leaf`
ATTR_SIGNAL_TYPE: Final = "signal.type"
ATTR_SIGNAL_MESSAGE_INDEX: Final = "signal.message_index"
ATTR_SIGNAL_CONFIDENCE: Final = "signal.confidence"
ATTR_SIGNAL_SNIPPET: Final = "signal.snippet"
ATTR_SIGNAL_METADATA: Final = "signal.metadata"
SIGNALS_FLAG: Final = " \U0001f6a9"  # appended to a flagged request span's name
METRIC_SIGNALS: Final = "plano_signals_total"
METRIC_SIGNALS_CONVERSATIONS: Final = "plano_signals_conversations_total"
METRIC_SIGNALS_SKIPPED: Final = "plano_signals_skipped_total"
LABEL_LAYER: Final = "layer"
LABEL_CATEGORY: Final = "category"
LABEL_QUALITY: Final = "quality"
LABEL_AGENT: Final = "agent"
# PostHog `$ai_generation` properties of an analysed request.
POSTHOG_SIGNALS_QUALITY: Final = "$ai_signals_quality"
POSTHOG_SIGNALS_SCORE: Final = "$ai_signals_quality_score"
POSTHOG_SIGNALS_FLAGGED: Final = "$ai_signals_flagged"
POSTHOG_SIGNALS_CATEGORIES: Final = "$ai_signals_categories"
POSTHOG_SIGNALS_TYPES: Final = "$ai_signals_types"
# Gateway keys (`access.keys`).
METRIC_KEY_REQUESTS: Final = "plano_key_requests_total"
METRIC_KEY_BUDGET_ALERTS: Final = "plano_key_budget_alerts_total"
ATTR_KEY_NAME: Final = "plano.key.name"
ATTR_KEY_TEAM: Final = "plano.key.team"
ATTR_KEY_BUDGET_ALERT: Final = "plano.key.budget_alert"
