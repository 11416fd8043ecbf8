from __future__ import annotations

import asyncio

import pytest

from plano.config.resilience import CircuitBreakersConfig, OverloadConfig
from plano.errors import Overloaded
from plano.upstream.breaker import Breaker
from plano.upstream.overload import OverloadGate


def test_breaker_admits_up_to_max_requests() -> None:
    async def main() -> None:
        b = Breaker(CircuitBreakersConfig(max_requests=2))
        await b.enter()
        await b.enter()
        with pytest.raises(Overloaded):
            await b.enter()  # no pending allowed by default: refused at once
        b.leave()
        await b.enter()
        assert b.active == 2

    asyncio.run(main())


def test_gate_queues_then_refuses() -> None:
    asyncio.run(_queues_then_refuses())


async def _queues_then_refuses() -> None:
    gate = OverloadGate(
        OverloadConfig(max_concurrent_requests=1, max_pending_requests=1, max_pending_wait=30)
    )
    await gate.enter()
    waiting = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0)  # let it queue
    assert not waiting.done()
    with pytest.raises(Overloaded) as caught:
        await gate.enter()  # the queue is full: refused at once
    assert caught.value.status == 503
    gate.leave()  # the slot passes to the waiter
    await waiting
    assert gate.active == 1
    gate.leave()
    assert gate.active == 0


def test_a_cancelled_waiter_gives_its_slot_back() -> None:
    asyncio.run(_cancelled_waiter())


async def _cancelled_waiter() -> None:
    gate = OverloadGate(
        OverloadConfig(max_concurrent_requests=1, max_pending_requests=2, max_pending_wait=30)
    )
    await gate.enter()
    waiting = asyncio.ensure_future(gate.enter())
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    gate.leave()
    assert gate.active == 0
    await gate.enter()
    assert gate.active == 1
