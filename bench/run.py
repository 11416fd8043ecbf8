"""Benchmark Plano against a direct upstream and a hand-rolled asyncio proxy, side by side.

    python bench/run.py [--quick] [--duration 10] [--rounds 3] [--out results.json]

Each proxy runs alone on core 0; the fake upstream (`plano mock-llm`) and wrk share core 1. Every
round runs every (mode, concurrency) cell against every target in turn, rotating the target order
between rounds, and each cell reports the median over the rounds. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import cpustat
import loadgen
import procs
import report
import targets
from probe import probe
from procs import Service, StartError
from report import Run
from targets import Target

CONCURRENCY: Final = (64, 1)
WARMUP_SECONDS: Final = 2.0
MAX_ATTEMPTS: Final = 3  # a run disturbed by other processes is redone at most twice
MAX_QUIET_WAIT_SECONDS: Final = 60.0  # before each run, wait this long at most for a quiet machine


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s per cell (smoke)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--chunks", type=int, default=20, help="SSE content chunks per stream")
    parser.add_argument("--out", type=Path, default=Path("results.json"), help="JSON output")
    parser.add_argument(
        "--targets",
        default="direct,baseline,plano,litellm",
        help="comma-separated subset of direct,baseline,plano,litellm",
    )
    parser.add_argument(
        "--upstream-cmd",
        default=None,
        help="replace the fake upstream; {python}, {port} and {chunks} are substituted",
    )
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.15,
        help="redo a run when other processes used more than this share of a pinned core",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="keep logs/configs here")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.rounds = 3.0, 1
    return args


def preflight() -> str | None:
    """Why the benchmark cannot run here, or None."""
    if loadgen.wrk_path() is None:
        return (
            "wrk is not installed (apt-get install -y wrk); there is no Python fallback: "
            "on 2 cores a Python load generator would be the bottleneck"
        )
    if not {targets.PROXY_CORE, targets.LOAD_CORE} <= os.sched_getaffinity(0):
        return f"needs cores {targets.PROXY_CORE} and {targets.LOAD_CORE} (taskset pinning)"
    return None


def machine_meta(args: argparse.Namespace) -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).splitlines()[0] if (wrk.stdout or wrk.stderr) else "?",
        "duration_s": args.duration,
        "rounds": args.rounds,
        "chunks": args.chunks,
        "body_bytes": {
            "non_stream": len(loadgen.chat_body(False)),
            "stream": len(loadgen.chat_body(True)),
        },
        "wrk_options": (
            f"-t 1 -c {{64,1}} -d {args.duration:g}s --latency --timeout {loadgen.WRK_TIMEOUT}"
        ),
        "pinning": {
            "proxy": targets.PROXY_CORE,
            "upstream": targets.LOAD_CORE,
            "wrk": targets.LOAD_CORE,
        },
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def measure(
    target: Target, upstream: Service, script: Path, *, conns: int, seconds: float, rnd: int
) -> Run:
    stream = script.name == "stream.lua"
    proxy_pid = procs.serving_pid(target.service.pid) if target.service else None
    cores0 = cpustat.busy_seconds()
    up0 = procs.cpu_seconds(upstream.pid)
    px0 = procs.cpu_seconds(proxy_pid) if proxy_pid else 0.0
    t0 = time.monotonic()
    result = loadgen.run(target.url, script, conns, seconds, targets.LOAD_CORE)
    wall = time.monotonic() - t0
    px1 = procs.cpu_seconds(proxy_pid) if proxy_pid else 0.0
    up1 = procs.cpu_seconds(upstream.pid)
    cores1 = cpustat.busy_seconds()
    busy = cpustat.busy_fraction(cores0, cores1, wall)
    proxy_cpu = round((px1 - px0) / wall, 3) if proxy_pid else None
    upstream_cpu = round((up1 - up0) / wall, 3)
    wrk_cpu = round(result.cpu_s / wall, 3)
    other = (
        round(max(0.0, busy[targets.PROXY_CORE] - (proxy_cpu or 0.0)), 3),
        round(max(0.0, busy[targets.LOAD_CORE] - upstream_cpu - wrk_cpu), 3),
    )
    return Run(
        round=rnd,
        target=target.name,
        stream=stream,
        connections=conns,
        rps=result.rps,
        p50_ms=result.p50_ms,
        p99_ms=result.p99_ms,
        requests=result.requests,
        errors=result.errors,
        proxy_cpu=proxy_cpu,
        upstream_cpu=upstream_cpu,
        wrk_cpu=wrk_cpu,
        core_busy=busy,
        other_load=other,
    )


def measure_quietly(
    target: Target,
    upstream: Service,
    script: Path,
    *,
    conns: int,
    args: argparse.Namespace,
    rnd: int,
) -> Run:
    """Measure on a quiet machine; redo a run that other processes disturbed (a few times at most).

    The machine is shared: before each run, wait (bounded) until neither pinned core is busy.
    """
    cores = (targets.PROXY_CORE, targets.LOAD_CORE)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        waited = cpustat.wait_quiet(cores, args.max_other_load, MAX_QUIET_WAIT_SECONDS, 0.5)
        if waited > 5:
            print(f"  waited {waited:.0f} s for other processes to leave the cores")
        run = measure(target, upstream, script, conns=conns, seconds=args.duration, rnd=rnd)
        run.attempts = attempt
        # wrk -> upstream alone runs on the load core: load on the proxy core does not matter.
        watched = run.other_load if target.service else (0.0, run.other_load[1])
        worst = max(watched)
        core = cores[watched.index(worst)]
        if worst <= args.max_other_load or attempt == MAX_ATTEMPTS:
            if worst > args.max_other_load:
                print(f"  warning: kept a run disturbed by other load ({worst:.0%} of core {core})")
            return run
        print(f"  other processes used {worst:.0%} of core {core} during the run; redoing it")
    raise AssertionError("unreachable")


def start_targets(
    wanted: Sequence[str], log_dir: Path, upstream_port: int, chunks: int
) -> tuple[list[Target], dict[str, str], dict[str, str]]:
    """Start each wanted proxy and probe it; returns (targets, probe results, skipped reasons)."""
    starters = {
        "baseline": targets.start_baseline,
        "plano": targets.start_gateway,
        "litellm": targets.start_litellm,
    }
    ready = [Target("direct", upstream_port, None)] if "direct" in wanted else []
    probes: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in ("baseline", "plano", "litellm"):
        if name not in wanted:
            continue
        if name == "litellm" and not targets.litellm_available():
            skipped[name] = "litellm is not importable in this Python environment"
            continue
        try:
            target = starters[name](log_dir, upstream_port)
        except StartError as exc:
            skipped[name] = f"did not start: {exc}"
            continue
        result = probe(target.port, chunks)
        probes[name] = result.detail
        if result.ok:
            ready.append(target)
        else:
            skipped[name] = f"failed its functional probe: {result.detail}"
            assert target.service is not None
            procs.stop(target.service)
    return ready, probes, skipped


def rotated(items: Sequence[Target], by: int) -> list[Target]:
    k = by % len(items) if items else 0
    return [*items[k:], *items[:k]]


@contextlib.contextmanager
def work_dir(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    with tempfile.TemporaryDirectory(prefix="plano-bench-") as tmp:
        yield Path(tmp)


def benchmark(args: argparse.Namespace, log_dir: Path) -> int:
    wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
    meta = machine_meta(args)
    scripts = {stream: loadgen.write_lua(log_dir, stream) for stream in (False, True)}
    services: list[Service] = []
    try:
        upstream, upstream_port = targets.start_upstream(log_dir, args.chunks, args.upstream_cmd)
        services.append(upstream)
        direct = probe(upstream_port, args.chunks)
        if not direct.ok:
            print(f"the fake upstream answers wrongly: {direct.detail}", file=sys.stderr)
            return 1
        ready, probes, skipped = start_targets(wanted, log_dir, upstream_port, args.chunks)
        services += [t.service for t in ready if t.service is not None]
        probes["direct"] = direct.detail
        meta |= {"probes": probes, "skipped": skipped, "targets": [t.name for t in ready]}
        for name, why in skipped.items():
            print(f"SKIPPED {name}: {why}", file=sys.stderr)

        print(f"warming up ({', '.join(t.name for t in ready)})", flush=True)
        warm = min(WARMUP_SECONDS, args.duration)
        for target in ready:
            for script in scripts.values():
                loadgen.run(target.url, script, CONCURRENCY[0], warm, targets.LOAD_CORE)

        runs: list[Run] = []
        for rnd in range(args.rounds):
            for stream in (False, True):
                for conns in CONCURRENCY:
                    for target in rotated(ready, rnd):
                        run = measure_quietly(
                            target, upstream, scripts[stream], conns=conns, args=args, rnd=rnd
                        )
                        runs.append(run)
                        print(
                            f"round {rnd + 1}/{args.rounds} {target.name:<9} "
                            f"{'stream' if stream else 'non-stream':<10} c={conns:<3} "
                            f"{run.rps:>9,.0f} req/s  p50 {run.p50_ms:.3f} ms  "
                            f"p99 {run.p99_ms:.3f} ms  errors {run.errors}",
                            flush=True,
                        )
        meta["rss_mb_after_run"] = {
            s.name: None if (mb := procs.rss_mb(s.pid)) is None else round(mb, 1) for s in services
        }
        meta["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    except StartError as exc:
        print(f"cannot start: {exc}", file=sys.stderr)
        return 1
    finally:
        for service in reversed(services):
            procs.stop(service)

    table = report.cells(runs)
    ratios = report.ratios(table)
    print()
    print(report.table_text(table))
    print(
        "\nproxy/upstr/wrk: CPU used by that process, as a share of one core; other0/other1: "
        "CPU used by anything else on core 0 (proxy) / core 1 (upstream + wrk)"
    )
    print(f"RSS after the run (MB): {meta['rss_mb_after_run']}")
    print()
    print(report.ratios_text(ratios))
    for name, why in meta["skipped"].items():
        print(f"SKIPPED {name}: {why.splitlines()[0]}")
    args.out.write_text(json.dumps(report.document(meta, runs, table, ratios), indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through `finally`, which stops our processes


def main(argv: Sequence[str] | None = None) -> int:
    # Started in the background, a process inherits an ignored SIGINT; restore both signals.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _exit_on_signal)
    args = parse_args(argv)
    problem = preflight()
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with work_dir(args.log_dir) as log_dir:
        return benchmark(args, log_dir)


if __name__ == "__main__":
    sys.exit(main())
