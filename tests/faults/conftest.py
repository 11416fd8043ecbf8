"""Fault-injection fixtures: a gateway with a healthy fallback, SDK clients, leak checks."""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from plano.http.client import Connection
from plano.runtime.serve import ThreadedGateway

SETTLE_S = 10.0


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def app_state(gw: ThreadedGateway) -> Any:
    app: Any = gw.server.app  # type: ignore[attr-defined]
    return getattr(app, "state", None) or app._app.state


def on_loop(gw: ThreadedGateway, fn: Callable[[], Any]) -> Any:
    async def call() -> Any:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), gw.loop).result(10)


def settled(gw: ThreadedGateway, check: Callable[[], bool]) -> bool:
    """Wait (on the gateway's loop) until ``check()`` holds; False if it never does."""

    async def wait() -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + SETTLE_S
        while not check():
            if loop.time() > end:
                return False
            await asyncio.sleep(0.01)
        return True

    return bool(asyncio.run_coroutine_threadsafe(wait(), gw.loop).result(SETTLE_S + 5))


class Leaks:
    """Baseline of the gateway's tasks; after the test: no held upstream connection, no task
    beyond the baseline."""

    def __init__(self, gw: ThreadedGateway) -> None:
        self.gw = gw
        self.tasks = on_loop(gw, lambda: len(asyncio.all_tasks(gw.loop)))

    def acquired(self) -> int:
        """Upstream connections in use (not idle in a pool, not closed)."""
        lean = app_state(self.gw).transport._client
        if lean is None:
            return 0
        idle = {id(c) for pool in lean._pools.values() for c in pool._idle}
        return sum(
            1
            for o in gc.get_objects()
            if isinstance(o, Connection)
            and o.loop is self.gw.loop
            and o.transport is not None  # connected (a refused attempt leaves a bare protocol)
            and not o.closed
            and id(o) not in idle
        )

    def assert_none(self) -> None:
        gw = self.gw
        assert settled(gw, lambda: self.acquired() == 0), "an upstream connection is still held"
        assert settled(gw, lambda: len(asyncio.all_tasks(gw.loop)) <= self.tasks), (
            "tasks were left behind"
        )


@pytest.fixture
def sdk() -> Iterator[Callable[[ThreadedGateway], openai.OpenAI]]:
    made: list[openai.OpenAI] = []

    def make(gw: ThreadedGateway) -> openai.OpenAI:
        c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=20)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()
