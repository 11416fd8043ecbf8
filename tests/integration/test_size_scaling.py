"""Large requests and answers through the model listener (issue 22, cost linear in size): a
non-streamed answer larger than the upstream client's read-ahead mark, a prompt of a megabyte
with many turns and base64 images, passthrough and translated. Driven with the official SDKs."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

BIG_ANSWER = 3 * (1 << 20) // 2  # 1.5 MB: past plano.http.response.HIGH_WATER (1 MB)


def config(upstream: Any) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream
    base_url: {upstream.base_url}
    default: true
"""


@pytest.fixture
def clients() -> Iterator[list[Any]]:
    made: list[Any] = []
    yield made
    for c in made:
        c.close()


def openai_client(gw: Any, made: list[Any]) -> openai.OpenAI:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=20)
    made.append(c)
    return c


def anthropic_client(gw: Any, made: list[Any]) -> anthropic.Anthropic:
    c = anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0, timeout=20)
    made.append(c)
    return c


def test_an_answer_over_a_megabyte_arrives_whole(
    upstream: Any, gateway: GatewayFactory, clients: list[Any]
) -> None:
    """It used to hang: the upstream client paused reading at 1 MB and waited for a reader
    that takes the body only once it is complete."""
    text = "".join(f"{i % 10}" for i in range(BIG_ANSWER))
    upstream.script({"text": text, "times": 2})
    with gateway(config(upstream)) as gw:
        chat = openai_client(gw, clients).chat.completions.create(
            model="openai/gpt-4o", messages=[{"role": "user", "content": "a long one"}]
        )
        message = anthropic_client(gw, clients).messages.create(
            model="openai/gpt-4o",
            max_tokens=BIG_ANSWER,
            messages=[{"role": "user", "content": "a long one"}],
        )
    assert chat.choices[0].message.content == text
    assert message.content[0].type == "text"
    assert message.content[0].text == text


def user(content: Any) -> Any:
    return {"role": "user", "content": content}


def _image(i: int) -> str:
    return base64.b64encode(bytes([i]) * 30_000).decode()


def test_a_megabyte_prompt_of_turns_and_images_reaches_the_upstream_intact(
    upstream: Any, gateway: GatewayFactory, clients: list[Any]
) -> None:
    turns: list[Any] = []
    for i in range(24):
        turns.append({"role": "user", "content": f"turn {i}: " + "lorem ipsum " * 1500})
        turns.append({"role": "assistant", "content": f"noted {i}"})
    images = [_image(i) for i in range(16)]  # ~40 KB of base64 each
    chat_parts: list[Any] = [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}}
        for b64 in images
    ]
    blocks: list[Any] = [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": b64}}
        for b64 in images
    ]
    with gateway(config(upstream)) as gw:
        openai_client(gw, clients).chat.completions.create(
            model="openai/gpt-4o", messages=[*turns, user(chat_parts)]
        )
        anthropic_client(gw, clients).messages.create(
            model="openai/gpt-4o",
            max_tokens=64,
            messages=[*turns, user(blocks)],
        )
    passthrough, translated = upstream.requests
    assert passthrough.raw_body_len > 1_000_000
    assert passthrough.body["messages"][:-1] == turns
    assert passthrough.body["messages"][-1]["content"] == chat_parts
    sent = translated.body["messages"]
    assert [m["content"] for m in sent[:-1]] == [t["content"] for t in turns]
    urls = [part["image_url"]["url"] for part in sent[-1]["content"]]
    assert urls == [f"data:image/png;base64,{b64}" for b64 in images]
