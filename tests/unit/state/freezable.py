"""A TCP proxy on 127.0.0.1 that can be frozen, to stand in for a frozen database or Redis.

Without a target it is a black hole: it accepts connections and never answers. With one it
forwards both ways until `freeze()`; from then on nothing moves (bytes in flight are held and new
connections are accepted but not forwarded), as with a SIGSTOPped server, until `thaw()`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager


class FreezableProxy:
    def __init__(self, loop: asyncio.AbstractEventLoop, target: int | None) -> None:
        self._loop = loop
        self._target = target
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.accepted = 0

    def freeze(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)

    def thaw(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)

    async def serve(self) -> asyncio.Server:
        server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        return server

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        if self._target is None:
            await asyncio.Event().wait()  # never answers (cancelled at close)
        await self._flowing.wait()
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        self._writers.add(up_writer)
        await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    def close_all(self) -> None:
        for w in self._writers:
            w.close()


@contextmanager
def freezable_proxy(target: int | None) -> Iterator[FreezableProxy]:
    """A proxy to 127.0.0.1:`target` (None: a black hole) served from its own loop thread."""
    loop = asyncio.new_event_loop()
    ready: Future[FreezableProxy] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)
        proxy = FreezableProxy(loop, target)
        server = loop.run_until_complete(proxy.serve())
        ready.set_result(proxy)
        loop.run_forever()
        proxy.close_all()
        server.close()
        tasks = asyncio.all_tasks(loop)
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    proxy = ready.result(30)
    try:
        yield proxy
    finally:
        proxy.thaw()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
