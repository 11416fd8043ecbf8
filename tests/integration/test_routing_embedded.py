"""The embedded router through the gateway with the official openai SDK (issue 17): the prompts a
new user saw fall through now reach the code route, off-topic goes to the default model, and the
`examples:` key (config and inline) teaches a route."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

DEFAULT = "openai/gpt-4o-mini"


def config(upstream: Any, extra_route: str = "") -> str:
    providers = "".join(
        f"\n  - {{model: {m}, access_key: sk-upstream, base_url: {upstream.base_url}"
        + (", default: true}" if m == DEFAULT else "}")
        for m in (DEFAULT, "openai/gpt-4o", "openai/gpt-4.1", "openai/gpt-4.1-mini")
    )
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:{providers}
routing_preferences:
  - name: code_generation
    description: code generation
    models: [openai/gpt-4o]
  - name: summarization
    description: summarization
    models: [openai/gpt-4.1-mini]
  - name: translation
    description: translation
    models: [openai/gpt-4.1]{extra_route}
routing: {{router: {{type: embedded}}}}
"""


@pytest.fixture
def sdk() -> Iterator[list[openai.OpenAI]]:
    made: list[openai.OpenAI] = []
    yield made
    for c in made:
        c.close()


def ask(gw: Any, made: list[openai.OpenAI], text: str, **kw: Any) -> Any:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="client-key", max_retries=0)
    made.append(c)
    return c.chat.completions.with_raw_response.create(
        model=DEFAULT, messages=[{"role": "user", "content": text}], **kw
    )


COMPLAINT = [
    "Write a Python function that checks whether a string is a palindrome",
    "Implement quicksort in Rust",
    "My Flask app throws TypeError: 'NoneType' object is not subscriptable",
]


def test_the_complaint_prompts_route_to_code_and_a_cat_name_does_not(
    upstream: Any, gateway: GatewayFactory, sdk: list[openai.OpenAI]
) -> None:
    with gateway(config(upstream)) as gw:
        coded = [ask(gw, sdk, text) for text in COMPLAINT]
        cat = ask(gw, sdk, "what's a good name for a cat?")
        gist = ask(gw, sdk, "tl;dr of this email: the launch moves to May, budget unchanged")
    for raw in coded:
        assert raw.headers["x-plano-route"] == "code_generation"
        assert raw.headers["x-plano-model"] == "openai/gpt-4o"
        assert raw.headers["x-plano-router"] == "embedded"
        assert raw.parse().model == "gpt-4o"  # what the upstream served
    assert cat.headers["x-plano-route"] == "none"
    assert cat.headers["x-plano-model"] == DEFAULT
    assert gist.headers["x-plano-route"] == "summarization"
    served = [r.body["model"] for r in upstream.requests if r.body]
    assert served == ["gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4.1-mini"]


def test_examples_teach_a_route(
    upstream: Any, gateway: GatewayFactory, sdk: list[openai.OpenAI]
) -> None:
    text = "please reconcile the zorbex ledger of branch 40"
    taught = """
  - name: tool_b
    description: internal tool
    models: [openai/gpt-4.1]
    examples: ["reconcile the Zorbex ledger for branch 12"]"""
    with gateway(config(upstream, taught)) as gw:
        raw = ask(gw, sdk, text)
        inline = ask(
            gw,
            sdk,
            text,
            extra_body={
                "routing_preferences": [
                    {
                        "name": "tool_c",
                        "description": "internal tool",
                        "models": ["openai/gpt-4o"],
                        "examples": ["reconcile the Zorbex ledger for branch 7"],
                    },
                    {"name": "chat", "description": "small talk", "models": [DEFAULT]},
                ]
            },
        )
        bad = None
        try:
            ask(gw, sdk, text, extra_body={"routing_preferences": [
                {"name": "x", "description": "d", "models": ["openai/gpt-4o"], "examples": [3]}
            ]})  # fmt: skip
        except openai.BadRequestError as err:
            bad = err
    assert raw.headers["x-plano-route"] == "tool_b"
    assert inline.headers["x-plano-route"] == "tool_c"
    assert inline.headers["x-plano-model"] == "openai/gpt-4o"
    assert bad is not None and "examples" in str(bad.message)
