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

TOOLS_CHAT = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def responses_config(upstream: Any) -> str:
    return config(
        upstream,
        f"""  - model: chatgpt/gpt-5-codex
    access_key: sk-codex
    base_url: {upstream.base_url}
""",
    )


def test_chat_client_to_responses_upstream(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(
        {"text": "Sunny.", "thinking": "Look it up.", "cached_tokens": 2},
        {"text": "Checking.", "tool_calls": CALLS, "thinking": "Two cities."},
    )
    msgs: Any = [{"role": "user", "content": "Weather?"}]
    with gateway(responses_config(upstream)) as gw:
        c = oai(gw)
        whole = c.chat.completions.create(model="gpt-5-codex", messages=msgs)
        chunks = list(
            c.chat.completions.create(
                model="gpt-5-codex",
                messages=msgs,
                tools=TOOLS_CHAT,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert whole.choices[0].message.content == "Sunny."
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None and whole.usage.prompt_tokens_details is not None
    assert whole.usage.prompt_tokens_details.cached_tokens == 2
    first, second = upstream.requests
    assert first.path.endswith("/responses") and first.body["input"][0]["role"] == "user"
    # the Codex backend answers only streams: the non-streaming request was streamed and folded
    assert first.body["stream"] is True and first.body["store"] is False
    assert second.body["stream"] is True and second.body["tools"][0]["name"] == "get_weather"
    args: dict[int, str] = {}
    text = ""
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")  # type: ignore[union-attr]
    assert text == "Checking."
    assert [json.loads(a) for _, a in sorted(args.items())] == [{"city": "Paris"}, {"city": "Rome"}]
    finishes = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_anthropic_client_to_responses_upstream_keeps_thinking(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"text": "Done.", "thinking": "Step by step."}, {"tool_calls": CALLS[:1]})
    with gateway(responses_config(upstream)) as gw:
        with ant(gw).messages.stream(
            model="gpt-5-codex",
            max_tokens=200,
            messages=[{"role": "user", "content": "Think, then answer."}],
        ) as stream:
            final = stream.get_final_message()
        tool = ant(gw).messages.create(
            model="gpt-5-codex",
            max_tokens=200,
            tools=TOOLS_ANTHROPIC,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Weather?"}],
        )
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Step by step."  # type: ignore[union-attr]
    assert final.content[1].text == "Done."  # type: ignore[union-attr]
    assert tool.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in tool.content if b.type == "tool_use"] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert upstream.requests[0].body["max_output_tokens"] == 200
    assert all(r.body["stream"] is True for r in upstream.requests)


def test_unreachable_state_store_is_503_and_nothing_is_sent(
    upstream: Any, gateway: GatewayFactory
) -> None:
    dead = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    extra = f"state_storage: {{type: postgres, connection_string: '{dead}'}}\n"
    with gateway(config(upstream, extra)) as gw, pytest.raises(openai.APIStatusError) as info:
        oai(gw).responses.create(model="mistral-large", input="x", previous_response_id="resp_1")
    assert info.value.status_code == 503
    assert upstream.requests == []


def test_count_tokens_estimated_or_forwarded(upstream: Any, gateway: GatewayFactory) -> None:
    extra = f"""  - model: anthropic/claude-sonnet-4-5
    access_key: sk-ant
    base_url: {upstream.base_url}
"""
    short: Any = [{"role": "user", "content": "hi"}]
    long: Any = [{"role": "user", "content": "a much longer question " * 40}]
    with gateway(config(upstream, extra)) as gw:
        c = ant(gw)
        small = c.messages.count_tokens(model="mistral-large", messages=short)
        big = c.messages.count_tokens(model="mistral-large", messages=long, system="Be brief.")
        with pytest.raises(anthropic.NotFoundError):  # the fake Anthropic has no count endpoint
            c.messages.count_tokens(model="claude-sonnet-4-5", messages=short)
    assert 0 < small.input_tokens < big.input_tokens
    assert 200 < big.input_tokens < 400  # ~920 bytes of text
    (native,) = upstream.requests  # only the Anthropic provider was called
    assert native.path == "/v1/messages/count_tokens"
    assert native.headers["x-api-key"] == "sk-ant"


def test_anthropic_and_responses_clients_to_azure_deployment(
    upstream: Any, gateway: GatewayFactory
) -> None:
    extra = f"""  - model: azure_openai/my-deployment
    access_key: azure-secret
    base_url: {upstream.base_url}
"""
    with gateway(config(upstream, extra)) as gw:
        msg = ant(gw).messages.create(
            model="my-deployment", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        resp = oai(gw).responses.create(model="azure_openai/my-deployment", input="hi")
    assert msg.content[0].type == "text" and resp.output_text
    for req in upstream.requests:
        assert req.path == "/openai/deployments/my-deployment/chat/completions"
        assert "api-version=" in req.query and req.headers["api-key"] == "azure-secret"


def test_filters_see_the_client_dialect_on_translated_requests(
    upstream: Any,
    filtered: tuple[Any, Guard, Redactor],  # noqa: F811 (the fixture imported above)
) -> None:
    """Input filters get the client's body; output filters get the client's bytes (translated)."""
    gw, guard, redactor = filtered
    upstream.script({"text": "qq says hi"}, {"text": "qq qq", "chunks": 2})
    c = ant(gw)
    msgs: Any = [{"role": "user", "content": "Weather in Paris?"}]
    whole = c.messages.create(model="gpt-4o-mini", max_tokens=50, messages=msgs)
    with c.messages.stream(model="gpt-4o-mini", max_tokens=50, messages=msgs) as stream:
        final = stream.get_final_message()
    assert whole.content[0].text == "QQ says hi"  # type: ignore[union-attr]
    assert final.content[0].text == "QQ QQ"  # type: ignore[union-attr]
    assert [r.body["messages"][-1]["content"] for r in upstream.requests] == [
        "Weather in Paris? [guarded]"
    ] * 2
    assert [seen[0] for seen in guard.seen] == ["/v1/messages"] * 2
    assert b'"type":"message"' in redactor.chunks[0]  # Anthropic bytes, not chat
    assert any(chunk.startswith(b"event: ") for chunk in redactor.chunks[1:])
