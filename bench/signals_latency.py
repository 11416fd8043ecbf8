"""Latency at one connection with agentic signals off and on: p50 and p99 of each, in turns.

    python bench/signals_latency.py [--rounds 6] [--duration 5] [--conversation 10]

Four gateways (one worker each, core 0) serve the same 10-turn conversation body: `off`
(`disable_signals: true`), `control` (a second `off`: the noise), `on` (every request analysed
in the analysis thread, within the default CPU budget) and `on-loop` (the same, analysed on the
event loop: `PLANO_SIGNALS_THREAD=0`). Each round loads each gateway alone, one connection,
in turn (the order rotates); the medians of each variant's p50 and p99 over the rounds are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

import loadgen
import procs
import targets
from ab import SIGNALS, start_gateway


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--conversation", type=int, default=10)
    args = parser.parse_args()
    variants = {name: SIGNALS[name] for name in ("off", "control", "on")}
    variants["on-loop"] = SIGNALS["on"]  # analysed on the event loop (PLANO_SIGNALS_THREAD=0)
    with tempfile.TemporaryDirectory(prefix="plano-sig-lat-") as tmp:
        log_dir = Path(tmp)
        upstream, upstream_port = targets.start_upstream(log_dir, 20, None)
        gateways: dict[str, tuple[procs.Service, str]] = {}
        try:
            for name, extra in variants.items():
                if name == "on-loop":
                    os.environ["PLANO_SIGNALS_THREAD"] = "0"
                try:
                    gateways[name] = start_gateway(name, extra, log_dir, upstream_port, 0)
                finally:
                    os.environ.pop("PLANO_SIGNALS_THREAD", None)
            script = loadgen.write_lua(log_dir, False, args.conversation)
            for _, url in gateways.values():
                loadgen.run(url, script, 1, 2, targets.LOAD_CORE)  # warm-up
            p50: dict[str, list[float]] = {name: [] for name in gateways}
            p99: dict[str, list[float]] = {name: [] for name in gateways}
            names = list(gateways)
            for round_no in range(args.rounds):
                order = names[round_no % len(names) :] + names[: round_no % len(names)]
                cells = []
                for name in order:
                    url = gateways[name][1]
                    res = loadgen.run(url, script, 1, args.duration, targets.LOAD_CORE)
                    p50[name].append(res.p50_ms)
                    p99[name].append(res.p99_ms)
                    cells.append(f"{name} p50 {res.p50_ms:.3f} p99 {res.p99_ms:.3f}")
                print(f"round {round_no + 1}: " + "  ".join(cells), flush=True)
            print(f"\none connection, {args.conversation}-turn conversations (ms):")
            for name in names:
                print(
                    f"  {name:>8}: p50 {statistics.median(p50[name]):.3f}  "
                    f"p99 {statistics.median(p99[name]):.3f}"
                )
        finally:
            for service, _ in gateways.values():
                procs.stop(service)
            procs.stop(upstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
