"""Where a variant's gateway time goes: cProfile on the event loop's thread under wrk load.

    python bench/variants_profile.py responses->chat [--stream] [--seconds 5] [--top 30]
                                     [--sort tottime] [--out stats.prof]

The gateway runs in this process (`gateway_in_thread`, the variants' config from
bench/variants_table.py), the fake upstream as its own process on core 1 with wrk; the profiler is
switched on in the loop's thread after a warm-up, and the top functions are printed per request
(the stats divided by the requests wrk completed), so two variants compare directly.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import os
import pstats
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import loadgen
import procs
import targets
import variants_table
from plano.config.loader import load_config_text
from plano.runtime.serve import gateway_in_thread
from variants import write_script


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    """Run `fn` in the loop's thread and wait for it."""
    done = threading.Event()

    def call() -> None:
        fn()
        done.set()

    loop.call_soon_threadsafe(call)
    done.wait(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variant", choices=[v.name for v in variants_table.VARIANTS])
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    variant = next(v for v in variants_table.VARIANTS if v.name == args.variant)
    os.environ.setdefault("CHATGPT_ACCOUNT_ID", "bench")
    with tempfile.TemporaryDirectory(prefix="plano-prof-") as tmp:
        log_dir = Path(tmp)
        upstream, upstream_port = targets.start_upstream(log_dir, 20, None)
        try:
            port = procs.free_port()
            text = variants_table.gateway_config(port, upstream_port, targets.UPSTREAM_KEY)
            with gateway_in_thread(load_config_text(text), admin=None) as gw:
                url = f"http://127.0.0.1:{port}{variant.path}"
                script = write_script(log_dir, "prof", variant.client_body(args.stream))
                loadgen.run(url, script, args.connections, 2, targets.LOAD_CORE)  # warm-up
                prof = cProfile.Profile(time.thread_time)  # CPU time: the machine may be shared
                on_loop(gw.loop, prof.enable)
                result = loadgen.run(url, script, args.connections, args.seconds, 1)
                on_loop(gw.loop, prof.disable)
        finally:
            procs.stop(upstream)
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    total = stats.total_tt  # type: ignore[attr-defined]
    print(f"{variant.name} {'stream' if args.stream else 'non-stream'}: {result.requests} requests")
    print(
        f"profiled loop time per request: {total / result.requests * 1e6:.1f} µs (under cProfile)"
    )
    stats.sort_stats(args.sort).print_stats(args.top)
    print(out.getvalue())
    if args.out:
        stats.dump_stats(args.out)


if __name__ == "__main__":
    main()
