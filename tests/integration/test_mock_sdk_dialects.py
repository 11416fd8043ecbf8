"""The official SDKs talk straight to the mock's Anthropic Messages and OpenAI Responses dialects
and parse every reply (text, tools, thinking, usage, errors), streamed and not: the fakes are
faithful to the wire formats the SDKs expect."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from plano.mock.testing import MockHandle, run_mock_in_thread

WEATHER = {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}
TIME = {"name": "get_time", "arguments": {"tz": "Europe/Paris"}}
USER = [{"role": "user", "content": "What is the weather like in Paris?"}]


@pytest.fixture(scope="module")
def server() -> Iterator[MockHandle]:
    with run_mock_in_thread(chunks=3) as handle:
        yield handle


@pytest.fixture
def mock(server: MockHandle) -> Iterator[MockHandle]:
    server.clear()
    yield server
    server.clear()


@pytest.fixture
def claude(mock: MockHandle) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=mock.base_url, api_key="k", max_retries=0) as client:
        yield client


@pytest.fixture
def oai(mock: MockHandle) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=mock.base_url + "/v1", api_key="k", max_retries=0) as client:
        yield client


# --- Anthropic Messages -------------------------------------------------------------------------


def test_anthropic_text_and_usage(mock: MockHandle, claude: anthropic.Anthropic) -> None:
    mock.script({"text": "Sunny, 21 C.", "usage": {"prompt_tokens": 30, "completion_tokens": 5}})
    msg = claude.messages.create(model="claude-sonnet-4", max_tokens=100, messages=USER)
    assert msg.id.startswith("msg_")
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "Sunny, 21 C."  # type: ignore[union-attr]
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (30, 5)
    assert mock.requests[-1].path == "/v1/messages"
    assert mock.requests[-1].body["max_tokens"] == 100


def test_anthropic_tools_thinking_cache(mock: MockHandle, claude: anthropic.Anthropic) -> None:
    mock.script(
        {
            "thinking": "The user wants weather and time.",
            "tool_calls": [WEATHER, TIME],
            "usage": {"prompt_tokens": 40, "completion_tokens": 9},
            "cached_tokens": 32,
        }
    )
    msg = claude.messages.create(model="claude-sonnet-4", max_tokens=100, messages=USER)
    thinking, *calls = msg.content
    assert thinking.type == "thinking"
    assert thinking.thinking == "The user wants weather and time."
    assert thinking.signature
    assert [(c.type, c.name, c.input) for c in calls] == [  # type: ignore[union-attr]
        ("tool_use", "get_weather", WEATHER["arguments"]),
        ("tool_use", "get_time", TIME["arguments"]),
    ]
    assert all(c.id.startswith("toolu_") for c in calls)  # type: ignore[union-attr]
    assert msg.stop_reason == "tool_use"
    assert msg.usage.input_tokens == 8
    assert msg.usage.cache_read_input_tokens == 32


def test_anthropic_stream_everything(mock: MockHandle, claude: anthropic.Anthropic) -> None:
    mock.script(
        {
            "thinking": "Think first.",
            "text": "Here you go.",
            "tool_calls": [WEATHER, TIME],
            "usage": {"prompt_tokens": 12, "completion_tokens": 20},
        }
    )
    with claude.messages.stream(model="claude-sonnet-4", max_tokens=99, messages=USER) as stream:
        kinds = [event.type for event in stream]
        msg = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("content_block_start") == 4
    assert [b.type for b in msg.content] == ["thinking", "text", "tool_use", "tool_use"]
    assert msg.content[0].thinking == "Think first."  # type: ignore[union-attr]
    assert msg.content[0].signature  # type: ignore[union-attr]
    assert msg.content[1].text == "Here you go."  # type: ignore[union-attr]
    assert msg.content[2].input == WEATHER["arguments"]  # type: ignore[union-attr]
    assert msg.content[3].input == TIME["arguments"]  # type: ignore[union-attr]
    assert msg.stop_reason == "tool_use"
    assert (msg.usage.input_tokens, msg.usage.output_tokens) == (12, 20)


def test_anthropic_max_tokens_truncates(mock: MockHandle, claude: anthropic.Anthropic) -> None:
    mock.script({"text": "x" * 100})
    msg = claude.messages.create(model="claude-sonnet-4", max_tokens=2, messages=USER)
    assert msg.stop_reason == "max_tokens"
    assert msg.content[0].text == "x" * 8  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, anthropic.BadRequestError),
        (401, anthropic.AuthenticationError),
        (404, anthropic.NotFoundError),
        (429, anthropic.RateLimitError),
        (529, anthropic.InternalServerError),
    ],
)
def test_anthropic_errors(
    mock: MockHandle, claude: anthropic.Anthropic, status: int, exc: type[Exception]
) -> None:
    mock.script({"status": status, "message": "scripted failure"})
    with pytest.raises(exc) as info:
        claude.messages.create(model="claude-sonnet-4", max_tokens=10, messages=USER)
    assert info.value.status_code == status  # type: ignore[attr-defined]
    body: Any = info.value.body  # type: ignore[attr-defined]
    assert body["type"] == "error"
    assert body["error"]["message"] == "scripted failure"


def test_anthropic_checks_requests(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        claude.post("/v1/messages", body={"model": "m", "messages": USER}, cast_to=object)


def test_anthropic_error_event_mid_stream(mock: MockHandle, claude: anthropic.Anthropic) -> None:
    mock.script({"text": "partial answer", "fault": "error_event", "fault_after_chunks": 4})
    with (
        pytest.raises(anthropic.APIStatusError, match="Overloaded"),
        claude.messages.stream(model="m", max_tokens=50, messages=USER) as stream,
    ):
        for _ in stream:
            pass


# --- OpenAI Responses ---------------------------------------------------------------------------


def test_responses_text_and_usage(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script(
        {
            "text": "Sunny.",
            "usage": {"prompt_tokens": 30, "completion_tokens": 5},
            "cached_tokens": 7,
        }
    )
    resp = oai.responses.create(model="gpt-4.1", input="Weather in Paris?", instructions="Be brief")
    assert resp.id.startswith("resp_")
    assert resp.status == "completed"
    assert resp.output_text == "Sunny."
    assert resp.usage is not None
    assert (resp.usage.input_tokens, resp.usage.output_tokens) == (30, 5)
    assert resp.usage.input_tokens_details.cached_tokens == 7
    assert mock.requests[-1].path == "/v1/responses"
    assert mock.requests[-1].body["instructions"] == "Be brief"


def test_responses_tools_and_reasoning(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"thinking": "Two lookups.", "tool_calls": [WEATHER, TIME]})
    resp = oai.responses.create(model="o4-mini", input=USER)  # type: ignore[arg-type]
    reasoning, *calls = resp.output
    assert reasoning.type == "reasoning"
    assert reasoning.summary[0].text == "Two lookups."
    assert [(c.type, c.name, json.loads(c.arguments)) for c in calls] == [  # type: ignore[union-attr]
        ("function_call", "get_weather", WEATHER["arguments"]),
        ("function_call", "get_time", TIME["arguments"]),
    ]
    assert all(c.call_id.startswith("call_") for c in calls)  # type: ignore[union-attr]
    assert resp.usage is not None and resp.usage.output_tokens_details.reasoning_tokens > 0


def test_responses_stream_everything(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"thinking": "Hmm.", "text": "Here.", "tool_calls": [WEATHER]})
    with oai.responses.stream(model="o4-mini", input="hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    numbers = [e.sequence_number for e in events]
    assert numbers == list(range(len(events)))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == "Here."
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert json.loads(args) == WEATHER["arguments"]
    assert final.output_text == "Here."
    assert [o.type for o in final.output] == ["reasoning", "message", "function_call"]


def test_responses_raw_stream_create(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"text": "abc def"})
    stream = oai.responses.create(model="gpt-4.1", input="hi", stream=True)
    done = [e for e in stream if e.type == "response.completed"]
    assert done[0].response.output_text == "abc def"


def test_responses_incomplete(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"text": "y" * 100})
    resp = oai.responses.create(model="gpt-4.1", input="hi", max_output_tokens=3)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None
    assert resp.incomplete_details.reason == "max_output_tokens"
    assert resp.output_text == "y" * 12


def test_responses_errors(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"status": 429, "message": "slow down"})
    with pytest.raises(openai.RateLimitError, match="slow down"):
        oai.responses.create(model="gpt-4.1", input="hi")
    with pytest.raises(openai.BadRequestError, match="model"):
        oai.post("/responses", body={"input": "hi"}, cast_to=object)


def test_responses_error_event_mid_stream(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"text": "partial", "fault": "error_event", "message": "boom"})
    events = list(oai.responses.create(model="gpt-4.1", input="hi", stream=True))
    assert [e.type for e in events] == ["response.created", "response.in_progress", "error"]
    assert events[-1].message == "boom"  # type: ignore[union-attr]


# --- OpenAI Chat reasoning_content --------------------------------------------------------------


def test_chat_reasoning_content(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"thinking": "pondering", "text": "42"}, {"thinking": "pondering", "text": "42"})
    done = oai.chat.completions.create(model="m", messages=USER)  # type: ignore[arg-type]
    assert done.choices[0].message.content == "42"
    assert done.choices[0].message.reasoning_content == "pondering"  # type: ignore[attr-defined]
    chunks = list(oai.chat.completions.create(model="m", messages=USER, stream=True))  # type: ignore[arg-type]
    thought = "".join(getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks)
    assert thought == "pondering"


def test_chat_error_event_mid_stream(mock: MockHandle, oai: openai.OpenAI) -> None:
    mock.script({"text": "partial", "fault": "error_event", "message": "chat stream broke"})
    stream = oai.chat.completions.create(model="m", messages=USER, stream=True)  # type: ignore[arg-type]
    with pytest.raises(openai.APIError, match="chat stream broke"):
        for _ in stream:
            pass


def test_error_event_not_streamed_is_a_500(mock: MockHandle, claude: anthropic.Anthropic) -> None:
    mock.script({"fault": "error_event", "message": "whole reply failed"})
    with pytest.raises(anthropic.InternalServerError, match="whole reply failed"):
        claude.messages.create(model="m", max_tokens=10, messages=USER)
