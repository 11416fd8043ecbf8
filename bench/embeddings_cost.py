"""What `/v1/embeddings` costs the gateway, beside a chat request: CPU per request, side by side.

    PYTHONPATH=src python bench/embeddings_cost.py [--rounds 8] [--duration 3]

Three Plano processes of this tree (one worker each) share core 0 and serve load at the same time
(as `bench/ab.py` does, so they see the same drift of the core), each from its own wrk (32
connections) against the one `plano mock-llm` on core 1:

- `chat`: the bench's non-streamed chat request (`bench/loadgen.py`), for reference;
- `embed`: `POST /v1/embeddings`, three short texts, 8-dimension vectors (the mock's default);
- `embed-1536`: one text, `dimensions: 1536` (a 30 kB answer relayed as its bytes).

Prints the median CPU µs per request of each gateway process and its ratio to `chat`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import loadgen
import procs
import targets
from ab import THIS_SRC, load_all, start_gateway

BODIES = {
    "embed": {"model": "gpt-4o", "input": ["the quick brown fox", "jumps over", "the lazy dog"]},
    "embed-1536": {"model": "gpt-4o", "input": "the quick brown fox", "dimensions": 1536},
}


def embeddings_lua(directory: Path, name: str) -> Path:
    body = json.dumps(BODIES[name], separators=(",", ":"))
    path = directory / f"{name}.lua"
    path.write_text(
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer client-key"\n'
        f"wrk.body = [==[{body}]==]\n"
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--duration", type=float, default=3.0)
    args = parser.parse_args()
    if loadgen.wrk_path() is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="plano-embed-") as tmp:
        log_dir = Path(tmp)
        upstream, upstream_port = targets.start_upstream(log_dir, 20, None)
        gateways: dict[str, tuple[procs.Service, str]] = {}
        try:
            scripts = {"chat": loadgen.write_lua(log_dir, False)}
            for name in ("chat", *BODIES):
                service, url = start_gateway(name, "", log_dir, upstream_port, 0, THIS_SRC)
                if name != "chat":
                    url = url.replace("/v1/chat/completions", "/v1/embeddings")
                    scripts[name] = embeddings_lua(log_dir, name)
                gateways[name] = (service, url)
            load_all(gateways, scripts, 2)  # warm-up
            per_request: dict[str, list[float]] = {name: [] for name in gateways}
            for round_no in range(args.rounds):
                got = load_all(gateways, scripts, args.duration)
                for name, us in got.items():
                    per_request[name].append(us)
                cells = "  ".join(f"{name} {us:6.1f}" for name, us in got.items())
                print(f"round {round_no + 1:2d} (µs CPU/request): {cells}", flush=True)
            base = per_request["chat"]
            print("\nnon-stream, CPU per request of the gateway process:")
            for name, values in per_request.items():
                paired = [v / b for b, v in zip(base, values, strict=True)]
                print(
                    f"  {name:>10}: {statistics.median(values):6.1f} µs, "
                    f"vs chat {statistics.median(paired):.3f}"
                )
        finally:
            for service, _ in gateways.values():
                procs.stop(service)
            procs.stop(upstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
