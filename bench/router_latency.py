"""What the embedded router adds per routed request (p50), on this machine.

Two in-process gateways in front of the same fake upstream: one with `routing_preferences`
(embedded MiniLM router) and one without. Each gets the same sequential requests, with prompts
drawn from the labelled routing set; the gateway's own `x-plano-overhead-ms` header (time spent in
the gateway, upstream wait excluded) is collected, and the difference of the medians is the cost
of routing. The CPU time the process spends per request is compared as well: the routing work
is CPU on one thread, so its CPU time is what it adds on an idle machine, whatever the load of
a shared one. The router's bare `select` time (embedding + scoring, no HTTP) is measured as well,
and its time when the request's text is already in the request's `EmbeddingMemo` (the guard
embedded it first): then routing is a matrix-vector product on the event loop.

    .venv/bin/python bench/router_latency.py [--requests 300] [--no-memo]

Before / after a change: run it alternately with `PYTHONPATH=<other tree>/src --no-memo` and
with this tree's `src`, same machine, back to back (the machine's load moves the absolute numbers).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from plano.config import load_config_text
from plano.embedding.memo import EmbeddingMemo
from plano.mock.testing import run_mock_in_thread
from plano.routing.conversation import Conversation, Turn
from plano.routing.embedded import EmbeddedRouter
from plano.routing.preferences import Preference, PreferenceSet
from plano.runtime.serve import gateway_in_thread

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "routing" / "dev.json"


def config(base_url: str, routes: list[dict[str, str]], routed: bool) -> str:
    prefs = ""
    if routed:
        prefs = "routing_preferences:\n" + "".join(
            f"  - name: {r['name']}\n    description: {json.dumps(r['description'])}\n"
            f"    models: [openai/gpt-4o]\n"
            for r in routes
        )
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    base_url: {base_url}
  - model: openai/gpt-4o-mini
    access_key: k
    base_url: {base_url}
    default: true
{prefs}
routing: {{router: {{type: embedded}}}}
"""


def overheads(url: str, prompts: list[str], n: int) -> list[float]:
    out: list[float] = []
    for i in range(n):
        body = json.dumps(
            {
                "model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": prompts[i % len(prompts)]}],
            }
        ).encode()
        req = urllib.request.Request(
            f"{url}/v1/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
            out.append(float(resp.headers["x-plano-overhead-ms"]))
    return out


def bare_select(routes: list[dict[str, str]], prompts: list[str], n: int) -> list[float]:
    prefs = PreferenceSet.of([Preference(r["name"], r["description"], ("m",)) for r in routes])
    router = EmbeddedRouter()
    router.select_sync(prefs, "warm up")  # model, topic bank and route vectors
    out = []
    for i in range(n):
        t = time.perf_counter()
        router.select_sync(prefs, prompts[i % len(prompts)])
        out.append((time.perf_counter() - t) * 1000)
    return out


def memo_select(routes: list[dict[str, str]], prompts: list[str], n: int) -> list[float]:
    """The router's cost when the guard already embedded the text (the request's memo)."""
    prefs = PreferenceSet.of([Preference(r["name"], r["description"], ("m",)) for r in routes])
    router = EmbeddedRouter()
    router.select_sync(prefs, "warm up")

    async def run() -> list[float]:
        out = []
        for i in range(n):
            text = prompts[i % len(prompts)]
            memo = EmbeddingMemo()
            memo.embed_sync([text])  # the guard's work, not timed
            conv = Conversation((Turn("user", text),), "", "")
            t = time.perf_counter()
            await router.select(prefs, conv, memo=memo)
            out.append((time.perf_counter() - t) * 1000)
        return out

    return asyncio.run(run())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--no-memo", action="store_true", help="skip the memo path (older trees)")
    args = ap.parse_args()
    sets: list[dict[str, Any]] = json.loads(DATA.read_text())["sets"]
    routes = sets[0]["routes"]  # the issue-17 route set: code generation, summarization, ...
    prompts = [p for s in sets for p, _ in s["prompts"]]
    n = args.requests
    cpu_ms: dict[bool, float] = {}  # CPU time of this process per request (client included)
    with run_mock_in_thread() as mock:
        results = {}
        for routed in (False, True):
            cfg = load_config_text(
                config(mock.base_url, routes, routed), source="bench.yaml", env={}
            )
            with gateway_in_thread(cfg) as gw:
                overheads(gw.url(), prompts, 20)  # warm-up (and model load when routed)
                cpu = time.process_time()
                results[routed] = overheads(gw.url(), prompts, n)
                cpu_ms[routed] = (time.process_time() - cpu) * 1000 / n
    select = bare_select(routes, prompts, n)
    plain, routed_ms = statistics.median(results[False]), statistics.median(results[True])
    p95 = {k: statistics.quantiles(v, n=20)[18] for k, v in results.items()}
    print(f"requests per gateway:                   {n}")
    print(f"gateway overhead p50 / p95, no routing: {plain:.3f} / {p95[False]:.3f} ms")
    print(f"gateway overhead p50 / p95, embedded:   {routed_ms:.3f} / {p95[True]:.3f} ms")
    print(f"added by routing (p50 diff):            {routed_ms - plain:.3f} ms")
    print(f"added CPU time per request (mean diff): {cpu_ms[True] - cpu_ms[False]:.3f} ms")
    print(f"bare select p50 / p95:                  {statistics.median(select):.3f} / "
          f"{statistics.quantiles(select, n=20)[18]:.3f} ms")  # fmt: skip
    if args.no_memo:
        return
    shared = memo_select(routes, prompts, n)
    print(f"select, text already embedded (memo):   {statistics.median(shared):.3f} / "
          f"{statistics.quantiles(shared, n=20)[18]:.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
