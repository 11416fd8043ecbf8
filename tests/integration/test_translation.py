"""Cross-dialect translation end to end: official SDKs -> gateway -> fake upstream of another API.

The fake upstream speaks OpenAI Chat Completions, so these cover Anthropic Messages and OpenAI
Responses clients translated to a chat upstream (`mistral/*` reaches chat from every client API).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_filters import Guard, Redactor, filtered  # noqa: F401 (fixture)

pytestmark = pytest.mark.integration

TOOLS_ANTHROPIC = [
    {
        "name": "get_weather",
        "description": "Weather of a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
    }
]
CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris"}},
    {"name": "get_weather", "arguments": {"city": "Rome"}},
]


def config(upstream: Any, extra: str = "") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: mistral/mistral-large
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
{extra}
"""


_clients: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def ant(gw: Any) -> anthropic.Anthropic:
    c = anthropic.Anthropic(base_url=gw.url(), api_key="client-key", max_retries=0)
    _clients.append(c)
    return c


def oai(gw: Any) -> openai.OpenAI:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="client-key", max_retries=0)
    _clients.append(c)
    return c


def post(url: str, doc: Any) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(doc).encode(),
        method="POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


# --- Anthropic client -> chat upstream --------------------------------------------------------


def test_anthropic_client_whole_message(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(
        {
            "text": "Bonjour!",
            "usage": {"prompt_tokens": 11, "completion_tokens": 3},
            "cached_tokens": 4,
        }
    )
    with gateway(config(upstream)) as gw:
        msg = ant(gw).messages.create(
            model="mistral-large",
            max_tokens=64,
            system="Be brief.",
            stop_sequences=["END"],
            messages=[{"role": "user", "content": "Say hello in French"}],
        )
    assert msg.content[0].type == "text" and msg.content[0].text == "Bonjour!"
    assert msg.stop_reason == "end_turn"
    # Anthropic input_tokens exclude cache reads; the chat prompt_tokens include them.
    assert (msg.usage.input_tokens, msg.usage.cache_read_input_tokens) == (7, 4)
    assert msg.usage.output_tokens == 3
    (req,) = upstream.requests
    assert req.path == "/chat/completions" or req.path.endswith("/chat/completions")
    assert req.body["model"] == "mistral-large"
    assert req.body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello in French"},
    ]
    assert req.body["max_completion_tokens"] == 64 and req.body["stop"] == ["END"]
    assert req.headers["authorization"] == "Bearer sk-upstream-secret"


def test_anthropic_client_streams_parallel_tool_calls(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"text": "Checking.", "tool_calls": CALLS})
    with (
        gateway(config(upstream)) as gw,
        ant(gw).messages.stream(
            model="mistral-large",
            max_tokens=100,
            tools=TOOLS_ANTHROPIC,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
        ) as stream,
    ):
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.count("message_start") == kinds.count("message_stop") == 1
    assert final.stop_reason == "tool_use"
    assert final.content[0].type == "text" and final.content[0].text == "Checking."
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert final.usage.output_tokens > 0
    body = upstream.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["tools"][0]["function"]["name"] == "get_weather"


def test_anthropic_tool_results_become_tool_messages(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(config(upstream)) as gw:
        msg = ant(gw).messages.create(
            model="mistral-large",
            max_tokens=50,
            tools=TOOLS_ANTHROPIC,  # type: ignore[arg-type]
            tool_choice={"type": "tool", "name": "get_weather"},
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"},
                        {"type": "text", "text": "And so?"},
                    ],
                },
            ],
        )
    assert msg.content[0].type == "text"
    sent = upstream.requests[0].body
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert sent["messages"][1]["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert sent["messages"][2] == {"role": "tool", "tool_call_id": "toolu_1", "content": "-3C"}
    assert sent["messages"][3] == {"role": "user", "content": "And so?"}


def test_anthropic_client_gets_upstream_errors_in_its_dialect(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"status": 429, "message": "slow down please"})
    with gateway(config(upstream)) as gw:
        with pytest.raises(anthropic.RateLimitError) as info:
            ant(gw).messages.create(
                model="mistral-large", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        status, doc = post(f"{gw.url()}/v1/messages", {"model": "mistral-large", "messages": []})
    body: Any = info.value.body
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "slow down please" in body["error"]["message"]
    assert status == 400 and doc["type"] == "error" and "max_tokens" in doc["error"]["message"]


# --- Responses client -> chat upstream --------------------------------------------------------


def test_responses_client_whole_and_streamed_with_tools(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"text": "It is sunny."}, {"tool_calls": CALLS[:1]})
    tools = [
        {
            "type": "function",
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    with gateway(config(upstream)) as gw:
        c = oai(gw)
        whole = c.responses.create(
            model="mistral-large", instructions="Be brief.", input="Weather in Paris?"
        )
        with c.responses.stream(model="mistral-large", input="Weather?", tools=tools) as s:  # type: ignore[arg-type]
            types = [e.type for e in s]
            final = s.get_final_response()
    assert whole.output_text == "It is sunny." and whole.id.startswith("resp_")
    assert whole.status == "completed" and whole.usage is not None
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    (call,) = [o for o in final.output if o.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    first, second = upstream.requests
    assert first.body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert second.body["tools"][0]["function"]["name"] == "get_weather"


def test_responses_hosted_tools_are_400(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw, pytest.raises(openai.BadRequestError) as info:
        oai(gw).responses.create(
            model="mistral-large", input="x", tools=[{"type": "web_search_preview"}]
        )
    assert "web_search_preview" in str(info.value)
    assert upstream.requests == []


def test_previous_response_id_with_memory_state(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"text": "My name is Mock."}, {"text": "You asked my name."})
    extra = "state_storage: {type: memory}\n"
    with gateway(config(upstream, extra)) as gw:
        c = oai(gw)
        first = c.responses.create(model="mistral-large", input="What is your name?")
        with c.responses.stream(
            model="mistral-large", input="What did I ask?", previous_response_id=first.id
        ) as s:
            second = s.get_final_response()
        third = c.responses.create(
            model="mistral-large", input="And then?", previous_response_id=second.id, store=False
        )
        with pytest.raises(openai.APIStatusError) as info:
            c.responses.create(model="mistral-large", input="x", previous_response_id=third.id)
    assert info.value.status_code == 409
    assert f"previous_response_id: {third.id}" in str(info.value)
    msgs = [r.body["messages"] for r in upstream.requests]
    assert msgs[1] == [
        {"role": "user", "content": "What is your name?"},
        {"role": "assistant", "content": "My name is Mock."},
        {"role": "user", "content": "What did I ask?"},
    ]
    assert msgs[2][-3:] == [
        {"role": "user", "content": "What did I ask?"},
        {"role": "assistant", "content": "You asked my name."},
        {"role": "user", "content": "And then?"},
    ]
    assert len(upstream.requests) == 3


def test_previous_response_id_without_state_storage_is_400(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(config(upstream)) as gw, pytest.raises(openai.BadRequestError) as info:
        oai(gw).responses.create(model="mistral-large", input="x", previous_response_id="resp_1")
    assert "state_storage" in str(info.value)


def test_previous_response_id_with_postgres_state(upstream: Any, gateway: GatewayFactory) -> None:
    """The gateway creates its table in the schema the connection string selects."""
    import asyncio
    import os

    import asyncpg

    schema = f"plano_it_{os.getpid()}_{os.urandom(4).hex()}"
    dsn = "postgresql://postgres@127.0.0.1:5432/test"

    async def sql(statement: str) -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetch(statement)
        finally:
            await conn.close()

    asyncio.run(sql(f'CREATE SCHEMA "{schema}"'))
    try:
        upstream.script({"text": "First answer."}, {"text": "Second answer."})
        extra = (
            f"state_storage: {{type: postgres, connection_string: '{dsn}?search_path={schema}'}}\n"
        )
        with gateway(config(upstream, extra)) as gw:
            c = oai(gw)
            with c.responses.stream(model="mistral-large", input="One?") as s:
                first = s.get_final_response()
            c.responses.create(model="mistral-large", input="Two?", previous_response_id=first.id)
            with pytest.raises(openai.APIStatusError) as info:
                c.responses.create(
                    model="mistral-large", input="x", previous_response_id="resp_nope"
                )
        rows = asyncio.run(sql(f'SELECT response_id, model FROM "{schema}".conversation_states'))
    finally:
        asyncio.run(sql(f'DROP SCHEMA "{schema}" CASCADE'))
    assert info.value.status_code == 409
    assert upstream.requests[1].body["messages"] == [
        {"role": "user", "content": "One?"},
        {"role": "assistant", "content": "First answer."},
        {"role": "user", "content": "Two?"},
    ]
    assert first.id in {r["response_id"] for r in rows} and len(rows) == 2
    assert {r["model"] for r in rows} == {"mistral/mistral-large"}


def test_broken_upstream_stream_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"fault": "malformed_chunk", "fault_after_chunks": 2})
    msgs: Any = [{"role": "user", "content": "x"}]
    with (
        gateway(config(upstream)) as gw,
        pytest.raises(anthropic.APIStatusError) as info,
        ant(gw).messages.stream(model="mistral-large", max_tokens=10, messages=msgs) as stream,
    ):
        for _ in stream:
            pass
    assert "not JSON" in str(info.value)


def test_request_of_the_wrong_shape_is_400_in_the_client_dialect(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(config(upstream)) as gw:
        status, doc = post(
            f"{gw.url()}/v1/messages",
            {
                "model": "mistral-large",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [7]}],
            },
        )
        rstatus, rdoc = post(f"{gw.url()}/v1/responses", {"model": "mistral-large", "input": 7})
    assert status == 400 and doc["type"] == "error"
    assert rstatus == 400 and rdoc["error"]["param"] == "input"
    assert upstream.requests == []


# --- chat and Anthropic clients -> Responses upstream (the chatgpt row speaks only Responses) -----
