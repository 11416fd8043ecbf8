"""The `type: pii` filter end to end, with the official SDKs: PII never reaches the upstream (the
fake records what it received) and comes back restored to the client (the fake echoes the
user's text, placeholders included, in many small stream chunks so placeholders are split).
Passthrough (client and provider speak the same API) and translated paths, stream and not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory
from tests.integration.test_agents import post
from tests.integration.test_filters import agent_config
from tests.integration.test_metrics import scrape_until, value
from tests.integration.test_tracing import Receiver, env, receiver  # noqa: F401 (fixtures)

pytestmark = pytest.mark.integration


# Clients made by `client()` in a test, closed after it: an unclosed client's sockets would be
# collected (and warned about) during some later test.
_OPEN: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


EMAIL = "alice@example.com"
PHONE = "+33 6 12 34 56 78"
CARD = "4111 1111 1111 1111"
KEY = "AKIAIOSFODNN7EXAMPLE"
PROMPT = f"Mail {EMAIL}, call {PHONE}."  # redacted: "Mail <EMAIL_1>, call <PHONE_1>."
ECHO = f"mock reply to: {PROMPT}"  # the fake echoes the (redacted) prompt; the client reads this
SECRETS = (EMAIL, PHONE, CARD, KEY, "Alice", "12 34 56")


@pytest.fixture
def echo() -> Iterator[MockHandle]:
    """A fake upstream (every API) whose streams come in ~2-character chunks."""
    with run_mock_in_thread(chunks=24) as handle:
        yield handle


def config(upstream: MockHandle) -> str:
    return f"""
version: v0.4.0
filters:
  - id: pii
    type: pii
    entities: {{email: redact, phone: redact, card: mask, secret: block, name: redact}}
    names: [Alice Martin]
listeners:
  - name: llm
    type: model
    address: 127.0.0.1
    port: 0
    timeout: 20s
    input_filters: [pii]
    output_filters: [pii]
model_providers:
  - {{model: openai/gpt-4o, access_key: k1, base_url: {upstream.base_url}, default: true}}
  - {{model: anthropic/claude-pii-test, access_key: k2, base_url: {upstream.base_url}}}
  - {{model: mistral/mistral-large, access_key: k3, base_url: {upstream.base_url}}}
"""


def leaked(upstream: MockHandle) -> list[str]:
    """PII values found in anything the upstream received."""
    sent = json.dumps([r.body for r in upstream.requests])
    return [s for s in SECRETS if s in sent]


def user_text(upstream: MockHandle) -> str:
    (req,) = upstream.requests
    body = req.body
    if "input" in body:  # Responses
        content = body["input"] if isinstance(body["input"], str) else body["input"][-1]["content"]
    else:
        content = body["messages"][-1]["content"]
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content)
    return str(content)


@pytest.fixture
def gw(echo: MockHandle, gateway: GatewayFactory) -> Iterator[Any]:
    with gateway(config(echo)) as g:
        yield g


def oai(gw: Any) -> openai.OpenAI:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="client", max_retries=0)
    _OPEN.append(c)
    return c


def ant(gw: Any) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url(), api_key="client", max_retries=0)


@pytest.mark.parametrize("model", ["gpt-4o", "mistral-large"])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat(gw: Any, echo: MockHandle, model: str, stream: bool) -> None:
    messages: Any = [
        {"role": "system", "content": "You help Alice Martin."},
        {"role": "user", "content": PROMPT},
    ]
    with oai(gw) as c:
        if stream:
            chunks = c.chat.completions.create(model=model, messages=messages, stream=True)
            pieces = [ch.choices[0].delta.content or "" for ch in chunks if ch.choices]
            text = "".join(pieces)
            assert len([p for p in pieces if p]) > 5  # really streamed in pieces
        else:
            text = (
                c.chat.completions.create(model=model, messages=messages).choices[0].message.content
                or ""
            )
    assert text == ECHO
    assert leaked(echo) == []
    assert user_text(echo) == "Mail <EMAIL_1>, call <PHONE_1>."
    assert echo.requests[0].body["messages"][0]["content"] == "You help <NAME_1>."


@pytest.mark.parametrize("model", ["claude-pii-test", "mistral-large"])  # passthrough, translated
@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_messages(gw: Any, echo: MockHandle, model: str, stream: bool) -> None:
    kw: Any = {
        "model": model,
        "max_tokens": 200,
        "system": "Customer: Alice Martin",
        "messages": [{"role": "user", "content": [{"type": "text", "text": PROMPT}]}],
    }
    with ant(gw) as c:
        if stream:
            with c.messages.stream(**kw) as s:
                pieces = list(s.text_stream)
                final = s.get_final_message()
            text = "".join(pieces)
            assert len(pieces) > 5
            assert final.content[0].text == ECHO  # type: ignore[union-attr]
        else:
            text = c.messages.create(**kw).content[0].text  # type: ignore[union-attr]
    assert text == ECHO
    assert leaked(echo) == []
    assert user_text(echo) == "Mail <EMAIL_1>, call <PHONE_1>."


@pytest.mark.parametrize("model", ["gpt-4o", "mistral-large"])
@pytest.mark.parametrize("stream", [False, True])
def test_openai_responses(gw: Any, echo: MockHandle, model: str, stream: bool) -> None:
    with oai(gw) as c:
        if stream:
            deltas = []
            done = ""
            for ev in c.responses.create(
                model=model, input=PROMPT, instructions="Be Alice Martin", stream=True
            ):
                if ev.type == "response.output_text.delta":
                    deltas.append(ev.delta)
                elif ev.type == "response.completed":
                    done = ev.response.output_text
            text = "".join(deltas)
            assert done == ECHO
            assert len(deltas) > 5
        else:
            text = c.responses.create(
                model=model, input=PROMPT, instructions="Be Alice Martin"
            ).output_text
    assert text == ECHO
    assert leaked(echo) == []
    assert user_text(echo) == "Mail <EMAIL_1>, call <PHONE_1>."


def test_mask_is_sent_and_not_restored(gw: Any, echo: MockHandle) -> None:
    with oai(gw) as c:
        out = c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"card {CARD}"}]
        )
    assert out.choices[0].message.content == "mock reply to: card ****1111"
    assert leaked(echo) == []


def test_block_is_a_400_in_each_dialect_and_never_echoes(gw: Any, echo: MockHandle) -> None:
    prompt = f"my key is {KEY}"
    with oai(gw) as c, pytest.raises(openai.BadRequestError) as chat_err:
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": prompt}])
    with ant(gw) as a, pytest.raises(anthropic.BadRequestError) as ant_err:
        a.messages.create(
            model="claude-pii-test", max_tokens=10, messages=[{"role": "user", "content": prompt}]
        )
    with oai(gw) as c, pytest.raises(openai.BadRequestError) as resp_err:
        c.responses.create(model="gpt-4o", input=prompt)
    assert echo.requests == []
    for err in (chat_err.value, ant_err.value, resp_err.value):
        assert err.status_code == 400
        assert "secret" in err.message and "pii" in err.message
        assert KEY not in json.dumps(err.body)
    assert ant_err.value.body["type"] == "error"  # type: ignore[index]
    assert ant_err.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


def test_counts_in_metrics(gw: Any, echo: MockHandle) -> None:
    with oai(gw) as c:
        c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": f"{PROMPT} {EMAIL}"}]
        )
    labels = {"filter": "pii", "entity": "email", "action": "redact"}
    s = scrape_until(gw.admin_url, lambda s: value(s, "plano_pii_entities_total", **labels) == 2)
    assert value(s, "plano_pii_entities_total", **labels) == 2
    assert value(s, "plano_pii_entities_total", filter="pii", entity="phone", action="redact") == 1
    assert EMAIL not in repr(s)


def test_counts_on_the_span_never_values(
    echo: MockHandle,
    gateway: GatewayFactory,
    receiver: Receiver,  # noqa: F811 (the fixture imported above)
) -> None:
    trace = "5bf92f3577b34da6a3ce929d0e0e4736"
    text = (
        config(echo)
        + f"""
tracing:
  random_sampling: 100
  opentracing_grpc_endpoint: http://127.0.0.1:{receiver.grpc_port}
"""
    )
    headers = {"traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    with gateway(text) as g, oai(g) as c:
        messages: Any = [{"role": "user", "content": f"{PROMPT} Alice Martin, {EMAIL}"}]
        out = c.chat.completions.create(model="gpt-4o", messages=messages, extra_headers=headers)
        assert (
            out.choices[0].message.content
            == f"mock reply to: Mail {EMAIL}, call {PHONE}. Alice Martin"
        )
    spans = receiver.wait_for(trace, 2)["spans"]
    root = next(s for s in spans if s["parent_span_id"] == "00f067aa0ba902b7")
    attrs = root["attributes"]
    assert (attrs["plano.pii.email"], attrs["plano.pii.phone"], attrs["plano.pii.name"]) == (
        2,
        1,
        1,
    )
    assert {s["name"] for s in spans} >= {"pii_filter (pii)"}
    dumped = json.dumps(spans)
    assert all(v not in dumped for v in (EMAIL, PHONE, "Alice Martin"))


def test_agent_input_filter(echo: MockHandle, gateway: GatewayFactory) -> None:
    """On an agent listener's input chain: the agent never sees the PII; a block is a 400."""
    with run_mock_in_thread(default_text="agent says hi") as agent:
        text = agent_config(
            echo,
            agent.base_url,
            "  - {id: pii, type: pii, entities: {email: redact, secret: block}}",
            "pii",
        )
        with gateway(text) as g:
            url = g.url("agent") + "/v1/chat/completions"
            ok, _ = post(
                url, {"model": "gpt-4o", "messages": [{"role": "user", "content": PROMPT}]}
            )
            bad, body = post(
                url, {"model": "gpt-4o", "messages": [{"role": "user", "content": KEY}]}
            )
        (seen,) = agent.requests
    assert ok == 200
    assert seen.body["messages"][-1]["content"] == f"Mail <EMAIL_1>, call {PHONE}."
    assert bad == 400
    assert "secret" in json.dumps(body) and KEY not in json.dumps(body)
