"""Overload protection for a listener: at most ``max_concurrent_requests`` served at once and
``max_pending_requests`` waiting (each for at most ``max_pending_wait``); beyond that, 503 at once.

The gate is a counter plus a FIFO of waiters, so admission costs no allocation when there is room.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from plano.config.resilience import OverloadConfig
from plano.errors import GatewayFull


class OverloadGate:
    __slots__ = ("_waiters", "active", "max_active", "max_pending", "max_wait", "rejected")

    def __init__(self, cfg: OverloadConfig) -> None:
        self.max_active = cfg.max_concurrent_requests
        self.max_pending = cfg.max_pending_requests
        self.max_wait = cfg.max_pending_wait
        self.active = 0
        self.rejected = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def enter(self) -> None:
        """Admit the request, or raise :class:`GatewayFull` (503) when full."""
        if self.active < self.max_active and not self._waiters:
            self.active += 1
            return
        if len(self._waiters) >= self.max_pending:
            self.rejected += 1
            raise GatewayFull(
                "the gateway is serving as many requests as it is configured for; retry shortly",
                headers=(("retry-after", "1"),),
            )
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), self.max_wait)
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():  # admitted as the wait ran out
                return
            waiter.cancel()
            self.rejected += 1
            raise GatewayFull(
                "the gateway is overloaded and the request waited too long; retry shortly",
                headers=(("retry-after", "1"),),
            ) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.leave()  # handed a slot just as the request went away
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def leave(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter
                return
        self.active -= 1
