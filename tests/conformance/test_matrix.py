"""Every cell of the conformance matrix: one SDK call through the gateway to the fake upstream,
then what the upstream received and what the SDK parsed."""

from __future__ import annotations

from typing import Any, Final

import pytest

from plano.mock.request import MockRequest
from tests.conformance.clients import (
    DRIVERS,
    ERRORS,
    MAX_TOKENS,
    PRIOR_ARGS,
    SYSTEM,
    TOOL_RESULT,
    TOOLS,
    USER,
    Parsed,
)
from tests.conformance.conftest import Env, model_for
from tests.conformance.matrix import (
    FORCES_STREAM,
    Cell,
    all_cells,
    known_failure,
    not_applicable,
    route,
)
from tests.conformance.upstream_views import VIEWS, Seen

pytestmark = pytest.mark.integration

WEATHER_CALL: Final = {"name": "get_weather", "arguments": {"city": "Paris"}}
TIME_CALL: Final = {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}
THINKING: Final = "The user wants the current weather in Paris; answer briefly."
ERROR_MESSAGE: Final = "conformance: the upstream refused this request"
USAGE: Final = {"prompt_tokens": 40, "completion_tokens": 9}
CACHED: Final = 16

SCRIPTS: Final[dict[str, dict[str, Any]]] = {
    "text": {"text": "It is sunny in Paris, 18 degrees."},
    "tools": {"tool_calls": [TIME_CALL]},
    "parallel_tools": {"tool_calls": [WEATHER_CALL, TIME_CALL]},
    "thinking": {"thinking": THINKING, "text": "Sunny."},
    "errors": {"status": 400, "message": ERROR_MESSAGE, "times": 0},
    "usage": {"text": "ok", "usage": USAGE, "cached_tokens": CACHED},
}


def _param(cell: Cell) -> Any:
    reason = known_failure(cell)
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(cell, id=cell.id, marks=marks)


def _upstream_request(env: Env) -> MockRequest:
    requests = [r for r in env.mock.requests if not r.path.startswith("/_mock")]
    assert requests, "the upstream received no request"
    return requests[0]


def _check_upstream(cell: Cell, seen: Seen, model_id: str) -> None:
    row = route(cell.client, cell.upstream)
    assert row is not None
    assert seen.model == model_id
    if row.prefix in FORCES_STREAM:  # the vendor may only stream; the gateway then collects
        assert seen.streamed in (True, cell.stream)
    else:
        assert seen.streamed is cell.stream
    assert SYSTEM in seen.system
    assert USER in seen.user_text
    if cell.feature == "thinking":
        assert seen.max_tokens is not None  # a translator may add the thinking budget to it
        assert seen.thinking_requested
    else:
        assert seen.max_tokens == MAX_TOKENS
    if cell.feature in ("tools", "parallel_tools"):
        assert seen.tools == TOOLS
    if cell.feature == "tools":
        (call,) = seen.history_calls
        assert call[1:] == ("get_weather", PRIOR_ARGS)
        ((answers, result),) = seen.tool_results
        assert answers == call[0]
        assert TOOL_RESULT in result


def _check_parsed(cell: Cell, parsed: Parsed) -> None:
    script = SCRIPTS[cell.feature]
    if cell.stream:
        assert parsed.events > 0
    if cell.feature in ("tools", "parallel_tools"):
        calls = script["tool_calls"]
        assert [(name, args) for _, name, args in parsed.tool_calls] == [
            (c["name"], c["arguments"]) for c in calls
        ]
        ids = [call_id for call_id, _, _ in parsed.tool_calls]
        assert all(ids) and len(set(ids)) == len(ids)
        assert parsed.finish == "tool_calls"
        assert parsed.text == ""
        return
    assert parsed.text == script["text"]
    assert parsed.finish == "stop"
    assert parsed.tool_calls == []
    if cell.feature == "thinking":
        assert parsed.thinking == THINKING
    if cell.feature == "usage":
        assert parsed.prompt_tokens == USAGE["prompt_tokens"]
        assert parsed.completion_tokens == USAGE["completion_tokens"]
        assert parsed.cached_tokens == CACHED


def _check_error(cell: Cell, exc: Exception) -> None:
    assert isinstance(exc, ERRORS[cell.client]), f"{type(exc).__name__}: {exc}"
    assert getattr(exc, "status_code", None) == 400
    assert ERROR_MESSAGE in str(exc)
    body: Any = getattr(exc, "body", None)
    if cell.client == "anthropic_messages":
        assert isinstance(body, dict) and body.get("type") == "error"
        assert body["error"]["type"] == "invalid_request_error"
    else:
        assert isinstance(body, dict) and ERROR_MESSAGE in body.get("message", "")


@pytest.mark.parametrize("cell", [_param(c) for c in all_cells()])
def test_cell(cell: Cell, env: Env) -> None:
    reason = not_applicable(cell)
    if reason is not None:
        pytest.skip(reason)
    model, model_id = model_for(cell.client, cell.upstream)
    env.mock.script(SCRIPTS[cell.feature])
    drive = DRIVERS[cell.client]
    if cell.feature == "errors":
        with pytest.raises(Exception) as info:
            drive(env.url, model, cell.feature, cell.stream)
        _check_error(cell, info.value)
    else:
        parsed = drive(env.url, model, cell.feature, cell.stream)
        _check_parsed(cell, parsed)
    request = _upstream_request(env)
    _check_upstream(cell, VIEWS[cell.upstream](request), model_id)
