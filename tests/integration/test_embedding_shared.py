"""Guard + embedded router in one gateway (issue 17): each request's text is embedded once, in one
ORT run shared by the guard and the router, whatever the dialect and the text's length."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import anthropic
import openai
import pytest

from plano.embedding import shared
from plano.embedding.shared import PROCESS_MODEL
from plano.mock.testing import MockHandle
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

_OPEN: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def config(upstream: Any) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:
  - {{model: openai/gpt-4o-mini, access_key: k, base_url: {upstream.base_url}, default: true}}
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}}}
  - {{model: openai/gpt-4.1-mini, access_key: k, base_url: {upstream.base_url}}}
routing_preferences:
  - {{name: code generation, description: writing new code or functions, models: [openai/gpt-4o]}}
  - {{name: summarization, description: summarising documents, models: [openai/gpt-4.1-mini]}}
routing: {{router: {{type: embedded}}}}
prompt_guards:
  input_guards:
    jailbreak:
      on_exception: {{message: blocked}}
"""


class Calls:
    """Every `embed` call of the process's model (one call is one ORT run)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        model = PROCESS_MODEL.get()
        self.batches: list[list[str]] = []
        real = model.embed

        def embed(texts: Sequence[str]) -> Any:
            self.batches.append(list(texts))
            return real(texts)

        monkeypatch.setattr(model, "embed", embed)

    def of(self, text: str) -> list[list[str]]:
        """The batches holding `text` or one of its windows (the warm-up's are others)."""
        return [
            b for b in self.batches if any(t == text or (len(t) >= 100 and t in text) for t in b)
        ]


CODE = "Write a Python function that checks whether a string is a palindrome"
LONG = (
    "Summarise this article in three bullet points: "
    + (
        "The city council met on Tuesday to discuss the new park. Residents spoke for and against "
        "the plan, and the vote was postponed until next month. "
    )
    * 12
)
CALL: Any = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
CALL: Any = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
TOOL = "Weather in Paris: 18C and sunny, light wind from the west."


def test_guard_and_router_share_one_ort_run_per_request(
    upstream: MockHandle, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Calls(monkeypatch)
    with gateway(config(upstream)) as gw:
        oa = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0)
        an = anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0)
        _OPEN.extend((oa, an))
        oa.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": CODE}]
        )
        assert len(calls.of(CODE)) == 1
        assert upstream.requests[-1].body["model"] == "gpt-4o"  # routed, and guarded (passed)

        an.messages.create(
            model="gpt-4o-mini", max_tokens=20, messages=[{"role": "user", "content": LONG}]
        )
        (batch,) = calls.of(LONG)  # the guard's windows and the router's text: one run
        assert LONG in batch and len(batch) > 1
        assert upstream.requests[-1].body["model"] == "gpt-4.1-mini"

        ask = "Now write a function that formats that weather report"
        oa.chat.completions.create(
            model="gpt-4o-mini",
            messages=[
                {"role": "user", "content": "what is the weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "c1", "content": TOOL},
                {"role": "user", "content": ask},
            ],
        )
        (batch,) = calls.of(ask)
        assert batch == [ask, TOOL]  # the new user text and the new tool result, together
        assert calls.of(TOOL) == [batch]


def test_startup_waits_for_the_warm_up_so_the_first_request_embeds_only_its_text(
    upstream: MockHandle, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model's first run and the route vectors are computed before the gateway serves: the
    first request's only inference is its own text (the wait is lifted so a loaded machine
    cannot make the warm-up outlast it)."""
    monkeypatch.setattr(shared, "STARTUP_WAIT_S", 120.0)
    calls = Calls(monkeypatch)
    with gateway(config(upstream)) as gw:
        warm = list(calls.batches)
        assert any("writing new code or functions" in b for b in warm)  # the route vectors
        assert ["warm up the guard"] in warm
        oa = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0)
        _OPEN.append(oa)
        oa.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Implement quicksort in Rust"}],
        )
        assert calls.batches[len(warm) :] == [["Implement quicksort in Rust"]]
