"""Preference routing end to end: official SDKs -> gateway -> router (fake orchestrator LLM or the
embedded MiniLM) -> fake upstream; sessions, budget, failure fallback, the routing decision API."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_model_listener import post

pytestmark = pytest.mark.integration

ROUTER = "Plano-Orchestrator"


def config(upstream: Any, routing: str = "", *, router: bool = True, extra: str = "") -> str:
    router_provider = (
        f"""
  - model: plano/{ROUTER}
    base_url: {upstream.base_url}"""
        if router
        else ""
    )
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
  - model: openai/gpt-4o-mini
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}{router_provider}
routing_preferences:
  - name: code_generation
    description: generating new code snippets, functions, or boilerplate
    models: [openai/gpt-4o]
  - name: casual_chat
    description: small talk, greetings and everyday conversation
    models: [openai/gpt-4o-mini]
{routing}
{extra}
"""


_clients: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def client(gw: Any, **kw: Any) -> openai.OpenAI:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="client-key", max_retries=0, **kw)
    _clients.append(c)
    return c


def answer(upstream: Any, text: str, **kw: Any) -> None:
    """Script the fake orchestrator's next answer."""
    upstream.script({"model": ROUTER, "text": text, **kw})


def chat(gw: Any, content: str, model: str = "openai/gpt-4o-mini", **kw: Any) -> Any:
    return client(gw).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}], **kw
    )


def llm_requests(upstream: Any) -> list[Any]:
    return [r for r in upstream.requests if r.body and r.body.get("model") != ROUTER]


def router_requests(upstream: Any) -> list[Any]:
    return [r for r in upstream.requests if r.body and r.body.get("model") == ROUTER]


EXPECTED_PROMPT = """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{"name": "code_generation", "description": "generating new code snippets, functions, or boilerplate", "parameters": {"type": "object", "properties": {}, "required": []}}
{"name": "casual_chat", "description": "small talk, greetings and everyday conversation", "parameters": {"type": "object", "properties": {}, "required": []}}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
[
    {
        "role": "user",
        "content": "hi"
    },
    {
        "role": "assistant",
        "content": "Hello! How can I help?"
    },
    {
        "role": "user",
        "content": "write a python function that reverses a list — quickly"
    }
]
</conversation>

## Instructions
1. Analyze the latest user intent from the conversation.
2. Compare it against the available routes to find which routes can help fulfill the request.
3. Respond only with the exact route names from <routes>.
4. If no routes can help or the intent is already fulfilled, return an empty list.

## Response Format
Return your answer strictly in JSON as follows:
{{"route": ["route_name_1", "route_name_2", "..."]}}
If no routes are needed, return an empty list for `route`.
"""  # noqa: E501


def test_orchestrator_prompt_and_routed_model(upstream: Any, gateway: GatewayFactory) -> None:
    answer(upstream, '{"route": ["code_generation"]}')
    with gateway(config(upstream)) as gw:
        raw = client(gw).chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini",
            messages=[
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {
                    "role": "user",
                    "content": "write a python function that reverses a list — quickly",
                },
            ],
            extra_headers={"x-request-id": "req-routing-1"},
        )
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-plano-model"] == "openai/gpt-4o"
    assert raw.headers["x-plano-route"] == "code_generation"
    assert raw.headers["x-plano-routing"] == "routed"
    assert raw.headers["x-plano-router"] == f"orchestrator:{ROUTER}"
    (router_req,) = router_requests(upstream)
    assert router_req.path == "/v1/chat/completions"
    assert router_req.body["temperature"] == 0.01
    assert router_req.body["messages"] == [{"role": "user", "content": EXPECTED_PROMPT}]
    assert router_req.headers["x-request-id"] == "req-routing-1"
    assert "authorization" not in router_req.headers
    (llm_req,) = llm_requests(upstream)
    assert llm_req.body["model"] == "gpt-4o"
    assert llm_req.headers["authorization"] == "Bearer sk-upstream-secret"


def test_single_quoted_answer_and_unknown_route(upstream: Any, gateway: GatewayFactory) -> None:
    answer(upstream, "{'route': ['casual_chat']}")
    answer(upstream, '{"route": ["no_such_route"]}')
    with gateway(config(upstream)) as gw:
        first = chat(gw, "hey, how are you today?", model="openai/gpt-4o")
        second = chat(gw, "hey again", model="openai/gpt-4o")
    assert first.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert first.headers["x-plano-route"] == "casual_chat"
    assert second.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-route"] == "none"
    assert second.headers["x-plano-routing"] == "no_route"


@pytest.mark.parametrize(
    "spec",
    [
        {"status": 500, "message": "router exploded"},
        {"text": "I think the user wants code."},
        {"text": '{"route": "code_generation"}'},
    ],
    ids=["http-500", "prose", "not-a-list"],
)
def test_router_failure_falls_back_to_requested_model(
    upstream: Any, gateway: GatewayFactory, spec: dict[str, Any]
) -> None:
    upstream.script({"model": ROUTER, **spec})
    with gateway(config(upstream)) as gw:
        raw = chat(gw, "write a python function")
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert raw.headers["x-plano-routing"] == "router_error"
    assert llm_requests(upstream)[0].body["model"] == "gpt-4o-mini"


@pytest.mark.parametrize("mode", ["orchestrator", "auto"])
def test_router_unreachable(upstream: Any, gateway: GatewayFactory, mode: str) -> None:
    extra = "overrides: {llm_routing_model: plano/Unreachable-Router}"
    text = config(upstream, f"routing: {{router: {{type: {mode}}}}}", extra=extra).replace(
        f"model: plano/{ROUTER}\n    base_url: {upstream.base_url}",
        "model: plano/Unreachable-Router\n    base_url: http://127.0.0.1:9",
    )
    with gateway(text) as gw:
        raw = chat(gw, "Write a Java class that implements a binary search tree.")
    if mode == "orchestrator":  # the requested model serves
        assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
        assert raw.headers["x-plano-routing"] == "router_error"
    else:  # auto: the embedded router stands in while the router model is unreachable
        assert raw.headers["x-plano-model"] == "openai/gpt-4o"
        assert raw.headers["x-plano-router"] == "embedded"


def test_inline_preferences_replace_config_and_are_not_forwarded(
    upstream: Any, gateway: GatewayFactory
) -> None:
    answer(upstream, '{"route": ["poetry"]}')
    inline = [{"name": "poetry", "description": "writing poems", "models": ["openai/gpt-4o"]}]
    with gateway(config(upstream)) as gw:
        raw = chat(gw, "a haiku about rain", extra_body={"routing_preferences": inline})
    assert raw.headers["x-plano-model"] == "openai/gpt-4o"
    assert raw.headers["x-plano-route"] == "poetry"
    (router_req,) = router_requests(upstream)
    assert (
        '{"name": "poetry", "description": "writing poems"'
        in (router_req.body["messages"][0]["content"])
    )
    assert "code_generation" not in router_req.body["messages"][0]["content"]
    (llm_req,) = llm_requests(upstream)
    assert "routing_preferences" not in llm_req.body


def test_inline_preferences_without_config(upstream: Any, gateway: GatewayFactory) -> None:
    text = config(upstream, router=False).split("routing_preferences:")[0]
    text += f"""  - model: plano/{ROUTER}
    base_url: {upstream.base_url}
"""
    answer(upstream, '{"route": ["poetry"]}')
    inline = [{"name": "poetry", "description": "writing poems", "models": ["openai/gpt-4o"]}]
    with gateway(text) as gw:
        raw = chat(gw, "a haiku about rain", extra_body={"routing_preferences": inline})
        plain = chat(gw, "hello")
    assert raw.headers["x-plano-model"] == "openai/gpt-4o"
    assert plain.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert "x-plano-route" not in plain.headers
    assert len(router_requests(upstream)) == 1


def test_malformed_inline_preferences_are_400(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw, pytest.raises(openai.BadRequestError) as exc:
        chat(gw, "hi", extra_body={"routing_preferences": [{"name": "x"}]})
    assert "routing_preferences" in str(exc.value)
    assert upstream.requests == []


def test_explicit_affinity_pins_the_session(upstream: Any, gateway: GatewayFactory) -> None:
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    session = {"X-Model-Affinity": f"s-{uuid.uuid4()}"}
    with gateway(config(upstream)) as gw:
        first = chat(gw, "write a sort function", extra_headers=session)
        second = chat(gw, "thanks! how is your day?", extra_headers=session)
        other = chat(gw, "thanks! how is your day?")
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-routing"] == "pinned"
    assert second.headers["x-plano-session-id"] == session["X-Model-Affinity"]
    assert other.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert len(router_requests(upstream)) == 2  # the pinned turn skipped the router


def test_route_on_user_only_replays_on_tool_turns(upstream: Any, gateway: GatewayFactory) -> None:
    answer(upstream, '{"route": ["code_generation"]}')
    messages: list[Any] = [{"role": "user", "content": "write a sort function"}]
    with gateway(config(upstream, "routing: {route_on_user_only: true}")) as gw:
        c = client(gw)
        first = c.chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=messages
        )
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "run", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        ]
        second = c.chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=messages
        )
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-routing"] == "not_user_turn"
    assert second.headers["x-plano-session-id"].startswith("implicit:")
    assert len(router_requests(upstream)) == 1


def test_warm_session_without_budget_follows_the_router(
    upstream: Any, gateway: GatewayFactory
) -> None:
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    headers = {"x-plano-max-switch-spend-pct": "100"}
    with gateway(config(upstream)) as gw:
        first = chat(gw, "write a sort function", extra_headers=headers)
        second = chat(gw, "write a sort function", extra_headers=headers)
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    # No pricing known: the budget cannot price the switch and allows it.
    assert second.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert second.headers["x-plano-routing"] == "no_pricing"


def test_routing_decision_api(upstream: Any, gateway: GatewayFactory) -> None:
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, "{}")
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "code pls"}]}
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with gateway(config(upstream)) as gw:
        status, headers, doc = post(
            f"{gw.url()}/routing/v1/chat/completions",
            json.dumps(body).encode(),
            {"traceparent": tp, "X-Model-Affinity": "api-session"},
        )
        status2, _, none = post(
            f"{gw.url()}/routing/v1/messages",
            json.dumps(
                {"model": "x", "max_tokens": 5, "messages": [{"role": "user", "content": "hm"}]}
            ).encode(),
        )
    assert status == 200
    assert doc == {
        "models": ["openai/gpt-4o"],
        "route": "code_generation",
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
        "session_id": "api-session",
        "pinned": False,
        "switched": False,
    }
    assert headers["x-plano-route"] == "code_generation"
    assert status2 == 200
    assert none["models"] == ["none"] and none["route"] is None
    assert len(none["trace_id"]) == 32 and "session_id" not in none
    assert llm_requests(upstream) == []  # no model was called


def test_messages_body_is_routed(upstream: Any, gateway: GatewayFactory) -> None:
    answer(upstream, '{"route": ["code_generation"]}')
    body = {
        "model": "openai/gpt-4o-mini",
        "max_tokens": 64,
        "system": "be brief",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "write code"}]}],
    }
    with gateway(config(upstream)) as gw:
        status, _, doc = post(f"{gw.url()}/routing/v1/messages", json.dumps(body).encode())
    assert status == 200 and doc["models"] == ["openai/gpt-4o"]
    prompt = router_requests(upstream)[0].body["messages"][0]["content"]
    assert '"content": "write code"' in prompt and "be brief" not in prompt


@pytest.mark.parametrize("explicit", [True, False], ids=["router-embedded", "auto-no-router-model"])
def test_embedded_router(upstream: Any, gateway: GatewayFactory, explicit: bool) -> None:
    routing = "routing: {router: {type: embedded}}" if explicit else ""
    # With `auto` and no router model declared, the embedded router serves (no network).
    with gateway(config(upstream, routing, router=explicit)) as gw:
        code = chat(gw, "Write a Java class that implements a binary search tree.")
        chatty = chat(gw, "hey, good morning! how are you doing today?", model="openai/gpt-4o")
        off = chat(gw, "What's the weather like in Paris today?")
    assert code.headers["x-plano-model"] == "openai/gpt-4o"
    assert code.headers["x-plano-route"] == "code_generation"
    assert chatty.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert off.headers["x-plano-route"] == "none"
    assert off.headers["x-plano-model"] == "openai/gpt-4o-mini"  # the requested model
    assert router_requests(upstream) == []
    assert [r.body["model"] for r in llm_requests(upstream)] == [
        "gpt-4o",
        "gpt-4o-mini",
        "gpt-4o-mini",
    ]
