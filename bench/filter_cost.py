"""What a model-listener filter chain costs per request: none, empty, and one HTTP filter hop.

    python bench/filter_cost.py [--n 2000] [--rounds 3]

Runs the fake LLM and an echo HTTP filter (returns the body it gets) as separate processes, and
three in-process gateways: without filters, with `input_filters: []` (compiled away: the listener
holds no chain at all) and with one `type: http` input filter. One keep-alive client sends
sequential non-streaming requests to each, interleaved per round, and prints the p50/p90 latency
and the p50 difference against the no-filter gateway: that difference is the cost of one filter
hop over loopback (a POST to the filter, its answer read, the new body forwarded).
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from plano.config import load_config_text
from plano.listeners.app import AppState, build_app
from plano.listeners.pipeline import Pipeline
from plano.observability.telemetry import Telemetry
from plano.runtime.serve import gateway_in_thread

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there, filter"}]}'

CONFIG = """
version: v0.3.0
filters:
  - {{id: echo, url: "{echo}", type: http}}
model_providers:
  - {{model: openai/gpt-4o-mini, access_key: k, base_url: "{llm}", default: true}}
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0{extra}}}
"""

VARIANTS = {
    "no filters": "",
    "empty chain": ", input_filters: []",
    "1 http filter": ", input_filters: [echo]",
}


def serve_echo() -> None:
    import asyncio

    from aiohttp import web

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read(), content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", echo)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server: Any = site._server
        print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def process(args: list[str], marker: str) -> Iterator[int]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if marker in line:
                yield int(line.strip().rsplit(":" if marker == "http://" else " ", 1)[-1])
                break
        else:
            raise RuntimeError(f"{args} exited before {marker!r}")
    finally:
        proc.terminate()
        proc.wait(10)


def timed(conn: http.client.HTTPConnection, n: int) -> list[float]:
    out = []
    headers = {"content-type": "application/json"}
    for _ in range(n):
        t0 = time.perf_counter_ns()
        conn.request("POST", "/v1/chat/completions", BODY, headers)
        resp = conn.getresponse()
        resp.read()
        out.append((time.perf_counter_ns() - t0) / 1e6)
        assert resp.status == 200, resp.status
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve-echo", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo()
        return
    with ExitStack() as stack:
        llm_port = stack.enter_context(
            process([sys.executable, "-m", "plano", "mock-llm", "--port", "0"], "http://")
        )
        echo_port = stack.enter_context(
            process([sys.executable, __file__, "--serve-echo"], "READY")
        )
        conns = {}
        for name, extra in VARIANTS.items():
            text = CONFIG.format(
                echo=f"http://127.0.0.1:{echo_port}",
                llm=f"http://127.0.0.1:{llm_port}",
                extra=extra,
            )
            config = load_config_text(text, source=name, env={})
            gw = stack.enter_context(gateway_in_thread(config, telemetry=Telemetry()))
            stages = _chat_pipeline(build_app(config, telemetry=Telemetry())).names()
            print(f"{name:>14}: {' > '.join(stages)}")
            conns[name] = http.client.HTTPConnection("127.0.0.1", gw.port(), timeout=10)
            timed(conns[name], 200)  # warm up: pools, caches
        samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for _ in range(args.rounds):
            for name, conn in conns.items():
                samples[name].extend(timed(conn, args.n))
    base = statistics.median(samples["no filters"])
    print(f"\n{'variant':>14}  {'p50 ms':>8}  {'p90 ms':>8}  {'p50 - none':>10}")
    for name, values in samples.items():
        p50 = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{name:>14}  {p50:8.3f}  {p90:8.3f}  {p50 - base:+10.3f}")


def _chat_pipeline(state: AppState) -> Pipeline[Any]:
    """The chat route's pipeline behind a built app (what the gateway threads run)."""
    handler = state.listeners[0].routes[("POST", "/v1/chat/completions")].handler
    pipeline = getattr(handler, "__self__", None)
    assert isinstance(pipeline, Pipeline)
    return pipeline


if __name__ == "__main__":
    main()
