"""Small real servers for agent and filter tests: aiohttp apps and MCP servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from typing import Any

from aiohttp import web


@contextmanager
def aiohttp_in_thread(app: web.Application) -> Iterator[str]:
    """Serve `app` on a free port in its own loop thread; yields its base URL."""
    ready: Future[str] = Future()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(app, access_log=None)

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        ready.set_result(f"http://127.0.0.1:{port}")
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield ready.result(30)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


@contextmanager
def mcp_in_thread(server: Any, port: int = 0) -> Iterator[str]:
    """Serve an `mcp` SDK `MCPServer` over streamable HTTP (path /mcp); yields its base URL."""
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    port = sock.getsockname()[1]
    app = server.streamable_http_app()
    uv = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=1)
    )
    started = threading.Event()
    original = uv.startup

    async def startup(sockets: Any = None) -> None:
        await original(sockets)
        started.set()

    uv.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not started.wait(30):
            raise RuntimeError("MCP server did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        uv.should_exit = True
        thread.join(30)
        sock.close()
