"""Agent selection: which agents (in order) answer a request on an agent listener.

`AgentSelector` is the seam: anything that maps (messages, offered routes) to agent ids in order.
`OrchestratorSelector` is the original's: one OpenAI chat call to the orchestrator model
(`overrides.agent_orchestration_model`, default `Plano-Orchestrator`) with the v1 prompt, sent
straight to the provider that serves that model (no internal HTTP hop through a listener).
`EmbeddedSelector` (in `embedded_selector.py`) picks by description with the routing package's
embedded MiniLM router, with no model call; `build_selector` there chooses the backend from
`routing.router.type` as model routing does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from plano.agents.prompt import (
    AgentRoute,
    RouteParseError,
    conversation_for,
    orchestrator_prompt,
    parse_routes,
    routes_text,
)
from plano.errors import PlanoError
from plano.providers.catalogue import Api
from plano.routing.resolve import Resolved
from plano.upstream.transport import Limits, Transport, exchange

if TYPE_CHECKING:
    from plano.embedding.memo import EmbeddingMemo

Headers = Sequence[tuple[str, str]]


class SelectionFailed(PlanoError):
    """The orchestrator call failed or its answer could not be used."""

    status = 500
    code = "agent_selection_failed"


class SelectionUnreachable(SelectionFailed):
    """The orchestrator model could not be reached at all (connect failure or timeout)."""


class AgentSelector(Protocol):
    @property
    def kind(self) -> str:
        """Which backend decides (orchestrator, embedded, auto), for logs and spans."""
        ...

    async def select(
        self,
        messages: Sequence[Any],
        routes: Sequence[AgentRoute],
        headers: Headers,
        memo: EmbeddingMemo | None = None,
    ) -> list[str]:
        """Agent ids, best first; an empty list means "none fits" (the default agent serves)."""
        ...


class OrchestratorSelector:
    """Asks the orchestrator model with the Plano-Orchestrator v1 prompt."""

    kind = "orchestrator"

    def __init__(
        self,
        resolved: Resolved,
        transport: Transport,
        *,
        timeout: float,
        context_length: int,
    ) -> None:
        cluster = resolved.cluster
        self.model = resolved.model_id
        self._url = cluster.url(Api.OPENAI_CHAT, resolved.model_id, False)
        self._fixed = (
            ("content-type", "application/json"),
            ("x-arch-llm-provider-hint", resolved.cluster.name),
            ("model", "plano-orchestrator"),
            *cluster.extra_headers,
            *cluster.auth(Api.OPENAI_CHAT, None),
        )
        self._transport = transport
        self._limits = Limits(total=timeout)
        self._context_length = context_length
        self._routes_cache: dict[tuple[AgentRoute, ...], str] = {}

    def request_body(self, messages: Sequence[Any], routes: Sequence[AgentRoute]) -> bytes:
        key = tuple(routes)
        text = self._routes_cache.get(key)
        if text is None:
            text = self._routes_cache[key] = routes_text(routes)
        prompt = orchestrator_prompt(text, conversation_for(messages, self._context_length))
        return orjson.dumps(
            {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0.01,
            }
        )

    async def select(
        self,
        messages: Sequence[Any],
        routes: Sequence[AgentRoute],
        headers: Headers,
        memo: EmbeddingMemo | None = None,
    ) -> list[str]:
        body = self.request_body(messages, routes)
        sent = [*self._fixed, *headers]
        try:
            async with exchange(
                self._transport, b"POST", self._url, sent, body, self._limits
            ) as resp:
                data = await resp.read()
                status = resp.status
        except PlanoError as err:
            raise SelectionUnreachable(f"Failed to determine route: {err.message}") from err
        if not 200 <= status < 300:
            raise SelectionFailed(
                f"Failed to determine route: orchestrator answered {status}: {_reason(data)}"
            )
        try:
            content = orjson.loads(data)["choices"][0]["message"]["content"] or ""
            return parse_routes(content)
        except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
            raise SelectionFailed(
                f"Failed to determine route: unexpected orchestrator answer ({exc})"
            ) from None
        except RouteParseError as exc:
            raise SelectionFailed(f"Failed to determine route: {exc}") from None


def _reason(data: bytes) -> str:
    try:
        err = orjson.loads(data).get("error")
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return str(err["message"])
    except (orjson.JSONDecodeError, AttributeError):
        pass
    return data[:512].decode("utf-8", "replace")
