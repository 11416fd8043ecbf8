"""Agent selection by description with the embedded router, and the choice of backend.

`EmbeddedSelector` offers each agent to the routing package's `EmbeddedRouter` as a route named
after the agent id with the agent's description, so an agent is represented as a route is (its
name, description and clauses, and the example requests of the topic-bank topics it claims; see
`routing/route_vectors.py`). The latest user text decides, embedded once per request through the
request's `EmbeddingMemo` (shared with guard filters); when no agent fits (no-route decision of
`routing/no_route.py`) the listener's default agent serves. The MiniLM model is the
one the model-routing code uses: loaded lazily, once per worker process, in a worker thread, and
inference runs off the event loop.

`build_selector` follows `routing.router.type`, as model routing does:
`orchestrator` always asks the orchestrator model; `embedded` never does; `auto` (the default)
asks the orchestrator when the user declared a provider serving `agent_orchestration_model`,
and falls back to the embedded router for a request whose orchestrator call could not reach the
model; without such a provider it uses the embedded router only.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from plano.agents.prompt import AgentRoute
from plano.agents.selector import (
    AgentSelector,
    Headers,
    OrchestratorSelector,
    SelectionFailed,
    SelectionUnreachable,
)
from plano.config import Config
from plano.embedding.memo import EmbeddingMemo
from plano.errors import ModelNotFound
from plano.providers.catalogue import Api
from plano.routing.conversation import conversation_of
from plano.routing.decision import RouterFailed
from plano.routing.embedded import EmbeddedRouter, RouterSettings
from plano.routing.preferences import Preference, PreferenceSet
from plano.routing.resolve import ModelTable
from plano.upstream.transport import Transport

log = logging.getLogger("plano.agents")

_PREFS_LIMIT: Final = 64  # distinct route sets kept (one per listener in practice)


class EmbeddedSelector:
    """Picks at most one agent: the one whose description best matches the latest user text."""

    kind: Final = "embedded"

    def __init__(self, router: EmbeddedRouter) -> None:
        self._router = router
        self._prefs: dict[tuple[AgentRoute, ...], PreferenceSet] = {}

    def preferences(self, routes: Sequence[AgentRoute]) -> PreferenceSet:
        key = tuple(routes)
        prefs = self._prefs.get(key)
        if prefs is None:
            if len(self._prefs) >= _PREFS_LIMIT:
                self._prefs.clear()
            prefs = self._prefs[key] = PreferenceSet.of(
                [Preference(r.name, r.description, (r.name,)) for r in routes]
            )
        return prefs

    async def select(
        self,
        messages: Sequence[Any],
        routes: Sequence[AgentRoute],
        headers: Headers,
        memo: EmbeddingMemo | None = None,
    ) -> list[str]:
        conversation = conversation_of({"messages": list(messages)}, Api.OPENAI_CHAT)
        try:
            choice = await self._router.select(self.preferences(routes), conversation, (), memo)
        except RouterFailed as err:
            raise SelectionFailed(f"Failed to determine route: {err.message}") from None
        return [] if choice.route is None else [choice.route]

    async def warm_up(self) -> None:
        await self._router.warm_up()


class FallbackSelector:
    """`auto` with a declared orchestrator: the orchestrator, and the embedded selector for a
    request whose orchestrator call could not reach the model. An orchestrator that answers
    nonsense is not second-guessed (the request fails, as with `type: orchestrator`)."""

    kind: Final = "auto"

    def __init__(self, primary: AgentSelector, secondary: AgentSelector) -> None:
        self.primary = primary
        self.secondary = secondary
        self._warned = False

    async def select(
        self,
        messages: Sequence[Any],
        routes: Sequence[AgentRoute],
        headers: Headers,
        memo: EmbeddingMemo | None = None,
    ) -> list[str]:
        try:
            return await self.primary.select(messages, routes, headers, memo)
        except SelectionUnreachable as err:
            if not self._warned:  # once per worker: no log line per request while it is down
                self._warned = True
                log.warning("orchestrator unreachable, the embedded router stands in: %s", err)
            return await self.secondary.select(messages, routes, headers, memo)


def build_selector(
    config: Config, models: ModelTable, transport: Transport, *, timeout: float
) -> AgentSelector:
    """The agent selector the config asks for (see the module docstring)."""
    rc = config.routing.router
    overrides = config.overrides
    embedded = EmbeddedSelector(EmbeddedRouter(RouterSettings.of(rc)))
    if rc.type == "embedded":
        return embedded
    try:
        resolved = models.resolve(overrides.orchestration_model_id)
    except ModelNotFound:
        resolved = None
    declared = resolved is not None and resolved.via != "default" and not resolved.cluster.internal
    if rc.type == "auto" and not declared:
        return embedded
    if resolved is None:
        log.warning(
            "no provider serves the orchestrator model %s; agents chosen by the embedded router",
            overrides.orchestration_model_id,
        )
        return embedded
    orchestrator = OrchestratorSelector(
        resolved,
        transport,
        timeout=timeout,
        context_length=overrides.orchestrator_model_context_length,
    )
    return orchestrator if rc.type == "orchestrator" else FallbackSelector(orchestrator, embedded)
