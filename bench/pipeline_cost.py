"""What a pipeline stage costs on its own: the runner with N no-op stages, sync and async.

    python bench/pipeline_cost.py [--n 200000]

Prints µs per request for 0, 1, 4 and 8 no-op stages of each kind, run through `Pipeline.run`
with a stub scope (no sockets), so the difference between rows is the cost of the stages alone.
A stage the config does not use is compiled out (`None`), so it costs nothing at all.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from plano.listeners.pipeline import Call, Outcome, Pipeline, Stage, SyncStage
from plano.observability.record import RequestRecord


class NoopSync(SyncStage[Call]):
    def __call__(self, call: Call) -> Outcome:
        return None


class NoopAsync(Stage[Call]):
    async def __call__(self, call: Call) -> Outcome:
        return None


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def measure(pipeline: Pipeline[Call], n: int) -> float:
    scope: dict[str, Any] = {"path": "/v1/chat/completions", "headers": []}
    run = pipeline.run
    started = time.perf_counter()
    for _ in range(n):
        scope["plano.record"] = RequestRecord("l", "model", "POST", "/v1/chat/completions")
        await run(scope, _receive, _send)
    return (time.perf_counter() - started) / n * 1e6


async def main(n: int) -> None:
    print(f"{'stages':>8}  {'sync µs':>8}  {'async µs':>8}")
    base: dict[str, float] = {}
    for count in (0, 1, 4, 8):
        row = {}
        for kind, cls in (("sync", NoopSync), ("async", NoopAsync)):
            stages: list[Any] = [cls() for _ in range(count)]
            row[kind] = min([await measure(Pipeline(Call, stages), n) for _ in range(3)])
            base.setdefault(kind, row[kind])
        print(f"{count:>8}  {row['sync']:8.3f}  {row['async']:8.3f}")
    per_sync = (row["sync"] - base["sync"]) / 8
    per_async = (row["async"] - base["async"]) / 8
    print(f"per stage: sync {per_sync:.3f} µs, async {per_async:.3f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    asyncio.run(main(parser.parse_args().n))
