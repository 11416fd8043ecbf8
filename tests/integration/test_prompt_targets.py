"""Prompt targets end to end: the official OpenAI SDK -> the prompt listener -> the
function-calling model (mock-llm, as Arch-Function or a tool-calling model) -> a real local API
-> the default LLM (mock-llm)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import openai
import pytest
from aiohttp import web

from plano.mock.testing import MockHandle
from plano.runtime.serve import ThreadedGateway
from tests.conftest import GatewayFactory
from tests.integration.services import aiohttp_in_thread

pytestmark = pytest.mark.integration


# Clients made by `client()` in a test, closed after it: an unclosed client's sockets would be
# collected (and warned about) during some later test.
_OPEN: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


WEATHER_Q = "What is the weather in Seattle for 3 days?"
FORECAST = {"city": "Seattle", "forecast": "rain, 12C"}


class Api:
    """A tiny app API: records what it received, answers per path."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.fail_status = 500

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            body = await request.text()
            self.seen.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "raw_path": request.raw_path,
                    "query": dict(request.query),
                    "body": json.loads(body) if body else None,
                    "headers": {k.lower(): v for k, v in request.headers.items()},
                }
            )
            if request.path == "/fail":
                return web.Response(status=self.fail_status, text="database is down")
            if request.path == "/default_target":
                return web.json_response(chat_completion("app-model", "I am the default target."))
            return web.json_response(FORECAST)

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handle)
        return app


def chat_completion(model: str, text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-app",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    served = Api()
    with aiohttp_in_thread(served.app()) as url:
        yield served, url.split("//", 1)[1]


def config(
    upstream: MockHandle,
    host: str,
    *,
    fc_model: str = "openai/Arch-Function",
    overrides: str = "",
    default_target: bool = True,
) -> str:
    default = (
        """
  - name: default_target
    default: true
    description: Everything else.
    endpoint: {name: app, path: /default_target, http_method: POST}
    auto_llm_dispatch_on_response: false
"""
        if default_target
        else ""
    )
    return f"""
version: v0.3.0
listeners:
  - {{type: prompt, name: prompt_listener, port: 0, address: 127.0.0.1}}
  - {{type: model, name: model_listener, port: 0, address: 127.0.0.1}}
endpoints:
  app: {{endpoint: "{host}"}}
model_providers:
  - {{model: openai/gpt-4o, access_key: sk-llm, base_url: {upstream.base_url}, default: true}}
  - {{model: {fc_model}, access_key: sk-fc, base_url: {upstream.base_url}}}
  - {{model: anthropic/claude-sonnet-4-6, access_key: sk-ant, base_url: {upstream.base_url}}}
{overrides}
system_prompt: You are a helpful assistant.
prompt_targets:
  - name: get_current_weather
    description: Get current weather at a location.
    system_prompt: You are a weather expert.
    parameters:
      - name: location
        description: The location to get the weather for
        required: true
        type: string
        format: City, State
      - {{name: days, description: the number of days for the request, required: true, type: int}}
    endpoint:
      name: app
      path: /weather
      http_method: POST
      http_headers: {{Authorization: "Bearer $WEATHER_TOKEN"}}
  - name: device_status
    description: Show the status of a network device.
    parameters:
      - {{name: device_id, description: Identifier of the device, required: true, type: str}}
      - {{name: detail, description: How much detail, type: str, enum: [short, full]}}
      - {{name: refresh, description: Refresh first, type: bool, default: false}}
    endpoint: {{name: app, path: "/devices/{{device_id}}/status?source=plano", http_method: GET}}
    auto_llm_dispatch_on_response: false
  - name: order_report
    description: Report the order backlog.
    endpoint: {{name: app, path: /fail, http_method: POST}}
{default}
"""


def client(gw: ThreadedGateway) -> openai.OpenAI:
    c = openai.OpenAI(base_url=f"{gw.url('prompt')}/v1", api_key="client-key", max_retries=0)
    _OPEN.append(c)
    return c


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def by_model(upstream: MockHandle, model: str) -> list[dict[str, Any]]:
    return [r.body for r in upstream.requests if r.body.get("model") == model]


def start(gateway: GatewayFactory, text: str) -> Any:
    return gateway(text, env={"WEATHER_TOKEN": "t0k"})


def test_completed_call_non_stream(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with start(gateway, config(upstream, host)) as gw:
        reply = client(gw).chat.completions.create(model="gpt-4o", messages=user(WEATHER_Q))
    (call,) = served.seen
    assert (call["method"], call["path"]) == ("POST", "/weather")
    assert call["body"] == {"location": "Seattle", "days": 3}
    assert call["headers"]["authorization"] == "Bearer t0k"
    assert call["headers"]["x-request-id"]
    (fc,) = by_model(upstream, "Arch-Function")
    assert fc["messages"][0]["role"] == "system" and "<tools>" in fc["messages"][0]["content"]
    assert fc["messages"][-1] == {"role": "assistant", "content": '```json\n{"'}
    assert fc["continue_final_message"] is True and fc["logprobs"] is True
    assert "order_report" in fc["messages"][0]["content"]
    assert "default_target" not in fc["messages"][0]["content"]
    (final,) = by_model(upstream, "gpt-4o")
    assert "tools" not in final
    assert final["messages"][0] == {"role": "system", "content": "You are a weather expert."}
    assert final["messages"][-1]["content"] == f"{WEATHER_Q}\ncontext: {json.dumps(FORECAST)}"
    assert reply.choices[0].message.content.startswith("mock reply to: What is the weather")
    meta = reply.metadata  # type: ignore[attr-defined]
    assert json.loads(meta["x-arch-api-response-message"])["content"] == json.dumps(FORECAST)
    tool_msg = json.loads(meta["x-arch-tool-call-message"])
    assert tool_msg["model"] == "Arch-Function"
    assert tool_msg["tool_calls"][0]["function"]["name"] == "get_current_weather"
    state = json.loads(json.loads(meta["x-arch-state"])["messages"])
    assert [m["role"] for m in state] == ["assistant", "tool"]
    assert '"tool_calls"' in meta["x-arch-fc-model-response"]


def test_completed_call_stream(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with start(gateway, config(upstream, host)) as gw:
        stream = client(gw).chat.completions.create(
            model="gpt-4o", messages=user(WEATHER_Q), stream=True
        )
        chunks = list(stream)
    assert len(served.seen) == 1
    first, second = chunks[0], chunks[1]
    assert first.model == second.model == "Arch-Function"
    assert first.choices[0].delta.role == "assistant"
    call = first.choices[0].delta.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "get_current_weather"  # type: ignore[union-attr]
    assert second.choices[0].delta.role == "tool"
    assert second.choices[0].delta.content == json.dumps(FORECAST)
    rest = "".join(c.choices[0].delta.content or "" for c in chunks[2:] if c.choices)
    assert rest.startswith("mock reply to: What is the weather")
    assert {c.model for c in chunks[2:]} == {"gpt-4o"}


@pytest.mark.parametrize("stream", [False, True])
def test_clarification_then_follow_up_completes(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str], stream: bool
) -> None:
    served, host = api
    first = user("What is the weather in Seattle?")
    with start(gateway, config(upstream, host)) as gw:
        c = client(gw)
        if stream:
            chunks = list(c.chat.completions.create(model="gpt-4o", messages=first, stream=True))
            assert [ch.model for ch in chunks] == ["Arch-Function", "Arch-Function-Chat"]
            question = chunks[1].choices[0].delta.content or ""
        else:
            reply = c.chat.completions.create(model="gpt-4o", messages=first)
            assert reply.model == "Arch-Function"
            question = reply.choices[0].message.content or ""
        assert "number of days" in question
        assert served.seen == []
        follow = [*first, {"role": "assistant", "content": question}, *user("3 days please")]
        done = c.chat.completions.create(model="gpt-4o", messages=follow)
    (call,) = served.seen
    assert call["body"] == {"location": "Seattle", "days": 3}
    assert done.model == "gpt-4o"


def test_default_target_answers_unmatched_prompts(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with start(gateway, config(upstream, host)) as gw:
        c = client(gw)
        reply = c.chat.completions.create(model="gpt-4o", messages=user("Tell me a joke"))
        chunks = list(
            c.chat.completions.create(model="gpt-4o", messages=user("A joke"), stream=True)
        )
    assert reply.choices[0].message.content == "I am the default target."
    assert reply.model == "app-model"
    assert [s["path"] for s in served.seen] == ["/default_target", "/default_target"]
    assert served.seen[0]["body"] == {"messages": user("Tell me a joke")}
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "I am the default target."
    assert by_model(upstream, "gpt-4o") == []  # auto_llm_dispatch_on_response: false


def test_no_default_target_sends_the_conversation_to_the_llm(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with start(gateway, config(upstream, host, default_target=False)) as gw:
        reply = client(gw).chat.completions.create(model="gpt-4o", messages=user("Tell me a joke"))
    assert served.seen == []
    (final,) = by_model(upstream, "gpt-4o")
    assert final["messages"] == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Tell me a joke"},
    ]
    assert reply.choices[0].message.content == "mock reply to: Tell me a joke"


def test_get_with_path_and_query_parameters(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with start(gateway, config(upstream, host)) as gw:
        reply = client(gw).chat.completions.create(
            model="gpt-4o", messages=user("Show the full status of network device router-7")
        )
    (call,) = served.seen
    assert (call["method"], call["path"]) == ("GET", "/devices/router-7/status")
    assert call["query"] == {"source": "plano", "detail": "full", "refresh": "false"}
    assert call["body"] is None
    assert json.loads(reply.choices[0].message.content or "") == FORECAST  # returned as is


def test_endpoint_error_is_passed_on(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with (
        start(gateway, config(upstream, host)) as gw,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client(gw).chat.completions.create(
            model="gpt-4o", messages=user("Report the order backlog")
        )
    assert caught.value.status_code == 500
    message = caught.value.body["message"]  # type: ignore[index]
    assert "upstream application error" in message and "status=500" in message
    assert "database is down" in message
    assert [s["path"] for s in served.seen] == ["/fail"]


def test_endpoint_client_error_keeps_its_status(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    served.fail_status = 404
    with (
        start(gateway, config(upstream, host)) as gw,
        pytest.raises(openai.NotFoundError) as caught,
    ):
        client(gw).chat.completions.create(model="gpt-4o", messages=user("Report the backlog"))
    assert "status=404" in caught.value.body["message"]  # type: ignore[index]


def test_hallucinated_value_asks_instead_of_calling(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    guessed = {"name": "get_current_weather", "arguments": {"location": "Paris", "days": 3}}
    upstream.script({"model": "Arch-Function", "tool_calls": [guessed], "uncertain": ["location"]})
    with start(gateway, config(upstream, host)) as gw:
        reply = client(gw).chat.completions.create(
            model="gpt-4o", messages=user("What is the weather for 3 days?")
        )
    assert served.seen == []
    _, retry = by_model(upstream, "Arch-Function")
    assert retry["messages"][-1]["content"] == '```json\n{"required_functions": '
    assert "location" in (reply.choices[0].message.content or "")
    assert reply.model == "Arch-Function"


def test_certain_logprobs_do_not_block_the_call(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    said = {"name": "get_current_weather", "arguments": {"location": "Paris", "days": 3}}
    upstream.script({"model": "Arch-Function", "tool_calls": [said]})
    with start(gateway, config(upstream, host)) as gw:
        client(gw).chat.completions.create(model="gpt-4o", messages=user("Weather in Paris, 3d"))
    assert [s["body"] for s in served.seen] == [{"location": "Paris", "days": 3}]


def test_invalid_argument_asks_back(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    bad = {"name": "get_current_weather", "arguments": {"location": "Paris", "days": "many"}}
    upstream.script({"model": "Arch-Function", "tool_calls": [bad]})
    with start(gateway, config(upstream, host)) as gw:
        reply = client(gw).chat.completions.create(model="gpt-4o", messages=user("Paris weather"))
    assert served.seen == []
    assert "days" in (reply.choices[0].message.content or "")


@pytest.mark.parametrize(
    "fc_model",
    [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "gemini/gemini-2.0-flash",
        "amazon_bedrock/us.amazon.nova-pro-v1:0",
    ],
)
def test_native_tool_calling_backend(
    gateway: GatewayFactory,
    upstream: MockHandle,
    api: tuple[Api, str],
    fc_model: str,
) -> None:
    served, host = api
    overrides = f"overrides: {{function_calling_model: {fc_model}}}"
    with start(gateway, config(upstream, host, fc_model=fc_model, overrides=overrides)) as gw:
        c = client(gw)
        c.chat.completions.create(model="gpt-4o", messages=user(WEATHER_Q))
        joke = c.chat.completions.create(model="gpt-4o", messages=user("Tell me a joke"))
    assert [s["path"] for s in served.seen] == ["/weather", "/default_target"]
    assert served.seen[0]["body"] == {"location": "Seattle", "days": 3}
    assert joke.choices[0].message.content == "I am the default target."
    bare = fc_model.split("/", 1)[1]
    asked = [
        r.body for r in upstream.requests if r.body.get("model") == bare or bare in unquote(r.path)
    ]
    assert len(asked) == 2  # in the provider's own dialect, tools included
    assert tool_names(asked[0]) == {"get_current_weather", "device_status", "order_report"}


def tool_names(body: dict[str, Any]) -> set[str]:
    """The offered tools' names, in any dialect (OpenAI, Anthropic, Gemini, Bedrock)."""
    if "tools" in body.get("toolConfig", {}):
        return {t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]}
    names = set()
    for t in body["tools"]:
        for decl in t.get("functionDeclarations") or [t.get("function", t)]:
            names.add(decl["name"])
    return names


def test_x_arch_state_is_honoured(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    with start(gateway, config(upstream, host)) as gw:
        c = client(gw)
        first = c.chat.completions.create(model="gpt-4o", messages=user(WEATHER_Q))
        state = first.metadata["x-arch-state"]  # type: ignore[attr-defined]
        upstream.clear()
        c.chat.completions.create(
            model="gpt-4o",
            messages=user("And in Portland for 2 days?"),
            metadata={"x-arch-state": state},
        )
    (fc,) = by_model(upstream, "Arch-Function")
    texts = [m["content"] for m in fc["messages"]]
    assert any(t.startswith("<tool_call>") for t in texts)
    assert any(t.startswith("<tool_response>") and "rain, 12C" in t for t in texts)
    assert served.seen[-1]["body"] == {"location": "Portland", "days": 2}


def test_bad_input_is_a_400(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    _, host = api
    with start(gateway, config(upstream, host)) as gw:
        c = client(gw)
        with pytest.raises(openai.BadRequestError):
            c.chat.completions.create(model="gpt-4o", messages="hi")  # type: ignore[arg-type]
        req = urllib.request.Request(
            f"{gw.url('prompt')}/v1/chat/completions", data=b"{not json", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=10)
    with caught.value as answer:  # closes its connection: no socket left to the collector
        assert answer.code == 400
        assert json.loads(answer.read())["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize("stream", [False, True])
def test_the_default_llm_may_speak_another_dialect(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str], stream: bool
) -> None:
    served, host = api
    text = config(upstream, host).replace(
        "default: true}\n  - {model: openai/Arch-Function", "}\n  - {model: openai/Arch-Function"
    )
    text = text.replace(
        "claude-sonnet-4-6, access_key: sk-ant, base_url: " + upstream.base_url + "}",
        "claude-sonnet-4-6, access_key: sk-ant, base_url: "
        + upstream.base_url
        + ", default: true}",
    )
    upstream.script({"model": "claude-sonnet-4-6", "text": "Rain in Seattle, from Claude."})
    with start(gateway, text) as gw:
        c = client(gw)
        if stream:
            chunks = list(
                c.chat.completions.create(model="x", messages=user(WEATHER_Q), stream=True)
            )
            assert [ch.model for ch in chunks[:2]] == ["Arch-Function", "Arch-Function"]
            answer = "".join(ch.choices[0].delta.content or "" for ch in chunks[2:] if ch.choices)
        else:
            reply = c.chat.completions.create(model="x", messages=user(WEATHER_Q))
            answer = reply.choices[0].message.content or ""
            assert "x-arch-state" in (reply.metadata or {})  # type: ignore[attr-defined]
    assert answer == "Rain in Seattle, from Claude."
    assert len(served.seen) == 1
    (final,) = [r for r in upstream.requests if r.path.endswith("/messages")]
    assert final.body["system"] == "You are a weather expert."
    assert final.body["messages"][-1]["content"][0]["text"].endswith(json.dumps(FORECAST))


def test_unreachable_endpoint_is_a_502(gateway: GatewayFactory, upstream: MockHandle) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{s.getsockname()[1]}"
    with (
        start(gateway, config(upstream, host)) as gw,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client(gw).chat.completions.create(model="gpt-4o", messages=user(WEATHER_Q))
    assert caught.value.status_code == 502
