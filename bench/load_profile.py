"""Where the gateway's time goes at each concurrency: CPU per request, GC pauses, loop stalls,
and (with `--profile`) the functions whose cost per request grows between two levels.

    PYTHONPATH=src python bench/load_profile.py [--levels 1,32,256] [--duration 5] [--stream]
                                                [--profile] [--top 25]

The gateway runs in this process (`gateway_in_thread`, a uvloop loop in a thread, `settle_heap()`
after start as a worker does), pinned to core 0; the fake upstream and wrk on core 1. Per level:
- CPU per request: this process's /proc time over wrk's request count;
- GC: every collection timed with `gc.callbacks` (count per 1,000 requests, p50/p99/max pause
  by generation);
- loop stalls: a probe timer every 1 ms on the gateway's loop records how late it fires (libuv
  timers have 1 ms resolution: lateness under ~1 ms is rounding, above it the loop was busy);
- with `--profile`, a second run under cProfile (enabled on the loop thread): the top functions by
  own time per request, and per function the growth from the lowest to the highest level.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import os
import pstats
import re
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, TextIO

import loadgen
import procs
import targets
from plano.config import load_config_text
from plano.observability.access_log import AccessLog
from plano.runtime import serve
from plano.runtime.serve import gateway_in_thread

PROBE_INTERVAL: Final = 0.001


class GcTimer:
    """Every collection's duration by generation, from gc.callbacks."""

    def __init__(self) -> None:
        self.pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}  # wall seconds
        self.cpu_pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}  # thread CPU seconds
        self.cpu = 0.0  # thread CPU seconds in collections (not inflated by preemption)
        self._start = self._cpu = 0.0
        self.on = False

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start, self._cpu = time.perf_counter(), time.thread_time()
        else:
            cpu = time.thread_time() - self._cpu
            self.pauses[info["generation"]].append(time.perf_counter() - self._start)
            self.cpu_pauses[info["generation"]].append(cpu)
            self.cpu += cpu

    def reset(self) -> None:
        self.pauses = {0: [], 1: [], 2: []}
        self.cpu_pauses = {0: [], 1: [], 2: []}
        self.cpu = 0.0


class LagProbe:
    """A timer on the loop every PROBE_INTERVAL; how late each firing was, and for each late one
    what the time since the previous firing went to: the loop thread's CPU (our loop was busy),
    the process's other threads' CPU (the access-log writer, executor threads: they hold the
    GIL), or neither (the process was not running: other processes on the core)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.late: list[float] = []
        self.stalls: list[tuple[float, float, float, float]] = []  # late, loop, others, none
        self.running = False
        self._due = self._last = self._loop_cpu = self._proc_cpu = 0.0

    def _mark(self) -> None:
        self._last = time.perf_counter()
        self._loop_cpu, self._proc_cpu = time.thread_time(), time.process_time()
        self._due = self._last + PROBE_INTERVAL

    def _fire(self) -> None:
        now = time.perf_counter()
        late = now - self._due
        self.late.append(late)
        if late > STALL:
            loop_cpu = time.thread_time() - self._loop_cpu
            others = max(0.0, time.process_time() - self._proc_cpu - loop_cpu)
            none = max(0.0, now - self._last - loop_cpu - others)
            self.stalls.append((late, loop_cpu, others, none))
        if self.running:
            self._mark()
            self.loop.call_later(PROBE_INTERVAL, self._fire)

    def start(self) -> None:
        self.late, self.stalls = [], []
        self.running = True
        self.loop.call_soon_threadsafe(self._start)

    def _start(self) -> None:
        self._mark()
        self.loop.call_later(PROBE_INTERVAL, self._fire)

    def stop(self) -> None:
        self.running = False

    def text(self) -> str:
        late = self.late
        buckets = [0] * len(LAG_BUCKETS_MS)
        for x in late:
            buckets[next(i for i, b in enumerate(LAG_BUCKETS_MS) if x * 1e3 < b)] += 1
        hist = " ".join(
            f"<{b:g}:{n}" if b != float("inf") else f">={LAG_BUCKETS_MS[-2]:g}:{n}"
            for b, n in zip(LAG_BUCKETS_MS, buckets, strict=True)
        )
        loop_s, others_s, none_s = (sum(s[i] for s in self.stalls) for i in (1, 2, 3))
        spent = loop_s + others_s + none_s or 1.0
        return (
            f"probe late p50 {pct(late, 0.5) * 1e3:.2f} p99 {pct(late, 0.99) * 1e3:.2f} "
            f"max {max(late, default=0) * 1e3:.2f} ms; firings by lateness (ms) {hist}\n"
            f"             {len(self.stalls)} stalls > {STALL * 1e3:g} ms, their time: loop "
            f"thread CPU {loop_s / spent:.0%}, our other threads {others_s / spent:.0%}, "
            f"process not running {none_s / spent:.0%}"
        )


STALL: Final = 0.002
LAG_BUCKETS_MS: Final = (1.0, 2.0, 5.0, 10.0, 50.0, float("inf"))


def pct(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class AccessLines:
    """The gateway's own view of each request, from its access log (which this process's stdout
    is redirected to): `overhead_ms`, the request's time in the gateway minus the upstream's."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def overheads(self) -> list[float]:
        with self.path.open("rb") as f:
            f.seek(self.offset)
            data = f.read()
        self.offset += len(data)
        return [float(m) for m in OVERHEAD.findall(data)]


OVERHEAD: Final = re.compile(rb" overhead_ms=([\d.]+)")


def settle_heap() -> None:
    """As a worker does just before it serves (a source tree older than `settle_heap`, run with
    PYTHONPATH=OTHER/src, only froze the heap)."""
    settle = getattr(serve, "settle_heap", None)
    if settle is not None:
        settle()
    else:
        gc.collect()
        gc.freeze()


def measure(
    url: str,
    script: Path,
    conns: int,
    seconds: float,
    gct: GcTimer,
    lag: LagProbe,
    access: AccessLines,
) -> str:
    access.overheads()  # skip what came before
    gct.reset()
    gct.on = True
    lag.start()
    t0 = os.times()
    result = loadgen.run(url, script, conns, seconds, targets.LOAD_CORE)
    t1 = os.times()
    user, system = t1.user - t0.user, t1.system - t0.system
    cpu = user + system
    lag.stop()
    gct.on = False
    sys.stdout.flush()
    time.sleep(AccessLog.FLUSH_SECONDS * 4)  # the access log's writer thread catches up
    overheads = access.overheads()
    n = max(result.requests, 1)
    gc_text = "\n           ".join(
        f"gen{g} {len(p) * 1000 / n:5.1f}/1k req, CPU p50 {pct(c, 0.5) * 1e3:.3f} "
        f"p99 {pct(c, 0.99) * 1e3:.3f} max {max(c, default=0) * 1e3:.3f} ms "
        f"(wall p50 {pct(p, 0.5) * 1e3:.3f} max {max(p, default=0) * 1e3:.3f} ms)"
        for (g, p), c in zip(gct.pauses.items(), gct.cpu_pauses.values(), strict=True)
    )
    lag_text = lag.text()
    over_text = (
        f"overhead_ms (access log, {len(overheads)} requests) p50 {pct(overheads, 0.5):.3f} "
        f"p99 {pct(overheads, 0.99):.3f} p99.9 {pct(overheads, 0.999):.3f} "
        f"max {max(overheads, default=0):.3f}"
    )
    return (
        f"c={conns:<4} {result.rps:>8,.0f} req/s  p50 {result.p50_ms:.3f}  p99 "
        f"{result.p99_ms:.3f} ms  CPU {cpu / n * 1e6:.0f} µs/req (user {user / n * 1e6:.0f}, "
        f"system {system / n * 1e6:.0f}, GC {gct.cpu / n * 1e6:.1f})  "
        f"errors {result.errors}\n"
        f"       GC: {gc_text}\n       loop: {lag_text}\n       gateway: {over_text}"
    )


def profile(
    url: str,
    script: Path,
    conns: int,
    seconds: float,
    loop: asyncio.AbstractEventLoop,
    cpu_timer: bool,
) -> tuple[dict[str, float], int]:
    """Own time per request (µs) of each function under cProfile, and the request count."""
    prof = cProfile.Profile(time.thread_time) if cpu_timer else cProfile.Profile()
    loop.call_soon_threadsafe(prof.enable)
    result = loadgen.run(url, script, conns, seconds, targets.LOAD_CORE)
    done = asyncio.run_coroutine_threadsafe(_disable(prof), loop)
    done.result(10)
    stats = pstats.Stats(prof)
    n = max(result.requests, 1)
    out: dict[str, float] = {}
    for (file, line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        key = f"{Path(file).name}:{line}({name})"
        out[key] = row[2] / n * 1e6  # tottime
    return out, n


async def _disable(prof: cProfile.Profile) -> None:
    prof.disable()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,32,256")
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--stream", action="store_true")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--close", action="store_true", help="a new connection per request (connection: close)"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--cpu-profile", action="store_true", help="cProfile on thread CPU time")
    parser.add_argument("--gc-threshold", default=None, help="e.g. 700,10,10 (gc.set_threshold)")
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.levels.split(",")]
    os.sched_setaffinity(0, {targets.PROXY_CORE})
    with tempfile.TemporaryDirectory(prefix="plano-loadprof-") as tmp:
        log_dir = Path(tmp)
        out = sys.stdout
        sys.stdout = (log_dir / "access.log").open("w")  # where the gateway's access log goes
        access = AccessLines(log_dir / "access.log")
        upstream, port = targets.start_upstream(log_dir, 20, None)
        try:
            text = targets.GATEWAY_CONFIG.format(port=0, upstream=port, key=targets.UPSTREAM_KEY)
            config = load_config_text(text, source="bench.yaml", env={})
            with gateway_in_thread(config, admin=None) as gw:
                settle_heap()
                if args.gc_threshold:
                    gc.set_threshold(*(int(x) for x in args.gc_threshold.split(",")))
                url = f"{gw.url()}{loadgen.PATH}"
                script = loadgen.write_lua(log_dir, args.stream)
                if args.close:
                    script.write_text(script.read_text() + 'wrk.headers["Connection"] = "close"\n')
                loadgen.run(url, script, 64, 2.0, targets.LOAD_CORE)  # warm-up
                gct, lag = GcTimer(), LagProbe(gw.loop)
                gc.callbacks.append(gct)
                for conns in levels:
                    text = measure(url, script, conns, args.duration, gct, lag, access)
                    print(text, file=out, flush=True)
                if args.profile:
                    report_profiles(url, script, levels, args, gw.loop, out)
        finally:
            procs.stop(upstream)
            sys.stdout.close()
            sys.stdout = out
    return 0


def report_profiles(
    url: str,
    script: Path,
    levels: Sequence[int],
    args: argparse.Namespace,
    loop: Any,
    out: TextIO,
) -> None:
    costs = {c: profile(url, script, c, args.duration, loop, args.cpu_profile)[0] for c in levels}
    lo, hi = costs[levels[0]], costs[levels[-1]]
    for c in levels:
        total = sum(costs[c].values())
        print(
            f"\ncProfile c={c}: {total:.0f} µs/req of own time (profiled); top {args.top}:",
            file=out,
        )
        for key, v in sorted(costs[c].items(), key=lambda kv: -kv[1])[: args.top]:
            print(f"  {v:8.2f}  {key}", file=out)
    growth = {k: hi.get(k, 0.0) - lo.get(k, 0.0) for k in set(lo) | set(hi)}
    print(f"\ngrowth c={levels[0]} -> c={levels[-1]} (µs/req own time), largest first:", file=out)
    for key, v in sorted(growth.items(), key=lambda kv: -abs(kv[1]))[: args.top]:
        print(f"  {v:+8.2f}  {key}  ({lo.get(key, 0.0):.2f} -> {hi.get(key, 0.0):.2f})", file=out)
    print(f"  total {sum(hi.values()) - sum(lo.values()):+.1f} µs/req", file=out)


if __name__ == "__main__":
    sys.exit(main())
