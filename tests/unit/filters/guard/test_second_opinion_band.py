"""When the second opinion is asked (`when: uncertain` band, `always`) and what its answer does."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from plano.config import load_config_text
from plano.config.guards import GuardFilterConfig
from plano.filters.guard import build_guard
from plano.filters.guard.filter import GuardBlocked
from plano.filters.types import FilterContext
from plano.observability.record import RequestRecord
from plano.upstream.clusters import build_clusters
from plano.upstream.mock_transport import MockReply, MockRequest, MockTransport

CONFIG = """
version: v0.4.0
listeners: [{name: m, type: model}]
model_providers:
  - {model: openai/gpt-4o, access_key: k, default: true}
  - {model: openai/llama-guard, access_key: g, base_url: "http://127.0.0.1:9"}
filters:
  - id: g
    type: guard
    rules: false
    second_opinion: {model: openai/llama-guard, when: %s, uncertain_from: %s, uncertain_to: %s}
"""


def answering(text: str, asked: list[str]) -> MockTransport:
    async def handle(request: MockRequest) -> MockReply:
        doc = orjson.loads(request.body)
        asked.append(doc["messages"][0]["content"])
        message = {"role": "assistant", "content": text}
        return MockReply(body=orjson.dumps({"choices": [{"index": 0, "message": message}]}))

    return MockTransport(handle)


def check(text: str, when: str, band: tuple[float, float], answer: str) -> tuple[Any, list[str]]:
    cfg = load_config_text(CONFIG % (when, *band), source="t.yaml", env={})
    (config,) = cfg.filters
    assert isinstance(config, GuardFilterConfig)
    asked: list[str] = []
    guard = build_guard(config, answering(answer, asked), build_clusters(cfg))
    record = RequestRecord("m", "model", "POST", "/v1/chat/completions")
    body = orjson.dumps({"messages": [{"role": "user", "content": text}]})
    try:
        asyncio.run(guard.apply(body, "/v1/chat/completions", (), FilterContext(record)))
    except GuardBlocked:
        return "block", asked
    (note,) = record.guards or []
    return (note.verdict, note.source), asked


def test_outside_the_band_the_head_decides_alone() -> None:
    verdict, asked = check("What is the capital of Peru?", "uncertain", (0.9, 0.95), "unsafe")
    assert verdict == ("pass", "head")
    assert asked == []


def test_inside_the_band_the_answer_decides() -> None:
    verdict, asked = check("What is the capital of Peru?", "uncertain", (0.0001, 0.99), "unsafe")
    assert verdict == "block"
    assert len(asked) == 1 and "What is the capital of Peru?" in asked[0]
    verdict, _ = check("What is the capital of Peru?", "uncertain", (0.0001, 0.99), "safe")
    assert verdict == ("pass", "second_opinion")


@pytest.mark.parametrize("answer", ["safe", "I'd rather not say"])
def test_always_asks_and_an_unusable_answer_fails_open(answer: str) -> None:
    verdict, asked = check("What is the capital of Peru?", "always", (0.35, 0.97), answer)
    assert len(asked) == 1
    assert verdict[0] == "pass"
    assert verdict[1] == ("second_opinion" if answer == "safe" else "second_opinion_failed")
