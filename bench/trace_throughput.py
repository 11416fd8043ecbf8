"""Throughput cost of tracing: Plano without a `tracing` section, at 0 % and at 100 % sampling.

    python bench/trace_throughput.py [--duration 8] [--rounds 3] [--connections 64]

Same layout as bench/run.py: Plano (one worker) alone on core 0; the fake upstream, wrk and the
trace receiver (`plano trace listen`, which the 100 % run exports to over OTLP/gRPC) on core 1.
Rounds interleave the three configs; the median req/s of each is printed with its ratio to
"off", and the gateway's CPU time per request (what throughput is on a dedicated core, and less
disturbed by other processes on a shared machine). Non-streaming unless `--stream`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import urllib.request
from pathlib import Path

import loadgen
import procs
import targets

CONFIGS = {
    "off": "",
    "0%": "tracing:\n  random_sampling: 0\n",
    "100%": "tracing:\n  random_sampling: 100\n  opentracing_grpc_endpoint: http://127.0.0.1:{grpc}\n",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plano-trace-bench-") as tmp:
        log_dir = Path(tmp)
        upstream, upstream_port = targets.start_upstream(log_dir, 20, None)
        grpc, http = procs.free_port(), procs.free_port()
        receiver = procs.start(
            "receiver",
            [sys.executable, "-m", "plano", "trace", "listen", "--foreground",
             "--grpc-port", str(grpc), "--http-port", str(http), "--capacity", "50"],
            targets.LOAD_CORE, log_dir,
        )  # fmt: skip
        procs.wait_line(receiver, "plano trace listening")
        gateways = {}
        try:
            for name, extra in CONFIGS.items():
                port = procs.free_port()
                config = log_dir / f"plano_{name.strip('%')}.yaml"
                config.write_text(
                    targets.GATEWAY_CONFIG.format(
                        port=port, upstream=upstream_port, key=targets.UPSTREAM_KEY
                    )
                    + extra.format(grpc=grpc)
                )
                cmd = [sys.executable, "-m", "plano", "up", str(config), "--foreground",
                       "--workers", "1"]  # fmt: skip
                service = procs.start(
                    f"plano-{name.strip('%')}", cmd, targets.PROXY_CORE, log_dir,
                    env={"PLANO_ADMIN_PORT": "off"},
                )  # fmt: skip
                procs.wait_line(service, "plano ready")
                gateways[name] = (service, port)
                # Only one gateway runs at a time on core 0: start them all, pause the others.
                service.proc.send_signal(19)  # SIGSTOP
            script = loadgen.write_lua(log_dir, args.stream)
            results: dict[str, list[float]] = {name: [] for name in gateways}
            cpu: dict[str, list[float]] = {name: [] for name in gateways}
            for round_no in range(args.rounds):
                for name, (service, port) in gateways.items():
                    service.proc.send_signal(18)  # SIGCONT
                    url = f"http://127.0.0.1:{port}/v1/chat/completions"
                    loadgen.run(url, script, args.connections, 2, targets.LOAD_CORE)  # warm-up
                    cpu0 = procs.cpu_seconds(service.pid)
                    res = loadgen.run(url, script, args.connections, args.duration,
                                      targets.LOAD_CORE)  # fmt: skip
                    cpu_us = (procs.cpu_seconds(service.pid) - cpu0) / res.requests * 1e6
                    service.proc.send_signal(19)
                    results[name].append(res.rps)
                    cpu[name].append(cpu_us)
                    line = f"round {round_no + 1} {name:>5}: {res.rps:8.0f} req/s, "
                    print(f"{line}{cpu_us:6.1f} µs CPU/request (errors {res.errors})", flush=True)
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/api/health", timeout=5) as r:
                print("receiver:", r.read().decode())
            base = statistics.median(results["off"])
            base_cpu = statistics.median(cpu["off"])
            for name, values in results.items():
                median = statistics.median(values)
                per_request = statistics.median(cpu[name])
                print(
                    f"{name:>5}: median {median:8.0f} req/s (ratio to off {median / base:.3f}), "
                    f"{per_request:6.1f} µs CPU/request (ratio to off "
                    f"{base_cpu / per_request:.3f})"
                )
        finally:
            for service, _ in gateways.values():
                service.proc.send_signal(18)
                procs.stop(service)
            procs.stop(receiver)
            procs.stop(upstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
