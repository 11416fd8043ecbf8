"""Requests leave no cyclic garbage: what the gateway allocates for a request, and for a client
connection, is freed by reference counting when it ends. Garbage in reference cycles waits for
the collector, whose collections then run every few hundred requests and rescan every request in
flight (docs/performance.md, "Overload and tails"). Driven with the official SDKs."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_stream_usage import MESSAGES, config

pytestmark = pytest.mark.integration


def gateway_garbage(run: Callable[[], None]) -> Counter[str]:
    """The gateway's objects (`plano.*`, not the fake upstream's) that only the collector could
    free, left by `run` (the clients it opens are closed inside it)."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        kinds = (type(o) for o in gc.garbage)
        return Counter(
            f"{t.__module__}.{t.__qualname__}"
            for t in kinds
            if t.__module__.startswith("plano.") and not t.__module__.startswith("plano.mock")
        )
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


@pytest.mark.parametrize("stream", [False, True])
def test_requests_and_closed_connections_leave_no_cyclic_garbage(
    upstream: Any, gateway: GatewayFactory, stream: bool
) -> None:
    with gateway(config(upstream)) as gw:

        def run() -> None:
            with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
                for _ in range(5):
                    if stream:
                        chunks = list(
                            c.chat.completions.create(
                                model="gpt-4o", messages=MESSAGES, stream=True
                            )
                        )
                        assert any(ch.choices and ch.choices[0].delta.content for ch in chunks)
                    else:
                        answer = c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
                        assert answer.choices[0].message.content
            with anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0) as a:
                for _ in range(5):
                    message = a.messages.create(
                        model="openai/gpt-4o", max_tokens=64, messages=MESSAGES
                    )
                    assert message.content

        garbage = gateway_garbage(run)
    assert not garbage, garbage
