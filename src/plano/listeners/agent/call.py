"""An agent-listener request on its way through the pipeline."""

from __future__ import annotations

from typing import Any

from plano.agents.orchestration import AgentTarget
from plano.embedding.memo import EmbeddingMemo
from plano.listeners.model.translation import Translation
from plano.listeners.pipeline import Call
from plano.listeners.types import Receive, Scope, Send
from plano.wire.api import Api


class AgentCall(Call):
    """View: the conversation the agents see (`messages`), the `base` body each agent gets them
    in, the `model` the client named. Working state: the agents' `headers`, the `plan` (agents in
    order), and `tr` for a Responses client (its request decoded into the IR)."""

    __slots__ = ("base", "embeddings", "headers", "messages", "model", "plan", "tr")

    def __init__(self, scope: Scope, receive: Receive, send: Send, api: Api) -> None:
        super().__init__(scope, receive, send, api)
        self.messages: list[Any] = []
        self.base: dict[str, Any] = {}
        self.model: Any = None
        self.headers: list[tuple[str, str]] = []
        self.plan: list[AgentTarget] = []
        self.tr: Translation | None = None
        self.embeddings = EmbeddingMemo()  # one request's embeddings: selection and filters
