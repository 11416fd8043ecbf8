"""The stages that call the state stores pass the request's time left and keep a store timeout a
504: the agent listener's ResponsesView (the same `continue_conversation` as the model listener's
ContinueConversation), and RememberTurn's bounded write after the response."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from plano.listeners.agent.call import AgentCall
from plano.listeners.agent.responses import ResponsesView
from plano.listeners.model.call import ModelCall
from plano.listeners.model.stages import RememberTurn
from plano.listeners.model.translation import continue_conversation, prepare
from plano.listeners.types import RequestIds
from plano.observability.record import RequestRecord
from plano.routing.step import Routed, RoutingStep
from plano.state.conversations import ConversationStore
from plano.state.deadline import StateStoreTimeout
from plano.wire.api import Api

BOUND_S = 20.0
DOC = {"model": "m", "input": "next?", "previous_response_id": "resp_a"}
ITEMS = [{"type": "message", "role": "user", "content": "first?"}]


class Recording:
    """A store that answers at once and remembers the time it was given."""

    def __init__(self, fail: bool = False) -> None:
        self.within: list[float | None] = []
        self._fail = fail

    async def load(self, response_id: str, *, within: float | None = None) -> Any:
        self.within.append(within)
        if self._fail:
            raise StateStoreTimeout("conversation state store (test) did not answer within 1s")
        return ITEMS

    def save(self, response_id: str, items: Any, model: str, provider: str) -> None: ...

    async def close(self) -> None: ...


async def _never(*_: Any) -> Any:
    raise AssertionError("not used")


def agent_call() -> AgentCall:
    record = RequestRecord("desk", "agent", "POST", "/v1/responses")
    scope = {"headers": [], "path": "/v1/responses", "plano.record": record}
    call = AgentCall(scope, _never, _never, Api.OPENAI_RESPONSES)
    call.doc = dict(DOC)
    return call


def test_responses_view_gives_the_store_the_request_time_left() -> None:
    store = Recording()
    call = agent_call()
    assert asyncio.run(ResponsesView(cast(ConversationStore, store), 7.0)(call)) is None
    (within,) = store.within
    assert within is not None and 0 < within <= 7.0
    assert call.messages[0]["content"] == "first?"  # continued from the store


def test_a_store_timeout_stays_a_504() -> None:
    store = Recording(fail=True)
    tr = prepare(Api.OPENAI_RESPONSES, Api.OPENAI_CHAT, dict(DOC))
    with pytest.raises(StateStoreTimeout) as info:
        asyncio.run(continue_conversation(cast(ConversationStore, store), tr, 0.5))
    assert info.value.status == 504 and "state store" in info.value.message
    assert store.within == [0.5]


class StuckStep:
    """A routing step whose session write never completes (a Redis that stopped answering)."""

    class cache:  # the attribute RememberTurn reads
        backend = "redis"

    async def after_response(self, routed: Any, prompt_tokens: Any, ok: bool) -> None:
        await asyncio.Event().wait()


def test_remember_turn_drops_a_stuck_write_and_counts_it() -> None:
    record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    scope = {"headers": [], "path": "/v1/chat/completions", "plano.record": record}
    call = ModelCall(scope, _never, _never, Api.OPENAI_CHAT, RequestIds())
    call.routed = cast(Routed, object())
    stage = RememberTurn(cast(RoutingStep, StuckStep()), timeout=0.2)

    async def run() -> Any:
        return await asyncio.wait_for(stage(call), BOUND_S)

    assert asyncio.run(run()) is None  # the stage ends; the response was already sent
    assert record.session_cache_error == "redis"
