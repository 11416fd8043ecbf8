"""How long after a request its span reaches a local receiver (`plano trace` / `plano obs`).

A gateway (in a thread) traces to an in-process OTLP receiver on 127.0.0.1; for each request the
time from the SDK's answer to the span's arrival in the receiver is measured. The gateway's
batch delay is 0.5 s for a loopback endpoint (5 s for a remote one); `--delay-ms` sets
`OTEL_BSP_SCHEDULE_DELAY` to compare.

    PYTHONPATH=src python bench/trace_arrival.py --requests 10
    PYTHONPATH=src python bench/trace_arrival.py --requests 3 --delay-ms 5000
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import openai

from plano.config import load_config_text
from plano.mock.testing import run_mock_in_thread
from plano.runtime.serve import gateway_in_thread
from plano.tracecollector.server import Collector


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--delay-ms", type=int, default=None)
    args = parser.parse_args()
    if args.delay_ms is not None:
        os.environ["OTEL_BSP_SCHEDULE_DELAY"] = str(args.delay_ms)
    arrived = threading.Event()
    collector = Collector("127.0.0.1", 0, 0, on_spans=lambda spans: arrived.set())
    waits: list[float] = []
    with collector, run_mock_in_thread() as mock:
        text = f"""
version: v0.4.0
listeners: [{{name: llm, type: model, address: 127.0.0.1, port: 0}}]
model_providers: [{{model: openai/gpt-4o, access_key: k, base_url: {mock.base_url}}}]
tracing: {{random_sampling: 100, opentracing_grpc_endpoint: "http://127.0.0.1:{collector.grpc_port}"}}
"""
        config = load_config_text(text, source="bench.yaml", env={})
        with (
            gateway_in_thread(config) as gw,
            openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as client,
        ):
            for _ in range(args.requests):
                arrived.clear()
                client.chat.completions.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
                )
                answered = time.monotonic()
                if not arrived.wait(30):
                    raise SystemExit("no span arrived within 30 s")
                waits.append(time.monotonic() - answered)
    print(
        f"span arrival after the answer over {len(waits)} requests: "
        f"median {statistics.median(waits):.3f} s, max {max(waits):.3f} s"
    )


if __name__ == "__main__":
    main()
