"""What the attempt loop costs on the happy path, measured in-process (no HTTP server, no wrk).

    python bench/resilience_cost.py [--stream] [--requests 3000]

Builds the gateway's ASGI app twice against the fake upstream (in a thread): once with the
bench's plain config (direct path), once with `targets.RESILIENCE_EXTRA` (retries and a fallback,
so every request goes through the attempt loop and succeeds on its first attempt), and prints
microseconds per request for each. The fake upstream shares the process, so absolute figures
include its work too; compare the two lines of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import uvloop

import loadgen
import targets
from plano.config import load_config_text
from plano.mock.testing import run_mock_in_thread
from plano.observability.telemetry import Telemetry
from plano.server.app import Gateway, build_app

PORT = 12345


async def _serve_many(gw: Gateway, body: bytes, n: int) -> float:
    async def one() -> None:
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/v1/chat/completions",
            "server": ("127.0.0.1", PORT),
            "headers": [(b"content-type", b"application/json")],
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()
            return {}

        async def send(message: dict[str, Any]) -> None:
            return None

        await gw(scope, receive, send)

    for _ in range(n // 10):  # warm the pools and caches
        await one()
    start = time.perf_counter()
    for _ in range(n):
        await one()
    return (time.perf_counter() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    body = loadgen.chat_body(args.stream)
    with run_mock_in_thread() as mock:
        for name, extra in (("direct path", ""), ("retries + fallback", targets.RESILIENCE_EXTRA)):
            text = (targets.GATEWAY_CONFIG + extra).format(port=PORT, upstream=mock.port, key="k")
            state = build_app(load_config_text(text, env={}), telemetry=Telemetry())
            gw = Gateway(state, {PORT: state.listeners[0]})

            async def run(gw: Gateway = gw, state: Any = state) -> float:
                await state.client.start()
                try:
                    return await _serve_many(gw, body, args.requests)
                finally:
                    await state.client.close()

            print(f"{name:20s} {uvloop.run(run()):8.1f} us/request")


if __name__ == "__main__":
    main()
