"""A prompt-listener request on its way through the pipeline."""

from __future__ import annotations

from typing import Any

from plano.agents.prompt_targets.answer import Detection, ToolCall
from plano.agents.prompt_targets.tools import Target
from plano.listeners.pipeline import Call
from plano.listeners.types import Receive, Scope, Send
from plano.wire.api import Api


class PromptCall(Call):
    """View: the client's `messages` (with the `x-arch-state` messages of a previous answer
    joined in), `stream`. Working state, in stage order: `headers` for sub-calls (request id,
    trace context), `detection` (what the function-calling model decided), `target` and
    `arguments` (the checked call), `tool_call` and the endpoint's answer (`api_body`)."""

    __slots__ = (
        "api_body",
        "arguments",
        "detection",
        "headers",
        "messages",
        "outcome",
        "stream",
        "target",
        "tool_call",
    )

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        super().__init__(scope, receive, send, Api.OPENAI_CHAT)
        self.record.client_api = Api.OPENAI_CHAT.value
        self.messages: list[Any] = []
        self.stream = False
        self.headers: list[tuple[str, str]] = []
        self.detection = Detection()
        self.target: Target | None = None
        self.arguments: dict[str, Any] = {}
        self.tool_call: ToolCall | None = None
        self.api_body: bytes | None = None
        self.outcome = "no_intent"
