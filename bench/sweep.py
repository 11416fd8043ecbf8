"""Throughput and tails of the gateway across a concurrency sweep, beside direct and the baseline.

    python bench/sweep.py [--quick] [--stream] [--levels 1,2,4,...,256] [--duration 5]
                          [--rounds 3] [--base-src OTHER/src] [--out sweep.json]

One Plano worker (`plano up --workers 1`) and `bench/baseline_proxy.py` on core 0, the fake
upstream and wrk on core 1 (as in bench/run.py). Every round runs every level against every
target in turn (the order of targets rotating between rounds), so gateway, baseline and direct
see the same machine at about the same time. Each cell is the median over the rounds. Printed:
req/s, p50 and p99 per level and target, the gateway's CPU per request (its worker's /proc time),
the gateway's value at the highest level as a share of its peak, the added p99 at 1 connection
(gateway p99 - direct p99) and the gateway's p99 at 64 connections against the baseline's.
With `--base-src`, a second gateway served by another source tree (`plano-base`) joins the
rotation: a before/after of a change in one run. See docs/performance.md, "Overload and tails".
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import ab
import loadgen
import procs
import report
import run
import targets
from probe import probe
from procs import Service, StartError
from report import Cell, Run
from targets import Target

LEVELS: Final = (1, 2, 4, 8, 16, 32, 64, 128, 256)
HOLD_TARGET: Final = 0.9  # req/s at the highest level >= 0.9 x the peak
ADDED_P99_TARGET_MS: Final = 1.0  # gateway p99 - direct p99 at 1 connection
GATEWAYS: Final = ("plano", "plano-base")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s per cell (smoke)")
    parser.add_argument("--stream", action="store_true", help="streamed chat instead")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="connections")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--chunks", type=int, default=20, help="SSE content chunks per stream")
    parser.add_argument(
        "--targets", default="direct,baseline,plano", help="subset of direct,baseline,plano"
    )
    parser.add_argument("--base-src", default=None, help="also run a gateway from this src/")
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.15,
        help="redo a run when other processes used more than this share of a pinned core",
    )
    parser.add_argument("--out", type=Path, default=Path("sweep.json"), help="JSON output")
    parser.add_argument("--log-dir", type=Path, default=None, help="keep logs/configs here")
    args = parser.parse_args(argv)
    args.levels = sorted({int(x) for x in args.levels.split(",") if x.strip()})
    if args.quick:
        args.duration, args.rounds = 2.0, 1
    args.upstream_cmd = None
    return args


def start_all(args: argparse.Namespace, log_dir: Path) -> tuple[Service, list[Target]]:
    upstream, port = targets.start_upstream(log_dir, args.chunks, None)
    try:
        direct = probe(port, args.chunks)
        if not direct.ok:
            raise StartError(f"the fake upstream answers wrongly: {direct.detail}")
        wanted = [t.strip() for t in args.targets.split(",") if t.strip()]
        ready, _, skipped = run.start_targets(wanted, log_dir, port, args.chunks)
        for name, why in skipped.items():
            print(f"SKIPPED {name}: {why}", file=sys.stderr)
        if args.base_src:
            service, url = ab.start_gateway("base", "", log_dir, port, 0, src=args.base_src)
            base = Target("plano-base", int(url.rsplit(":", 1)[1].split("/", 1)[0]), service)
            ready.append(base)
            result = probe(base.port, args.chunks)
            if not result.ok:
                raise StartError(f"plano-base failed its probe: {result.detail}")
    except BaseException:
        procs.stop(upstream)
        raise
    return upstream, ready


def cell(table: Sequence[Cell], target: str, conns: int) -> Cell | None:
    return next((c for c in table if c.target == target and c.connections == conns), None)


def cpu_us(c: Cell | None) -> float | None:
    """CPU per request of a proxy's process (µs), from its share of a core and its req/s."""
    if c is None or c.proxy_cpu is None or not c.rps:
        return None
    return c.proxy_cpu / c.rps * 1e6


def figures(table: Sequence[Cell], levels: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    top, low = max(levels), min(levels)
    direct_low = cell(table, "direct", low)
    for name in (*GATEWAYS, "baseline"):
        rows = [c for c in table if c.target == name]
        if not rows:
            continue
        peak = max(rows, key=lambda c: c.rps)
        at_top = cell(table, name, top)
        here: dict[str, Any] = {
            "peak_rps": peak.rps,
            "peak_at": peak.connections,
            f"rps_{top}_over_peak": round(at_top.rps / peak.rps, 3) if at_top else None,
        }
        lo = cell(table, name, low)
        if lo and direct_low:
            here[f"added_p99_ms_c{low}"] = round(lo.p99_ms - direct_low.p99_ms, 3)
            here[f"added_p50_ms_c{low}"] = round(lo.p50_ms - direct_low.p50_ms, 3)
        mid, base_mid = cell(table, name, 64), cell(table, "baseline", 64)
        if mid and base_mid and name != "baseline":
            here["p99_ms_c64"] = mid.p99_ms
            here["p99_c64_over_baseline"] = round(mid.p99_ms / base_mid.p99_ms, 3)
        out[name] = here
    return out


def table_text(table: Sequence[Cell], levels: Sequence[int], names: Sequence[str]) -> str:
    head = f"{'c':>4} " + " ".join(f"{n + ' req/s':>16} {'p50':>7} {'p99':>7}" for n in names)
    head += "   " + " ".join(f"{n + ' µs/req':>16}" for n in names if n != "direct")
    lines = [head, "-" * len(head)]
    for conns in levels:
        parts = []
        for n in names:
            c = cell(table, n, conns)
            parts.append(
                f"{'-':>16} {'-':>7} {'-':>7}"
                if c is None
                else f"{c.rps:>16,.0f} {c.p50_ms:>7.2f} {c.p99_ms:>7.2f}"
            )
        cpu = [cpu_us(cell(table, n, conns)) for n in names if n != "direct"]
        lines.append(
            f"{conns:>4} "
            + " ".join(parts)
            + "   "
            + " ".join(report._fmt(v, ".0f", 16) for v in cpu)
        )
    return "\n".join(lines)


def figures_text(figs: dict[str, Any], levels: Sequence[int]) -> str:
    top, low = max(levels), min(levels)
    lines = []
    for name, f in figs.items():
        text = (
            f"{name:<10} peak {f['peak_rps']:,.0f} req/s at c={f['peak_at']}; "
            f"c={top} / peak {report._fmt(f[f'rps_{top}_over_peak'], '.3f')} "
            f"(target >= {HOLD_TARGET})"
        )
        if f"added_p99_ms_c{low}" in f:
            text += (
                f"; added at c={low}: p50 {f[f'added_p50_ms_c{low}']:.3f} ms, "
                f"p99 {f[f'added_p99_ms_c{low}']:.3f} ms (target <= {ADDED_P99_TARGET_MS})"
            )
        if "p99_c64_over_baseline" in f:
            text += (
                f"; p99 at c=64 {f['p99_ms_c64']:.2f} ms = "
                f"{f['p99_c64_over_baseline']:.2f}x the baseline's (target <= 1)"
            )
        lines.append(text)
    return "\n".join(lines)


def sweep(args: argparse.Namespace, log_dir: Path) -> int:
    script = loadgen.write_lua(log_dir, args.stream)
    upstream, ready = start_all(args, log_dir)
    services = [upstream, *(t.service for t in ready if t.service is not None)]
    runs: list[Run] = []
    try:
        print(f"warming up ({', '.join(t.name for t in ready)})", flush=True)
        for target in ready:
            loadgen.run(target.url, script, 64, min(2.0, args.duration), targets.LOAD_CORE)
        for rnd in range(args.rounds):
            for conns in args.levels:
                for target in run.rotated(ready, rnd + conns):
                    r = run.measure_quietly(
                        target, upstream, script, conns=conns, args=args, rnd=rnd
                    )
                    runs.append(r)
                    print(
                        f"round {rnd + 1}/{args.rounds} c={conns:<4} {target.name:<10} "
                        f"{r.rps:>9,.0f} req/s  p50 {r.p50_ms:.3f}  p99 {r.p99_ms:.3f} ms  "
                        f"proxy {report._fmt(r.proxy_cpu, '.0%')}  errors {r.errors}",
                        flush=True,
                    )
    finally:
        for service in reversed(services):
            procs.stop(service)
    table = report.cells(runs)
    names = [t.name for t in ready]
    figs = figures(table, args.levels)
    mode = "stream" if args.stream else "non-stream"
    print(f"\nchat {mode}, {args.rounds} round(s) x {args.duration:g} s per cell, medians")
    print(table_text(table, args.levels, names))
    print("(µs/req: CPU time of the proxy's process per request, from /proc)\n")
    print(figures_text(figs, args.levels))
    doc = report.document({"args": vars(args) | {"out": str(args.out)}}, runs, table, {})
    doc["figures"] = figs
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")
    print(f"\nwrote {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, run._exit_on_signal)
    args = parse_args(argv)
    if problem := run.preflight():
        print(f"error: {problem}", file=sys.stderr)
        return 2
    with run.work_dir(args.log_dir) as log_dir:
        try:
            return sweep(args, log_dir)
        except StartError as exc:
            print(f"cannot start: {exc}", file=sys.stderr)
            return 1


if __name__ == "__main__":
    sys.exit(main())
