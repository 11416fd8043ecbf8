"""The two function-calling backends: how the model that detects intent is asked, through the
model listener's pipeline (`inner.InnerModel`).

- `ArchFunction`: the Arch-Function protocol (our prompt with the `<tools>` block, rewritten
  history, a prefilled answer, logprobs); a tool call whose argument values the logprob check
  flags is asked again with the clarification prefill, so the user is asked instead.
- `NativeTools`: an ordinary chat request with `tools` to any configured model, in its own
  dialect (the translation hub carries `tools` and `tool_calls` both ways).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import orjson

from plano.agents.prompt_targets import arch_function, native
from plano.agents.prompt_targets.answer import Detection
from plano.agents.prompt_targets.arguments import parse_arguments
from plano.agents.prompt_targets.hallucination import flagged
from plano.errors import PlanoError
from plano.listeners.prompt.inner import Captured, InnerModel, RawHeaders
from plano.observability.record import RequestRecord


class FunctionCallingFailed(PlanoError):
    """The function-calling model could not be asked, or its answer could not be read."""

    status = 502
    code = "function_calling_failed"
    kind = "upstream_status"


class FunctionCaller(Protocol):
    """Asks the function-calling model about a conversation, offering the targets' tools (bound
    at config load)."""

    kind: str
    model: str

    async def detect(
        self, messages: Sequence[Any], headers: RawHeaders, rec: RequestRecord
    ) -> Detection: ...


def _choice(captured: Captured) -> dict[str, Any]:
    if captured.status != 200:
        raise FunctionCallingFailed(
            f"function-calling model answered {captured.status}: {_reason(captured.body)}"
        )
    try:
        choice = orjson.loads(captured.body)["choices"][0]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise FunctionCallingFailed("function-calling model answered no chat completion") from None
    if not isinstance(choice, dict):
        raise FunctionCallingFailed("function-calling model answered no chat completion")
    return choice


def _reason(body: bytes) -> str:
    try:
        err = orjson.loads(body).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        err = None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])
    return body[:300].decode("utf-8", "replace")


def _content(choice: dict[str, Any]) -> str:
    message = choice.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


class ArchFunction:
    kind = "arch_function"

    def __init__(
        self,
        inner: InnerModel,
        model: str,
        tools: Sequence[Any],
        *,
        optimize_context: bool,
        agent: bool,
    ) -> None:
        self._inner = inner
        self.model = model
        self._tools = tools
        self._system = arch_function.system_prompt(tools)  # built once
        self._optimize = optimize_context
        self._agent = agent

    def _body(self, messages: Sequence[Any], prefill: str) -> Any:
        return arch_function.request_body(
            self.model,
            self._tools,
            messages,
            optimize_context=self._optimize,
            prefill=prefill,
            agent=self._agent,
            system=self._system,
        )

    async def detect(
        self, messages: Sequence[Any], headers: RawHeaders, rec: RequestRecord
    ) -> Detection:
        body = self._body(messages, arch_function.PREFILL)
        if body is None:
            return Detection()
        choice = _choice(await self._inner.complete(body, headers, rec))
        content = _content(choice)
        obj, fenced = arch_function.parse_answer(content)
        found = arch_function.detection(obj, fenced)
        if not found.calls:
            return found
        logprobs = choice.get("logprobs")
        tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
        if not isinstance(tokens, list) or not tokens:
            return found
        text = arch_function.full_text(content)
        args = parse_arguments(found.calls[0].arguments) or {}
        names = flagged(text, tokens, len(text) - len(content), args)
        if not names:
            return found
        return await self._clarify(messages, headers, rec, names)

    async def _clarify(
        self,
        messages: Sequence[Any],
        headers: RawHeaders,
        rec: RequestRecord,
        names: tuple[str, ...],
    ) -> Detection:
        """Asked again with the clarification prefill: the model must ask, not call."""
        prefill = arch_function.CLARIFY_PREFILL
        body = self._body(messages, prefill)
        choice = _choice(await self._inner.complete(body, headers, rec))
        obj, fenced = arch_function.parse_answer(_content(choice), prefill)
        again = arch_function.detection(obj, fenced)
        text = again.clarification or f"Could you tell me the {', '.join(names)}?"
        return Detection(clarification=text, raw=fenced, hallucinated=names)


class NativeTools:
    kind = "tools"

    def __init__(self, inner: InnerModel, model: str, tools: Sequence[Any]) -> None:
        self._inner = inner
        self.model = model
        self._tools = tools

    async def detect(
        self, messages: Sequence[Any], headers: RawHeaders, rec: RequestRecord
    ) -> Detection:
        body = native.request_body(self.model, self._tools, messages)
        choice = _choice(await self._inner.complete(body, headers, rec))
        return native.detection(choice.get("message"))
