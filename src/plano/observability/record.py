"""What one request did, filled in by handlers as it happens (timestamps are perf_counter_ns).

A record is a plain mutable object with slots: setting a field costs a store, nothing else. All
telemetry work (metrics, spans, access log) happens once, in `Telemetry.finish`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from plano.observability.signals_note import SignalsNote


class RoutingNote:
    """What one routing step did (model routing, agent selection or the routing decision API),
    noted by the routing code as it happens and counted by the metrics sink when the request
    finishes. Every value is a code constant or a configured name (model, agent id)."""

    __slots__ = (
        "duration_ns",
        "fallback",
        "kind",
        "outcome",
        "refreshes",
        "selected",
        "session_events",
        "skip",
        "span",
        "switch",
    )

    def __init__(self, kind: str) -> None:
        self.kind = kind  # llm (model listener), agent (agent listener), routing (decision API)
        self.selected: str | None = None  # the chosen model / agent (None: nothing decided)
        self.fallback = False  # the router chose nothing: the requested/default model or agent
        self.duration_ns = 0  # time the decision took (0: no decision, e.g. skipped)
        self.skip: str | None = None  # why the router was skipped (not_user_turn)
        self.session_events: list[str] = []  # hit, miss, store, error, store_error
        self.refreshes = 0  # session bindings refreshed after a response
        self.switch: tuple[str, str] | None = None  # budget gate: (allowed|retained, reason)
        self.outcome: str | None = None  # routing decision API: decision_served, no_candidates...
        self.span: dict[str, Any] | None = None  # budget-gate span attributes (plano.session.*)


class GuardNote:
    """One guard filter's verdict on a request (span attributes, metric, access log). `verdict`
    is pass, flag, block, redact or skipped; `source` what decided: head, rule, second_opinion,
    second_opinion_failed (the guard model failed and the configured fail-open/closed decided),
    or overload (the worker's embedding work was full: `on_overload` decided)."""

    __slots__ = ("filter", "rule", "score", "source", "verdict")

    def __init__(
        self, filter_id: str, verdict: str, source: str, score: float, rule: str | None = None
    ) -> None:
        self.filter = filter_id
        self.verdict = verdict
        self.source = source
        self.score = score
        self.rule = rule  # the pre-rule that matched, if any


class RequestRecord:
    __slots__ = (
        "attempts",
        "billed",
        "bytes_in",
        "bytes_out",
        "cache_write_tokens",
        "cached_tokens",
        "client_api",
        "completion_tokens",
        "continued",
        "conversation",
        "cost",
        "cost_usd",
        "downstream_first_chunk",
        "end",
        "error_kind",
        "gen_ai",
        "guards",
        "handler",
        "key_budget_alert",
        "key_name",
        "listener",
        "listener_type",
        "method",
        "model",
        "overhead",
        "path",
        "pii_found",
        "prompt_tokens",
        "provider",
        "request_body",
        "request_headers",
        "request_id",
        "requested_model",
        "route",
        "router",
        "routing",
        "session_cache_error",
        "session_id",
        "signals",
        "span",
        "start",
        "status",
        "stream",
        "team",
        "traceparent",
        "tracestate",
        "upstream_done",
        "upstream_first_chunk",
        "upstream_headers",
        "upstream_model",
        "upstream_sent",
        "upstream_status",
        "waited",
        "wall_start",
    )

    def __init__(  # noqa: PLR0915 - one flat assignment per field, nothing else
        self, listener: str, listener_type: str, method: str, path: str
    ) -> None:
        self.listener = listener  # listener name from the config
        self.listener_type = listener_type  # model | agent | prompt | admin
        self.method = method
        self.path = path
        self.handler = "not_found"  # llm_chat, list_models, healthz, cors_preflight, not_found, ...
        self.client_api: str | None = None  # Api value of the client dialect
        self.request_id: str | None = None
        self.start = time.perf_counter_ns()
        self.wall_start = time.time_ns()
        self.requested_model: str | None = None  # as the client named it
        self.model: str | None = None  # canonical provider/model that served
        self.provider: str | None = None  # provider prefix (openai, anthropic, custom...)
        self.upstream_model: str | None = None  # bare id sent upstream
        self.route: str | None = None  # how the model was chosen: exact, alias, wildcard, default
        self.routing: str | None = None  # preference routing outcome: routed, pinned, no_route...
        self.router: RoutingNote | None = None  # what a routing/agent-selection step did
        self.session_cache_error: str | None = None  # session cache backend that failed (redis)
        self.session_id: str | None = None  # routing session (X-Model-Affinity or implicit)
        self.stream = False
        self.upstream_sent = 0  # upstream request started
        self.upstream_headers = 0  # upstream response headers received
        self.upstream_first_chunk = 0  # first upstream body chunk (streams)
        self.upstream_done = 0  # upstream body fully read
        self.downstream_first_chunk = 0  # first body bytes handed to the client connection
        # Time spent waiting on services outside the upstream_sent..upstream_done window (the
        # agent listener's agent calls), excluded from the gateway's own time (`overhead_ns`).
        self.waited = 0
        self.end = 0  # response to the client complete
        self.status = 0  # status sent to the client
        self.upstream_status = 0
        self.error_kind: str | None = None  # timeout, connect, upstream_status, stream, client...
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None
        self.cached_tokens: int | None = None  # prompt tokens read from the provider's cache
        self.cache_write_tokens: int | None = None  # prompt tokens written to it (Anthropic)
        # Set when more than one attempt billed tokens (a stream cut and continued elsewhere):
        # each one, (canonical model, prompt, completion, cache_read, cache_write); the token
        # counts above are then the request's total, and the cost is the sum of these.
        self.billed: list[tuple[str, int | None, int | None, int | None, int | None]] | None = None
        # What the request cost, set by the cost meter (`plano.access.cost`) just before the
        # sinks see the record: the total USD (None: no price or no usage) and its split
        # (input, output, cache_read, cache_write, total) summed over billed attempts.
        self.cost_usd: float | None = None
        self.cost: tuple[float, float, float, float, float] | None = None
        # The gateway key that made the request and its team (set by access control).
        self.key_name: str | None = None
        self.team: str | None = None
        # The key's spend (its requests in flight included) is past its budget's alert_at.
        self.key_budget_alert = False
        self.attempts = 0  # upstream attempts made
        self.continued = False  # a broken stream went on with a fallback's continuation
        self.bytes_in = 0
        self.bytes_out = 0
        self.overhead = -1  # `overhead_ns()` once the request has ended (-1: not yet known)
        # Set by tracing when it is on: the headers to send upstream, and its span handle.
        self.traceparent: str | None = None
        self.tracestate: str | None = None
        self.span: object | None = None
        # The client's request headers (the ASGI scope's list, not copied), read by tracing for
        # `tracing.span_attributes.header_prefixes`; left empty when nothing needs them.
        self.request_headers: Sequence[tuple[bytes, bytes]] = ()
        # The request body as sent upstream (after input filters), kept only when a PostHog
        # exporter captures messages (`$ai_input`); None otherwise.
        self.request_body: bytes | None = None
        # PII filters: occurrences found, by (filter id, entity, action); counts only, never
        # values (span attributes `plano.pii.<entity>`, metric `plano_pii_entities_total`).
        self.pii_found: dict[tuple[str, str, str], int] | None = None
        self.guards: list[GuardNote] | None = None  # guard filters' verdicts, in chain order
        # OTel GenAI attributes that change per request (request parameters, response id and
        # model, finish reasons, conversation id), noted only when the span is sampled
        # (`observability.genai`).
        self.gen_ai: dict[str, Any] | None = None
        # Agentic signals (only when they are on): the request's conversation as the listener
        # kept it for the analysis after the response (a reference, not a copy: see
        # `listeners.signals_stage`), and what the analysis found (`SignalsNote`).
        self.conversation: object | None = None
        self.signals: SignalsNote | None = None

    def note_usage(
        self,
        prompt: int | None,
        completion: int | None,
        cached: int | None,
        cache_write: int | None = None,
    ) -> None:
        """The token counts the upstream reported (None: not reported); `prompt` is the whole
        input, cache reads (`cached`) and writes included."""
        self.prompt_tokens = prompt
        self.completion_tokens = completion
        self.cached_tokens = cached
        self.cache_write_tokens = cache_write

    def note_billed(
        self,
        model: str,
        prompt: int | None,
        completion: int | None,
        cached: int | None = None,
        cache_write: int | None = None,
    ) -> None:
        """An attempt billed these tokens on `model`. Once any attempt is noted here, the cost
        is the sum over the noted attempts (note the answering one too)."""
        entry = (model, prompt, completion, cached, cache_write)
        if self.billed is None:
            self.billed = [entry]
        else:
            self.billed.append(entry)

    def note_guard(self, note: GuardNote) -> None:
        if self.guards is None:
            self.guards = [note]
        else:
            self.guards.append(note)

    def overhead_ns(self) -> int:
        """Time the gateway itself added: total minus the time spent waiting on the upstream.

        For a stream, up to the first chunk handed to the client (added time-to-first-chunk);
        for a whole response, up to the end. Without an upstream call, the whole duration less
        the time spent waiting on agents (`waited`).
        Once the request has ended (`end` set) the value is kept: every sink reads the same.
        """
        if self.overhead >= 0:
            return self.overhead
        if self.stream and self.downstream_first_chunk and self.upstream_first_chunk:
            value = (self.downstream_first_chunk - self.start) - (
                self.upstream_first_chunk - self.upstream_sent
            )
        else:
            end = self.end or time.perf_counter_ns()
            if self.upstream_sent and self.upstream_done:
                value = (end - self.start) - (self.upstream_done - self.upstream_sent)
            else:
                value = end - self.start - self.waited
        if self.end:
            self.overhead = value
        return value
