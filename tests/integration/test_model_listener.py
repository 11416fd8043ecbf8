"""The model listener end to end: the official OpenAI SDK -> gateway -> fake upstream."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration


def config(upstream: Any, extra: str = "", *, default: bool = True) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: {str(default).lower()}
  - model: openai/gpt-4o-mini
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
{extra}
"""


_clients: list[openai.OpenAI | anthropic.Anthropic] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def client(gw: Any, **kw: Any) -> openai.OpenAI:
    c = openai.OpenAI(
        base_url=f"{gw.url()}/v1", api_key=kw.pop("api_key", "client-key"), max_retries=0, **kw
    )
    _clients.append(c)
    return c


def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    req = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.headers, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as err:
        with err:
            return err.code, err.headers, json.loads(err.read() or b"null")


def test_non_streaming_chat(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw:
        raw = client(gw).chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hello there"}]
        )
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    (req,) = upstream.requests
    assert req.path == "/v1/chat/completions"
    assert req.body["model"] == "gpt-4o-mini"
    assert req.body["messages"] == [{"role": "user", "content": "hello there"}]
    assert req.headers["authorization"] == "Bearer sk-upstream-secret"
    assert completion.model == "gpt-4o-mini"


def test_streaming_chat_relays_every_chunk(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"text": "one two three four five six", "chunks": 6})
    with gateway(config(upstream)) as gw:
        stream = client(gw).chat.completions.create(
            model="gpt-4o",
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "count"}],
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three four five six"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 6
    assert chunks[-1].usage is not None
    assert upstream.requests[0].body["stream"] is True


def test_unchanged_body_is_forwarded_byte_for_byte(upstream: Any, gateway: GatewayFactory) -> None:
    body = b'{"model":"gpt-4o","messages":[{"role":"user","content":"x"}],"zz_unknown":{"k":1}}'
    with gateway(config(upstream)) as gw:
        status, _, _ = post(f"{gw.url()}/v1/chat/completions", body)
    assert status == 200
    assert upstream.requests[0].raw_body_len == len(body)
    assert upstream.requests[0].body["zz_unknown"] == {"k": 1}


def test_tool_calls_pass_through(upstream: Any, gateway: GatewayFactory) -> None:
    calls = [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_time", "arguments": {"tz": "CET"}},
    ]
    upstream.script({"tool_calls": calls}, {"tool_calls": calls})
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time")
    ]
    msgs = [{"role": "user", "content": "weather and time in Paris?"}]
    with gateway(config(upstream)) as gw:
        c = client(gw)
        whole = c.chat.completions.create(model="gpt-4o", messages=msgs, tools=tools)
        streamed = list(
            c.chat.completions.create(model="gpt-4o", messages=msgs, tools=tools, stream=True)
        )
    got = whole.choices[0].message.tool_calls or []
    assert [(t.function.name, json.loads(t.function.arguments)) for t in got] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "CET"}),
    ]
    args: dict[int, str] = {}
    for chunk in streamed:
        for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")
    assert [json.loads(a) for _, a in sorted(args.items())] == [{"city": "Paris"}, {"tz": "CET"}]
    assert upstream.requests[0].body["tools"] == tools


def test_alias_resolves_to_target(upstream: Any, gateway: GatewayFactory) -> None:
    extra = "model_aliases:\n  fast: {target: gpt-4o-mini}\n"
    with gateway(config(upstream, extra)) as gw:
        raw = client(gw).chat.completions.with_raw_response.create(
            model="fast", messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert upstream.requests[0].body["model"] == "gpt-4o-mini"


def test_wildcard_provider_serves_any_model_of_its_prefix(
    upstream: Any, gateway: GatewayFactory
) -> None:
    extra = f"""  - model: groq/*
    access_key: gsk-secret
    base_url: {upstream.base_url}/openai/v1
"""
    with gateway(config(upstream, extra)) as gw:
        raw = client(gw).chat.completions.with_raw_response.create(
            model="groq/llama-3.3-70b", messages=[{"role": "user", "content": "hi"}]
        )
    assert raw.headers["x-plano-model"] == "groq/llama-3.3-70b"
    req = upstream.requests[0]
    assert req.path == "/openai/v1/chat/completions"
    assert req.body["model"] == "llama-3.3-70b"
    assert req.headers["authorization"] == "Bearer gsk-secret"


@pytest.mark.parametrize("model", ["not-a-configured-model", None])
def test_unknown_or_missing_model_uses_default_provider(
    upstream: Any, gateway: GatewayFactory, model: str | None
) -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": "hi"}]}
    if model:
        body["model"] = model
    with gateway(config(upstream)) as gw:
        status, headers, doc = post(f"{gw.url()}/v1/chat/completions", json.dumps(body).encode())
    assert status == 200
    assert headers["x-plano-model"] == "openai/gpt-4o"
    assert doc["model"] == "gpt-4o"
    assert upstream.requests[0].body["model"] == "gpt-4o"


def test_unknown_model_without_default_is_400_naming_it(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with (
        gateway(config(upstream, default=False)) as gw,
        pytest.raises(openai.BadRequestError) as info,
    ):
        client(gw).chat.completions.create(
            model="mystery-model", messages=[{"role": "user", "content": "hi"}]
        )
    assert "mystery-model" in str(info.value)
    assert info.value.code == "model_not_found"
    assert upstream.requests == []


def test_passthrough_auth_forwards_client_credential(
    upstream: Any, gateway: GatewayFactory
) -> None:
    extra = f"""  - model: custom/proxy-model
    base_url: {upstream.base_url}
    provider_interface: openai
    passthrough_auth: true
"""
    with gateway(config(upstream, extra)) as gw:
        client(gw, api_key="sk-client-virtual-key").chat.completions.create(
            model="custom/proxy-model", messages=[{"role": "user", "content": "hi"}]
        )
        post(
            f"{gw.url()}/v1/chat/completions",
            b'{"model":"proxy-model","messages":[{"role":"user","content":"x"}]}',
            {"x-api-key": "sk-from-x-api-key"},
        )
    first, second = upstream.requests
    assert first.headers["authorization"] == "Bearer sk-client-virtual-key"
    assert second.headers["authorization"] == "Bearer sk-from-x-api-key"
    assert "x-api-key" not in second.headers


def test_client_credential_is_replaced_without_passthrough(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(config(upstream)) as gw:
        client(gw, api_key="sk-client-should-not-leak").chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    headers = upstream.requests[0].headers
    assert headers["authorization"] == "Bearer sk-upstream-secret"
    assert "sk-client-should-not-leak" not in json.dumps(headers)


def test_provider_headers_http_host_and_request_id(upstream: Any, gateway: GatewayFactory) -> None:
    extra = f"""  - model: openai/special
    access_key: k
    base_url: {upstream.base_url}/prefix/v9
    http_host: api.example.test
    headers: {{User-Agent: "KimiCLI/1.3", X-Org: acme}}
"""
    with gateway(config(upstream, extra)) as gw:
        c = client(gw, default_headers={"x-request-id": "req-123", "User-Agent": "sdk/1"})
        raw = c.chat.completions.with_raw_response.create(
            model="openai/special", messages=[{"role": "user", "content": "hi"}]
        )
    req = upstream.requests[0]
    assert req.path == "/prefix/v9/chat/completions"
    assert req.headers["host"] == "api.example.test"
    assert req.headers["user-agent"] == "KimiCLI/1.3"
    assert req.headers["x-org"] == "acme"
    assert req.headers["x-request-id"] == "req-123"
    assert raw.headers["x-request-id"] == "req-123"


def test_request_id_generated_when_absent(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw:
        _, headers, _ = post(f"{gw.url()}/v1/chat/completions", b'{"model":"gpt-4o","messages":[]}')
    generated = headers["x-request-id"]
    assert len(generated) == 32
    assert upstream.requests[0].headers["x-request-id"] == generated


def test_azure_uses_deployment_path_and_api_key(upstream: Any, gateway: GatewayFactory) -> None:
    extra = f"""  - model: azure_openai/my-deployment
    access_key: azure-secret
    base_url: {upstream.base_url}
"""
    with gateway(config(upstream, extra)) as gw:
        client(gw).chat.completions.create(
            model="azure_openai/my-deployment", messages=[{"role": "user", "content": "hi"}]
        )
    req = upstream.requests[0]
    assert req.path == "/openai/deployments/my-deployment/chat/completions"
    assert "api-version=" in req.query
    assert req.headers["api-key"] == "azure-secret"
    assert "authorization" not in req.headers


def test_bedrock_is_translated_for_every_client_api(upstream: Any, gateway: GatewayFactory) -> None:
    """Bedrock used to answer 501; every client API now reaches it over Converse."""
    extra = f"""  - model: amazon_bedrock/us.amazon.nova-pro-v1:0
    access_key: bedrock-token
    base_url: {upstream.base_url}
"""
    with gateway(config(upstream, extra)) as gw:
        resp = client(gw).chat.completions.create(
            model="us.amazon.nova-pro-v1:0", messages=[{"role": "user", "content": "hi"}]
        )
        assert resp.choices[0].message.content == "mock reply to: hi"
        ac = anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0)
        _clients.append(ac)
        msg = ac.messages.create(
            model="us.amazon.nova-pro-v1:0",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
        )
        assert msg.content[0].type == "text"
    paths = [r.path for r in upstream.requests]
    assert paths == ["/model/us.amazon.nova-pro-v1%3A0/converse"] * 2
    assert all(r.headers["authorization"] == "Bearer bedrock-token" for r in upstream.requests)


def test_malformed_json_is_400_in_openai_dialect(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw:
        status, _, doc = post(f"{gw.url()}/v1/chat/completions", b'{"model": "gpt-4o",')
        status2, _, doc2 = post(f"{gw.url()}/v1/chat/completions", b"[1, 2]")
        status3, _, doc3 = post(f"{gw.url()}/v1/messages", b"not json")
    assert status == 400 and doc["error"]["type"] == "invalid_request_error"
    assert "not valid JSON" in doc["error"]["message"]
    assert status2 == 400 and "JSON object" in doc2["error"]["message"]
    assert status3 == 400 and doc3["type"] == "error"
    assert doc3["error"]["type"] == "invalid_request_error"
    assert upstream.requests == []


def test_oversized_body_is_413(upstream: Any, gateway: GatewayFactory) -> None:
    big = json.dumps(
        {"model": "gpt-4o", "messages": [{"role": "user", "content": "x" * 5000}]}
    ).encode()
    with gateway(config(upstream), max_body_bytes=4096) as gw:
        status, _, doc = post(f"{gw.url()}/v1/chat/completions", big)
        ok, _, _ = post(f"{gw.url()}/v1/chat/completions", b'{"model":"gpt-4o","messages":[]}')
    assert status == 413
    assert "4096" in doc["error"]["message"]
    assert ok == 200


def test_unknown_path_404_and_wrong_method_405(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw:
        status, _, doc = post(f"{gw.url()}/v1/nothing-here", b"{}")
        req = urllib.request.Request(f"{gw.url()}/v1/chat/completions", method="GET")
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=10)
        info.value.close()
    assert status == 404 and doc["error"]["type"] == "not_found_error"
    assert info.value.code == 405


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (429, openai.RateLimitError),
        (503, openai.InternalServerError),
        (400, openai.BadRequestError),
    ],
)
def test_upstream_errors_pass_through(
    upstream: Any, gateway: GatewayFactory, status: int, exc: type[openai.APIStatusError]
) -> None:
    upstream.script(
        {
            "status": status,
            "body": {"error": {"message": f"upstream said {status}", "type": "x", "code": "y"}},
        }
    )
    with gateway(config(upstream)) as gw, pytest.raises(exc) as info:
        client(gw).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == status
    assert f"upstream said {status}" in str(info.value)


def test_models_endpoint_lists_configured_models(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream, "  - {model: anthropic/*, access_key: k}\n")) as gw:
        models = client(gw).models.list()
    assert [m.id for m in models.data] == ["openai/gpt-4o", "openai/gpt-4o-mini"]
    assert {m.owned_by for m in models.data} == {"OpenAI"}


def test_healthz_on_every_listener_and_cors(upstream: Any, gateway: GatewayFactory) -> None:
    extra = """agents: [{id: a1, url: "http://127.0.0.1:9"}]
"""
    text = config(upstream, extra).replace(
        "listeners:\n",
        "listeners:\n  - {name: agents, type: agent, address: 127.0.0.1, "
        "port: 0, agents: [{id: a1, description: test agent}]}\n",
    )
    with gateway(text) as gw:
        for kind in ("model", "agent"):
            with urllib.request.urlopen(f"{gw.url(kind)}/healthz", timeout=5) as resp:
                assert resp.status == 200
        req = urllib.request.Request(f"{gw.url()}/v1/models", method="OPTIONS")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 204
            assert resp.headers["access-control-allow-origin"] == "*"
            assert "POST" in resp.headers["access-control-allow-methods"]
        status, _, doc = post(f"{gw.url('agent')}/v1/chat/completions", b"{}")
    # the agent listener serves its API (docs/agents.md): a body without messages is refused
    assert status == 400 and "messages" in doc["error"]["message"]


def test_connect_refused_is_502(gateway: GatewayFactory) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed when the block ends: nothing listens there
    text = f"""
version: v0.4.0
listeners: [{{name: llm, type: model, address: 127.0.0.1, port: 0}}]
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: "http://127.0.0.1:{dead}", default: true}}
"""
    with gateway(text) as gw, pytest.raises(openai.APIStatusError) as info:
        client(gw).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 502
    assert "127.0.0.1" in str(info.value)


def test_listener_timeout_bounds_the_upstream_call(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"fault": "hang"})
    text = config(upstream).replace("timeout: 5s", "timeout: 0.3s")
    with gateway(text) as gw, pytest.raises(openai.APIStatusError) as info:
        client(gw).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
    assert info.value.status_code == 504


def test_mid_stream_disconnect_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"fault": "disconnect_mid_stream", "fault_after_chunks": 2, "chunks": 6})
    with gateway(config(upstream)) as gw:
        stream = client(gw).chat.completions.create(
            model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
        received = []
        with pytest.raises(openai.APIError) as info:
            for chunk in stream:
                received.append(chunk)
    assert received, "chunks before the fault reach the client"
    assert "upstream" in str(info.value)


def test_same_dialect_passthrough_for_messages_and_responses(
    upstream: Any, gateway: GatewayFactory
) -> None:
    """Anthropic client -> anthropic provider, Responses client -> openai provider: forwarded
    untranslated with each API's auth style (the fake upstream speaks both APIs)."""
    extra = f"""  - model: anthropic/claude-sonnet-4-6
    access_key: sk-ant-secret
    base_url: {upstream.base_url}
"""
    with gateway(config(upstream, extra)) as gw:
        ac = anthropic.Anthropic(base_url=gw.url(), api_key="client", max_retries=0)
        _clients.append(ac)
        reply = ac.messages.create(
            model="claude-sonnet-4-6",
            max_tokens=16,
            messages=[{"role": "user", "content": "hi"}],
        )
        assert reply.type == "message"
        assert client(gw).responses.create(model="openai/gpt-4o", input="hi").output
        post(f"{gw.url()}/v1/messages", b'{"model":"claude-sonnet-4-6","max_tokens":1}')
    messages, responses, bare = upstream.requests
    assert messages.path == "/v1/messages"
    assert messages.headers["x-api-key"] == "sk-ant-secret"
    # The SDK names its API version and keeps it; a client that names none gets ours.
    assert "," not in messages.headers["anthropic-version"]
    assert bare.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in messages.headers
    assert messages.body["model"] == "claude-sonnet-4-6"
    assert responses.path == "/v1/responses"
    assert responses.body == {"model": "gpt-4o", "input": "hi"}
    assert responses.headers["authorization"] == "Bearer sk-upstream-secret"


def test_overhead_header_on_whole_and_streamed_responses(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"first_byte_delay_ms": 50}, {"first_byte_delay_ms": 50})
    msgs = [{"role": "user", "content": "hi"}]
    with gateway(config(upstream)) as gw:
        c = client(gw)
        whole = c.chat.completions.with_raw_response.create(model="gpt-4o", messages=msgs)
        with c.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=msgs, stream=True
        ) as streamed:
            list(streamed.parse())
    for headers in (whole.headers, streamed.headers):
        overhead = float(headers["x-plano-overhead-ms"])
        # The upstream's 50 ms wait is excluded: what is left is the gateway's own time.
        assert 0 <= overhead < 50
