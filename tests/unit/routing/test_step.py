"""The routing step with a scripted router (the `Router` seam) and the memory session cache."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from plano.config import load_config_text
from plano.errors import MalformedJson
from plano.providers.catalogue import Api
from plano.routing.conversation import Conversation
from plano.routing.decision import RouteChoice, RouterFailed
from plano.routing.preferences import PreferenceSet
from plano.routing.step import RoutingStep, wants_routing
from plano.state.session_cache import MemorySessionCache


class ScriptedRouter:
    kind = "scripted"

    def __init__(self, *answers: str | Exception | None) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[PreferenceSet, Conversation]] = []

    async def select(
        self,
        prefs: PreferenceSet,
        conversation: Conversation,
        headers: Sequence[tuple[str, str]] = (),
        memo: object = None,
    ) -> RouteChoice:
        self.calls.append((prefs, conversation))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return RouteChoice(answer, "scripted")


YAML = """
version: v0.4.0
listeners: [{name: llm, type: model, port: 12000}]
model_providers:
  - {model: openai/gpt-4o, access_key: k, default: true}
  - {model: openai/gpt-4o-mini, access_key: k}
routing_preferences:
  - {name: code, description: writing code, models: [openai/gpt-4o]}
  - {name: chat, description: small talk, models: [openai/gpt-4o-mini]}
"""


def step(router: ScriptedRouter, extra: str = "") -> RoutingStep:
    config = load_config_text(YAML + extra, source="t.yaml", env={})
    return RoutingStep(config, router, MemorySessionCache(100))


def body(text: str = "hi", **kw: Any) -> dict[str, Any]:
    return {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": text}], **kw}


def run(s: RoutingStep, doc: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return asyncio.run(s.route(doc, Api.OPENAI_CHAT, raw))


def test_routed_and_no_route_and_failure() -> None:
    s = step(ScriptedRouter("code", None, RouterFailed("boom")))
    assert run(s, body()).decision.model == "openai/gpt-4o"
    assert run(s, body()).decision.reason == "no_route"
    failed = run(s, body()).decision
    assert (failed.model, failed.reason) == (None, "router_error")


def test_no_session_without_header_or_implicit_features() -> None:
    s = step(ScriptedRouter("code"))
    assert run(s, body()).decision.session_id is None
    assert len(s.cache) == 0  # type: ignore[arg-type]


def test_tenant_prefixes_the_session_key() -> None:
    extra = "routing: {session_cache: {tenant_header: x-tenant}}\n"
    s = step(ScriptedRouter("code", "chat", "chat"), extra)
    h = {"X-Model-Affinity": "s1", "x-tenant": "acme"}
    run(s, body(), h)
    assert asyncio.run(s.cache.get("acme:s1")) is not None
    assert run(s, body(), h).decision.reason == "pinned"
    # Same session id, other tenant: a different session.
    other = run(s, body(), {"X-Model-Affinity": "s1", "x-tenant": "zeta"}).decision
    assert (other.reason, other.model) == ("routed", "openai/gpt-4o-mini")


def test_other_lane_is_not_pinned() -> None:
    s = step(ScriptedRouter("code", "chat"))
    h = {"X-Model-Affinity": "s2"}
    run(s, body(), h)
    d = run(s, {**body(), "model": "openai/gpt-4o"}, h).decision
    assert (d.reason, d.model) == ("routed", "openai/gpt-4o-mini")


def test_spend_header_makes_implicit_sessions_and_cache_off_disables_them() -> None:
    s = step(ScriptedRouter("code", "code"))
    d = run(s, body(), {"x-plano-max-switch-spend-pct": "10"}).decision
    assert d.session_id is not None and d.session_id.startswith("implicit:")
    off = run(s, body(), {"x-plano-max-switch-spend-pct": "10", "X-Plano-Cache": "off"})
    assert off.decision.session_id is None and off.prefix_hash is None


def test_inline_preferences_are_removed_and_used() -> None:
    router = ScriptedRouter("poem")
    s = step(router)
    inline = [{"name": "poem", "description": "poems", "models": ["openai/gpt-4o"]}]
    routed = run(s, body(routing_preferences=inline))
    assert "routing_preferences" not in routed.doc and routed.changed
    assert routed.decision.route == "poem"
    assert [r.name for r in router.calls[0][0].routes] == ["poem"]


def test_wants_routing_fast_path() -> None:
    config = load_config_text(
        YAML.split("routing_preferences", maxsplit=1)[0], source="t.yaml", env={}
    )
    bare = RoutingStep(config, ScriptedRouter(), MemorySessionCache(1))
    assert not wants_routing(bare, {"model": "x"})
    assert wants_routing(bare, {"model": "x", "routing_preferences": []})
    assert not wants_routing(None, {"routing_preferences": []})
    # Only the top-level key counts (the body's bytes are not searched: a prompt that mentions
    # it, a megabyte of it, costs nothing here).
    mention = {"role": "user", "content": 'what do "routing_preferences" do?'}
    assert not wants_routing(bare, {"model": "x", "messages": [mention]})
    with pytest.raises(MalformedJson):
        asyncio.run(bare.route_body(b"[1]", Api.OPENAI_CHAT, []))


def test_explicit_pin_survives_cache_off_and_prefix_drift_unpins() -> None:
    s = step(ScriptedRouter("code", "chat"))
    h = {"X-Model-Affinity": "s3", "X-Plano-Cache": "off"}
    run(s, body(), h)
    assert run(s, body(), h).decision.reason == "pinned"
    drifted = {**body(), "messages": [{"role": "system", "content": "new"}, *body()["messages"]]}
    d = run(s, drifted, h).decision
    assert (d.reason, d.model) == ("routed", "openai/gpt-4o-mini")


@pytest.mark.parametrize("replenish", [True, False])
def test_cold_rebind_replenishes_unless_told_not_to(replenish: bool) -> None:
    extra = (
        "routing: {routing_budget: {max_switch_spend_pct: 10, "
        f"replenish_on_rebind: {str(replenish).lower()}}}}}\n"
        "model_metrics_sources: [{type: cost, provider: models.dev}]\n"
    )
    s = step(ScriptedRouter("code"), extra)
    h = {"X-Model-Affinity": "s4"}
    key = "s4"
    spent = {
        "anchor_model": "openai/gpt-4o", "requested_model": "openai/gpt-4o-mini",
        "route_name": "code", "prefix_hash": "x", "last_used": 0.0,
        "baseline_usd": 1.0, "switch_spend_usd": 0.05, "switches": 3,
    }  # fmt: skip
    asyncio.run(s.cache.put(key, spent, 60))  # long cold: last used in 1970
    run(s, body(), h)
    stored = asyncio.run(s.cache.get(key))
    assert stored is not None
    assert stored["switch_spend_usd"] == (0.0 if replenish else 0.05)
    assert stored["switches"] == 0


def test_the_note_tells_metrics_what_the_step_did() -> None:
    s = step(ScriptedRouter("code", None, "chat"), "routing: {route_on_user_only: true}\n")
    h = {"X-Model-Affinity": "s9"}
    first = run(s, body(), h).note
    assert (first.kind, first.selected, first.fallback) == ("llm", "openai/gpt-4o", False)
    assert first.session_events == ["miss", "store"] and first.duration_ns > 0
    fallback = run(s, body("something else")).note
    # an implicit session (route_on_user_only), looked up; nothing decided, so nothing stored
    assert (fallback.selected, fallback.fallback, fallback.session_events) == (None, True, ["miss"])
    tool_turn = body()
    tool_turn["messages"].append({"role": "tool", "tool_call_id": "c", "content": "ok"})
    replay = run(s, tool_turn, {"X-Model-Affinity": "s10"}).note  # cold: routed, no skip
    assert replay.skip is None and replay.session_events == ["miss", "store"]
    pinned = run(s, body(), h)
    assert pinned.decision.reason == "pinned" and pinned.note.session_events == ["hit", "store"]


def test_no_preferences_is_not_a_router_decision() -> None:
    s = step(ScriptedRouter())
    routed = run(s, body(routing_preferences=[]))
    assert routed.decision.reason == "no_preferences"
    assert routed.note.duration_ns == 0 and routed.note.skip is None


@pytest.mark.parametrize("counterfactual", [False, True])
def test_budget_gate_span_attributes(counterfactual: bool) -> None:
    """A retained switch puts the original's `plano.session.*` / `plano.switch.*` attributes on
    the note (the request span gets them), with the counterfactual route only when asked."""
    from plano.routing.preferences import Price

    extra = (
        "routing: {routing_budget: {max_switch_spend_pct: 5, "
        f"record_counterfactual: {str(counterfactual).lower()}}}}}\n"
        "model_metrics_sources: [{type: cost, provider: models.dev}]\n"
    )
    s = step(ScriptedRouter("code", "chat"), extra)
    s.metrics.cost.update(
        {
            "openai/gpt-4o": Price(2.5, 10.0, 1.25),
            "openai/gpt-4o-mini": Price(150.0, 600.0),
        }
    )
    text = "please write a tokenizer for a small language " * 40
    first = run(s, body(text))  # the budget makes an implicit session of the first user message
    assert first.decision.model == "openai/gpt-4o" and first.note.span is None  # cold
    second = run(s, body(text))
    assert second.decision.reason == "retained"
    span = second.note.span
    assert span is not None
    assert span["plano.switch.decision"] == "retained"
    assert span["plano.session.overhead_pct"] == 5
    assert span["plano.switch.cost_in_usd"] > span["plano.switch.overhead_ceiling_in_usd"]
    assert span["plano.cache.warm"] is True
    if counterfactual:
        assert span["plano.switch.counterfactual_route"] == "openai/gpt-4o-mini (chat)"
    else:
        assert "plano.switch.counterfactual_route" not in span
