"""The worker's signal rules and the supervisor's replacement backoff, without processes."""

from __future__ import annotations

import signal
import socket
from types import FrameType

from plano.runtime.worker import _Lifecycle
from plano.runtime.worker_handle import BACKOFF_MAX, backoff


class FakeServer:
    started = True
    should_exit = False

    def __init__(self) -> None:
        self.calls: list[int] = []

    async def serve(self, sockets: list[socket.socket]) -> None:
        return None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.calls.append(sig)
        self.should_exit = True


def test_ctrl_c_then_the_supervisors_sigterm_is_one_drain() -> None:
    server = FakeServer()
    life = _Lifecycle(server, drain=8.0, reload_drain=300.0)
    life.on_stop(signal.SIGINT, None)  # the terminal's Ctrl-C
    life.on_stop(signal.SIGTERM, None)  # the supervisor passing it on
    assert server.calls == [signal.SIGINT]
    life.on_stop(signal.SIGINT, None)  # Ctrl-C again: forces
    assert server.calls == [signal.SIGINT, signal.SIGINT]


def test_supervisor_gone_drains_once_and_a_retiring_worker_keeps_retiring() -> None:
    server = FakeServer()
    life = _Lifecycle(server, drain=8.0, reload_drain=300.0)
    life.on_supervisor_gone()
    life.on_supervisor_gone()
    assert server.calls == [signal.SIGTERM]
    retiring = FakeServer()
    life = _Lifecycle(retiring, drain=8.0, reload_drain=300.0)
    life.on_retire(signal.SIGUSR1, None)
    assert life.retiring and retiring.calls == [signal.SIGUSR1]
    life.on_supervisor_gone()  # its successor serves: let the drain run its course
    life.on_retire(signal.SIGUSR1, None)
    assert retiring.calls == [signal.SIGUSR1]


def test_backoff_doubles_to_the_cap_and_resets_after_a_long_run() -> None:
    delay, nxt = backoff(0.5, lived=1.0)
    seen = [delay]
    for _ in range(10):
        delay, nxt = backoff(nxt, lived=1.0)
        seen.append(delay)
    assert seen[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(seen) == BACKOFF_MAX
    assert backoff(BACKOFF_MAX, lived=61.0) == (0.5, 1.0)
