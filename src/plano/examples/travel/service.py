"""Tiny shared launcher for the travel example services: bind, announce `READY <port>`, serve."""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import sys
from typing import Any

from aiohttp import web


def parse_args(default_port: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    return parser.parse_args()


def gateway_url() -> str:
    """Where the agents reach Plano's model listener (the egress path), as the original demo."""
    return os.environ.get("LLM_GATEWAY_ENDPOINT", "http://127.0.0.1:12000/v1")


def announce(port: int) -> None:
    print(f"READY {port}", flush=True)


def run_aiohttp(app: web.Application, host: str, port: int) -> None:
    async def main() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        server: Any = site._server
        announce(server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)


def bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock
