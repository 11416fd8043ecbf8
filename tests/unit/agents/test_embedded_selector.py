"""Which agent selector a config gets, and the `auto` fallback (no model, no network)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest

from plano.agents.embedded_selector import EmbeddedSelector, FallbackSelector, build_selector
from plano.agents.prompt import AgentRoute
from plano.agents.selector import OrchestratorSelector, SelectionFailed, SelectionUnreachable
from plano.config import load_config_text
from plano.routing.embedded import EmbeddedRouter
from plano.routing.resolve import ModelTable
from plano.upstream.clusters import build_clusters
from plano.upstream.lean import LeanTransport

ROUTES = (AgentRoute("weather_agent", "Weather."), AgentRoute("flight_agent", "Flights."))


def selector(router: str = "", orchestrator: bool = False) -> Any:
    declared = (
        "\n  - {model: openai/Plano-Orchestrator, access_key: k, base_url: http://127.0.0.1:9}"
        if orchestrator
        else ""
    )
    text = f"""
version: v0.3.0
model_providers:
  - {{model: openai/gpt-4o, access_key: k, default: true}}{declared}
{router}
listeners: [{{name: llm, type: model, port: 12000}}]
"""
    config = load_config_text(text, source="t.yaml", env={})
    models = ModelTable(build_clusters(config), {})
    return build_selector(config, models, LeanTransport(), timeout=1.0)


@pytest.mark.parametrize(
    ("router", "orchestrator", "kind"),
    [
        ("", False, "embedded"),  # auto, nothing declared: the internal endpoint is not used
        ("", True, "auto"),
        ("routing: {router: {type: orchestrator}}", False, "orchestrator"),
        ("routing: {router: {type: orchestrator}}", True, "orchestrator"),
        ("routing: {router: {type: embedded}}", True, "embedded"),
    ],
)
def test_backend_follows_routing_router_type(router: str, orchestrator: bool, kind: str) -> None:
    chosen = selector(router, orchestrator)
    assert chosen.kind == kind
    if kind == "auto":
        assert isinstance(chosen.primary, OrchestratorSelector)
        assert isinstance(chosen.secondary, EmbeddedSelector)


class Scripted:
    kind = "scripted"

    def __init__(self, outcome: list[str] | Exception) -> None:
        self.outcome = outcome
        self.calls = 0

    async def select(
        self, messages: Sequence[Any], routes: Any, headers: Any, memo: Any = None
    ) -> list[str]:
        self.calls += 1
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def test_fallback_only_when_the_orchestrator_is_unreachable() -> None:
    secondary = Scripted(["flight_agent"])
    down = FallbackSelector(Scripted(SelectionUnreachable("refused")), secondary)
    assert asyncio.run(down.select([], ROUTES, ())) == ["flight_agent"]
    nonsense = FallbackSelector(Scripted(SelectionFailed("bad answer")), secondary)
    with pytest.raises(SelectionFailed):
        asyncio.run(nonsense.select([], ROUTES, ()))
    assert secondary.calls == 1


def test_embedded_preferences_are_built_once_per_route_set() -> None:
    embedded = EmbeddedSelector(EmbeddedRouter())
    prefs = embedded.preferences(ROUTES)
    assert embedded.preferences(list(ROUTES)) is prefs
    assert [(r.name, r.description, r.models) for r in prefs.routes] == [
        ("weather_agent", "Weather.", ("weather_agent",)),
        ("flight_agent", "Flights.", ("flight_agent",)),
    ]


def test_no_user_text_selects_nothing() -> None:
    embedded = EmbeddedSelector(EmbeddedRouter())
    assert asyncio.run(embedded.select([{"role": "system", "content": "s"}], ROUTES, ())) == []
