"""Routing notes in, samples out: the router, session and prompt-cache families."""

from __future__ import annotations

from plano.observability.metrics import PrometheusMetrics
from plano.observability.record import RoutingNote
from plano.observability.routing_metrics import MAX_SELECTED, ROUTER_BUCKETS
from tests.unit.observability.test_metrics import (
    GPT,
    finish,
    record,
    samples,
    upstream_call,
    value,
)

DECISIONS = "brightstaff_router_decisions_total"
DURATION = "brightstaff_router_decision_duration_seconds"


def note(
    kind: str = "llm", selected: str | None = "openai/gpt-4o", **fields: object
) -> RoutingNote:
    made = RoutingNote(kind)
    made.selected = selected
    made.duration_ns = 20_000_000  # 20 ms
    for key, val in fields.items():
        setattr(made, key, val)
    return made


def test_a_decision_counts_once_with_its_duration_and_session_events() -> None:
    m = PrometheusMetrics()
    events = ["hit", "store", "store_error"]
    routed = note(session_events=events, refreshes=1, switch=("retained", "over_cap"))
    finish(m, record(router=routed), record(router=note("agent", "flight_agent", fallback=True)))
    s = samples(m)
    assert value(s, DECISIONS, route="llm", selected_model="openai/gpt-4o", fallback="false") == 1
    assert value(s, DECISIONS, route="agent", selected_model="flight_agent", fallback="true") == 1
    assert value(s, f"{DURATION}_count", route="llm") == 1
    assert value(s, f"{DURATION}_bucket", route="llm", le="0.01") == 0
    assert value(s, f"{DURATION}_bucket", route="llm", le="0.025") == 1
    assert value(s, f"{DURATION}_bucket", route="llm", le="+Inf") == 1
    assert value(s, f"{DURATION}_bucket", route="llm", le="60.0") is None  # the router's buckets
    assert ROUTER_BUCKETS[0] == 0.005 and ROUTER_BUCKETS[-1] == 30.0
    for outcome in events:
        assert value(s, "brightstaff_session_cache_events_total", outcome=outcome) == 1
    assert value(s, "brightstaff_session_binding_events_total", event="refresh") == 1
    switch = "brightstaff_session_switch_decisions_total"
    assert value(s, switch, decision="retained", reason="over_cap") == 1


def test_a_skip_is_not_a_decision() -> None:
    m = PrometheusMetrics()
    finish(m, record(router=note(skip="not_user_turn", duration_ns=0, session_events=["hit"])))
    s = samples(m)
    assert value(s, "brightstaff_router_skips_total", reason="not_user_turn") == 1
    assert not any(name == DECISIONS for name, _ in s)
    assert value(s, f"{DURATION}_count", route="llm") is None
    assert value(s, "brightstaff_session_cache_events_total", outcome="hit") == 1


def test_routing_api_outcomes() -> None:
    m = PrometheusMetrics()
    failed = RoutingNote("routing")
    failed.outcome = "policy_error"
    served = note("routing", "none", fallback=True, outcome="no_candidates")
    finish(m, record(router=failed), record(router=served))
    s = samples(m)
    service = "brightstaff_routing_service_requests_total"
    assert value(s, service, outcome="policy_error") == 1
    assert value(s, service, outcome="no_candidates") == 1
    assert value(s, DECISIONS, route="routing", selected_model="none", fallback="true") == 1
    assert value(s, f"{DURATION}_count", route="routing") == 1  # the failed one decided nothing


def test_selected_model_values_are_capped() -> None:
    m = PrometheusMetrics()
    finish(m, *(record(router=note(selected=f"m{i}")) for i in range(MAX_SELECTED + 3)))
    s = samples(m)
    values = {dict(labels)["selected_model"] for name, labels in s if name == DECISIONS}
    assert len(values) == MAX_SELECTED + 1
    assert value(s, DECISIONS, route="llm", selected_model="other", fallback="false") == 3


def test_prompt_cache_outcomes_only_when_prompt_caching_is_enabled() -> None:
    prompt = "brightstaff_prompt_cache_requests_total"
    calls = (upstream_call(cached_tokens=6), upstream_call(cached_tokens=0), upstream_call())
    on = PrometheusMetrics(prompt_caching=True)
    finish(on, *calls, upstream_call(status=500), upstream_call(prompt=None, completion=None))
    s = samples(on)
    assert value(s, prompt, **GPT, outcome="hit") == 1
    assert value(s, prompt, **GPT, outcome="miss") == 2  # errors and usage-less calls: none
    off = PrometheusMetrics()
    finish(off, upstream_call(cached_tokens=6))
    assert not any(name == prompt for name, _ in samples(off))
