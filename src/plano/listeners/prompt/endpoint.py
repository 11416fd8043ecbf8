"""The checked tool call and the target's endpoint call."""

from __future__ import annotations

from typing import Any

import orjson

from plano.agents.prompt_targets.arguments import Checked, Invalid, check
from plano.agents.prompt_targets.endpoint_request import EndpointRequest, build_request
from plano.agents.prompt_targets.tools import Target, TargetTable
from plano.errors import PlanoError
from plano.listeners.pipeline import Outcome, Stage
from plano.listeners.prompt.call import PromptCall
from plano.listeners.prompt.respond import Outcomes, clarify
from plano.observability import names as n
from plano.observability.telemetry import Telemetry
from plano.upstream.transport import Limits, Transport, exchange, where

DEFAULT_TIMEOUT = 30.0


class EndpointError(PlanoError):
    """The target's API answered non-200: its status, the original's text."""

    code = "upstream_application_error"
    kind = "upstream_status"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class CheckCall(Stage[PromptCall]):
    """The first tool call checked against its target's parameters; a missing required value or
    one that does not fit becomes a question to the user, not a call."""

    def __init__(self, table: TargetTable, outcomes: Outcomes) -> None:
        self._table = table
        self._outcomes = outcomes

    async def __call__(self, call: PromptCall) -> Outcome:
        calls = call.detection.calls
        if not calls:
            call.target = self._table.default if not call.detection.clarification else None
            return None
        first = calls[0]
        target = self._table.by_name.get(first.name)
        if target is None:  # a name we did not offer: as if nothing fitted
            call.target = self._table.default
            return None
        call.target = target
        checked = check(target, first.arguments)
        if isinstance(checked, Checked):
            call.tool_call = first
            call.arguments = checked.arguments
            return None
        return await clarify(call, self._outcomes, question(target, checked), "invalid_arguments")


def question(target: Target, invalid: Invalid) -> str:
    """The question asked back for arguments that cannot be used."""
    if not invalid.missing:
        problems = "; ".join(invalid.problems)
        return f"I could not use those details ({problems}). Could you rephrase them?"
    wanted = {p.name: p for p in target.parameters}
    asks = []
    for name in invalid.missing:
        p = wanted[name]
        asks.append((p.description or name) + (f" (format: {p.format})" if p.format else ""))
    return f"For {target.name}, I need: {'; '.join(asks)}. Could you provide it?"


class CallEndpoint(Stage[PromptCall]):
    """The target's API: the checked call's request, or the default target's (the conversation
    as `{"messages": [...]}`), with our request id and trace context."""

    def __init__(
        self, transport: Transport, telemetry: Telemetry, trace_values: bool, timeout: float
    ) -> None:
        self._transport = transport
        self._telemetry = telemetry
        self._trace_values = trace_values
        self._timeout = timeout

    async def __call__(self, call: PromptCall) -> Outcome:
        target = call.target
        if target is None or target.endpoint is None:
            return None
        if call.tool_call is not None:
            req = build_request(target.endpoint, call.arguments, self._ids(call))
        else:
            req = build_request(target.endpoint, {}, self._ids(call))
            req = EndpointRequest(
                "POST", req.url, req.path, req.headers, orjson.dumps({"messages": call.messages})
            )
        span = self._telemetry.child(
            call.record, n.SPAN_PROMPT_ENDPOINT.format(target.name), n.SERVICE_PROMPT
        )
        headers = list(req.headers)
        if span.traceparent is not None:
            headers = [h for h in headers if h[0] != "traceparent"]
            headers.append(("traceparent", span.traceparent))
        attributes = self._attributes(target, call.arguments)
        limits = Limits(total=self._timeout, connect=target.endpoint.connect_timeout)
        try:
            async with exchange(
                self._transport, req.method.encode(), req.url, headers, req.body, limits
            ) as resp:
                body = await resp.read()
                status = resp.status
        except PlanoError as err:
            span.end(error=err.code, attributes=attributes)
            raise
        attributes[n.ATTR_HTTP_STATUS] = status
        if not 200 <= status < 300:
            span.end(error="upstream_status", attributes=attributes)
            text = body[:2048].decode("utf-8", "replace")
            return EndpointError(
                status if status >= 400 else 502,  # a redirect or 1xx is no answer either
                f"upstream application error host={where(req.url)}, path={req.path},"
                f" status={status}, body={text}",
            )
        span.end(attributes=attributes)
        call.api_body = body
        return None

    def _ids(self, call: PromptCall) -> tuple[tuple[str, str], ...]:
        out = [("x-request-id", call.record.request_id or "")]
        if call.record.traceparent:
            out.append(("traceparent", call.record.traceparent))
        return tuple(out)

    def _attributes(self, target: Target, arguments: dict[str, Any]) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            n.ATTR_PROMPT_TARGET: target.name,
            n.ATTR_PROMPT_PARAMETERS: ",".join(arguments),
        }
        if self._trace_values and arguments:
            attributes[n.ATTR_PROMPT_ARGUMENTS] = orjson.dumps(arguments).decode()
        return attributes
