"""What a router backend answers and what the routing step decides.

Two backends sit behind the `Router` protocol: the orchestrator LLM (`orchestrator.py`) and the
embedded CPU router (`embedded.py`). A backend only names a route (or none); the routing step
turns that into a model, applies sessions and the budget, and falls back on failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from plano.errors import InternalError
from plano.routing.conversation import Conversation
from plano.routing.preferences import PreferenceSet

if TYPE_CHECKING:
    from plano.embedding.memo import EmbeddingMemo


class RouterFailed(InternalError):
    """The router backend could not answer (unreachable, timed out, nonsense)."""


class RouterUnreachable(RouterFailed):
    """The router model could not be reached at all (connect failure or timeout)."""


@dataclass(frozen=True, slots=True)
class RouteChoice:
    route: str | None  # a route name of the preference set, or None (no route fits)
    reason: str  # which backend, and how it decided (for logs and headers)
    score: float | None = None  # the embedded router's similarity


class Router(Protocol):
    @property
    def kind(self) -> str: ...

    async def select(
        self,
        prefs: PreferenceSet,
        conversation: Conversation,
        headers: Sequence[tuple[str, str]] = (),
        memo: EmbeddingMemo | None = None,
    ) -> RouteChoice: ...


@dataclass(frozen=True, slots=True)
class Decision:
    """The routing step's outcome for one request."""

    model: str | None  # the model to resolve (None: the request's own, unchanged)
    models: tuple[str, ...]  # ranked candidates of the route (models[0] decided)
    route: str | None
    reason: str  # routed, no_route, router_error, pinned, replay, retained, ...
    session_id: str | None = None
    pinned: bool = False
    switched: bool = False
    cache_error: str | None = None  # the session cache backend failed during this decision
    router: str | None = None  # the backend that chose: orchestrator:<model>, embedded, ...


class FallbackRouter:
    """`auto` with a router model declared: the orchestrator, and the embedded router while the
    orchestrator cannot be reached. A reachable router that answers nonsense is not second-guessed
    (the routing step then falls back to the requested model)."""

    kind = "auto"

    def __init__(self, primary: Router, secondary: Router) -> None:
        self.primary = primary
        self.secondary = secondary

    async def select(
        self,
        prefs: PreferenceSet,
        conversation: Conversation,
        headers: Sequence[tuple[str, str]] = (),
        memo: EmbeddingMemo | None = None,
    ) -> RouteChoice:
        try:
            return await self.primary.select(prefs, conversation, headers, memo)
        except RouterUnreachable:
            return await self.secondary.select(prefs, conversation, headers, memo)
