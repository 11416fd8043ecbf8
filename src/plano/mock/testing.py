"""Run a :class:`MockLLM` from synchronous code (tests, ``plano demo``): its own uvloop event loop
in a daemon thread, driven through thread-safe calls.

    with run_mock_in_thread(default_text="hi") as mock:
        client = OpenAI(base_url=mock.base_url + "/v1", api_key="x")
        mock.script({"status": 429, "retry_after": 1})
        ...
        assert mock.requests[-1].body["model"] == "gpt-4o"
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any, TypeVar

import uvloop

from plano.mock.request import MockRequest
from plano.mock.script import ReplySpec
from plano.mock.server import MockLLM

_T = TypeVar("_T")
CALL_TIMEOUT_S = 30.0  # a call into the mock's loop that takes longer means the loop is stuck


class MockHandle:
    """A :class:`MockLLM` running on its own loop; every method is safe from any thread."""

    def __init__(self, mock: MockLLM, loop: asyncio.AbstractEventLoop, port: int) -> None:
        self.mock = mock
        self.loop = loop
        self.port = port
        self.base_url = mock.base_url

    def _call(self, fn: Callable[[], _T]) -> _T:
        done: Future[_T] = Future()

        def run() -> None:
            try:
                done.set_result(fn())
            except BaseException as exc:
                done.set_exception(exc)

        self.loop.call_soon_threadsafe(run)
        return done.result(CALL_TIMEOUT_S)

    def script(self, *specs: ReplySpec | Mapping[str, Any]) -> None:
        """Queue reply specs; they are queued when this returns."""
        self._call(lambda: self.mock.script(*specs))

    @property
    def requests(self) -> list[MockRequest]:
        """A snapshot of the recorded requests, oldest first."""
        return self._call(lambda: self.mock.requests)

    def clear(self) -> None:
        """Forget scripted specs and recorded requests."""
        self._call(self.mock.clear)

    def wait_for_requests(
        self, count: int = 1, timeout: float = CALL_TIMEOUT_S
    ) -> list[MockRequest]:
        """Block until ``count`` requests were recorded (since start or the last clear)."""
        done = asyncio.run_coroutine_threadsafe(self.mock.wait_for_requests(count), self.loop)
        return done.result(timeout)

    @property
    def connections_accepted(self) -> int:
        """TCP connections the mock accepted so far."""
        return self._call(lambda: self.mock.connections_accepted)


@contextmanager
def run_mock_in_thread(
    host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[MockHandle]:
    """Start ``MockLLM(**options)`` on ``host:port`` in a daemon thread; stop it on exit."""
    ready: Future[MockHandle] = Future()
    loop = uvloop.new_event_loop()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            mock = MockLLM(**options)
            bound = loop.run_until_complete(mock.start(host, port))
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(MockHandle(mock, loop, bound))
        try:
            loop.run_forever()
            loop.run_until_complete(mock.stop())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    thread = threading.Thread(target=serve, name="mock-llm", daemon=True)
    thread.start()
    handle = ready.result(CALL_TIMEOUT_S)
    try:
        yield handle
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CALL_TIMEOUT_S)
