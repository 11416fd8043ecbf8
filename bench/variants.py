"""Gateway CPU per request for every client dialect x upstream dialect, stream and not.

    python bench/variants.py [--requests 20000] [--rounds 3] [--connections 10] [--quick]
                             [--variants responses->chat,...] [--modes nonstream,stream]
                             [--chunks 20] [--json out.json]

One gateway worker on core 0 (`plano up --workers 1`), the fake upstream (`plano mock-llm`, every
dialect) and wrk on core 1, as bench/run.py pins them. The variants (bench/variants_table.py) are
the chat passthrough (the reference), the Responses and Messages passthroughs and the translated
pairs of the conformance matrix. Every round runs every variant in both modes, in a rotated order,
`--requests` requests each at `--connections` connections (wrk stops after that many responses),
then the fake upstream alone in each dialect (the direct measurement). Per variant: the gateway's
CPU µs per request (user + system from /proc, all threads), throughput, its share of the direct
upstream's throughput in the same dialect, and its CPU per request over the chat passthrough's in
the same round and mode (the median of the paired ratios; the median round otherwise).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import loadgen
import procs
import targets
import variants_table
from variants_table import REFERENCE, Variant

MODES: Final = ("nonstream", "stream")
WARMUP_SECONDS: Final = 2  # per variant first: warms it up, measures its rate (whole seconds)
TARGET_RATIO: Final = 1.15

LUA: Final = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer client-key"
wrk.headers["x-api-key"] = "client-key"
wrk.headers["anthropic-version"] = "2023-06-01"
wrk.body = [==[{body}]==]
"""


@dataclass(slots=True)
class Cell:
    """One variant in one mode over the rounds."""

    cpu_us: list[float] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    ratio: list[float] = field(default_factory=list)  # paired with the reference's round

    def summary(self, direct_rps: float | None) -> dict[str, float | None]:
        rps = statistics.median(self.rps)
        return {
            "cpu_us_per_request": round(statistics.median(self.cpu_us), 1),
            "rps": round(rps, 1),
            "share_of_direct": round(rps / direct_rps, 3) if direct_rps else None,
            "ratio_to_chat": round(statistics.median(self.ratio), 3) if self.ratio else None,
            "ratio_min": round(min(self.ratio), 3) if self.ratio else None,
            "ratio_max": round(max(self.ratio), 3) if self.ratio else None,
        }


def write_script(directory: Path, name: str, body: bytes) -> Path:
    text = body.decode()
    if "]==]" in text:
        raise ValueError("body cannot be embedded in a Lua long string")
    path = directory / f"{name.replace('>', '').replace('-', '_')}.lua"
    path.write_text(LUA.format(body=text))
    return path


def start_gateway(
    log_dir: Path, upstream: int, name: str = "plano", src: str | None = None
) -> tuple[procs.Service, int, int]:
    """The gateway (one worker on the proxy core), served from `src` (a source tree's `src/`)
    when given; its service, port and serving pid."""
    port = procs.free_port()
    config = log_dir / f"{name}_variants.yaml"
    config.write_text(variants_table.gateway_config(port, upstream, targets.UPSTREAM_KEY))
    cmd = [sys.executable, "-m", "plano", "up", str(config), "--foreground", "--workers", "1"]
    env = {"PLANO_ADMIN_PORT": "off", "CHATGPT_ACCOUNT_ID": "bench"}
    if src is not None:
        env["PYTHONPATH"] = str(Path(src).resolve())
    service = procs.start(name, cmd, targets.PROXY_CORE, log_dir, env=env)
    procs.wait_line(service, "plano ready")
    return service, port, procs.serving_pid(service.pid)


def run_wrk(url: str, script: Path, connections: int, seconds: int) -> loadgen.WrkResult:
    result = loadgen.run(url, script, connections, seconds, targets.LOAD_CORE)
    if result.errors:
        raise RuntimeError(f"{url}: {result.errors} failed requests\n{result.output}")
    return result


@dataclass(slots=True)
class Load:
    """One wrk target: a URL and its script, run for about `requests` requests at a time (wrk
    runs for a duration: the last run's rate sets the next one's)."""

    url: str
    script: Path
    rate: float = 0.0  # requests per second, from the previous run

    def run(self, connections: int, requests: int) -> loadgen.WrkResult:
        seconds = WARMUP_SECONDS if not self.rate else max(1, round(requests / self.rate))
        result = run_wrk(self.url, self.script, connections, seconds)
        self.rate = result.rps
        return result


def measure(pid: int, load: Load, connections: int, requests: int) -> tuple[float, float]:
    """(gateway CPU µs per request, requests per second) of one wrk run."""
    before = procs.cpu_seconds(pid)
    result = load.run(connections, requests)
    return (procs.cpu_seconds(pid) - before) / result.requests * 1e6, result.rps


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000, help="per variant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream")
    parser.add_argument("--variants", default=None, help="comma-separated names (default: all)")
    parser.add_argument("--modes", default="nonstream,stream")
    parser.add_argument("--quick", action="store_true", help="2,000 requests per variant")
    parser.add_argument(
        "--base-src",
        default=None,
        help="also serve every variant from this src/ directory (e.g. a worktree of an earlier "
        "commit), interleaved with this tree: before/after CPU per request",
    )
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests = 2_000
    return args


def print_table(
    results: dict[str, dict[str, dict[str, float | None]]], direct: dict[str, float]
) -> None:
    for mode, rows in results.items():
        print(f"\n{mode} (CPU µs per request: median of the rounds; ratio: median of the paired")
        print("ratios to chat->chat in the same round, min-max in brackets)")
        print(f"  {'variant':<22}{'CPU µs/req':>11}{'req/s':>9}{'of direct':>10}  ratio")
        for name, row in rows.items():
            share = row["share_of_direct"]
            flag = " over 1.15" if (row["ratio_to_chat"] or 0) > TARGET_RATIO else ""
            print(
                f"  {name:<22}{row['cpu_us_per_request']:>11.1f}{row['rps']:>9.0f}"
                f"{share if share is not None else float('nan'):>10.2f}  "
                f"{row['ratio_to_chat']:.2f} ({row['ratio_min']:.2f}-{row['ratio_max']:.2f}){flag}"
            )
        cells = ", ".join(
            f"{path} {rps:.0f}" for key, rps in direct.items() for m, path in [key.split(" ")]
            if m == mode
        )  # fmt: skip
        print(f"  direct fake upstream (req/s): {cells}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if loadgen.wrk_path() is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    chosen: tuple[Variant, ...] = variants_table.by_name(args.variants)
    modes = [m for m in args.modes.split(",") if m in MODES]
    cells = {(v.name, m): Cell() for v in chosen for m in modes}
    # --base-src: per variant and mode, (base tree µs, this tree µs) per round
    befores: dict[tuple[str, str], list[Any]] = {key: [] for key in cells}
    direct_rps: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="plano-variants-") as tmp:
        log_dir = Path(tmp)
        upstream, upstream_port = targets.start_upstream(log_dir, args.chunks, None)
        gateways: list[procs.Service] = []
        try:
            gateway, port, pid = start_gateway(log_dir, upstream_port)
            gateways.append(gateway)
            loads = {
                (v.name, m): Load(
                    f"http://127.0.0.1:{port}{v.path}",
                    write_script(log_dir, f"{v.name}_{m}", v.client_body(m == "stream")),
                )
                for v in chosen
                for m in modes
            }
            base: dict[tuple[str, str], Load] = {}
            base_pid = 0
            if args.base_src:
                service, base_port, base_pid = start_gateway(
                    log_dir, upstream_port, "base", args.base_src
                )
                gateways.append(service)
                base = {
                    key: Load(f"http://127.0.0.1:{base_port}{load.url.split(str(port), 1)[1]}",
                              load.script)
                    for key, load in loads.items()
                }  # fmt: skip
            upstream_paths = sorted({v.upstream_path for v in chosen})
            direct_loads = {
                (p, m): Load(
                    f"http://127.0.0.1:{upstream_port}{p}",
                    write_script(
                        log_dir,
                        f"direct{p.replace('/', '_')}_{m}",
                        variants_table.BODY_BY_PATH[p]("gpt-4o", m == "stream"),
                    ),
                )
                for p in upstream_paths
                for m in modes
            }
            for load in [*loads.values(), *base.values(), *direct_loads.values()]:
                load.run(args.connections, 0)  # warm-up; sets the rate
            for round_no in range(args.rounds):
                for m in modes:
                    shift = round_no % len(chosen)
                    got: dict[str, float] = {}
                    for v in chosen[shift:] + chosen[:shift]:
                        if base and round_no % 2:  # the base tree first every other round
                            _measure_base(base_pid, base[v.name, m], args, befores[v.name, m])
                        us, rps = measure(pid, loads[v.name, m], args.connections, args.requests)
                        if base:
                            if not round_no % 2:
                                _measure_base(base_pid, base[v.name, m], args, befores[v.name, m])
                            befores[v.name, m][-1] = (befores[v.name, m][-1], us)
                        got[v.name] = us
                        cells[v.name, m].cpu_us.append(us)
                        cells[v.name, m].rps.append(rps)
                    for name, us in got.items():
                        cells[name, m].ratio.append(us / got[REFERENCE])
                    line = "  ".join(f"{name} {us:6.1f}" for name, us in got.items())
                    print(f"round {round_no + 1} {m} (µs CPU/request): {line}", flush=True)
                    for p in upstream_paths:
                        res = direct_loads[p, m].run(args.connections, args.requests)
                        direct_rps.setdefault(f"{m} {p}", []).append(res.rps)
        finally:
            for service in gateways:
                procs.stop(service)
            procs.stop(upstream)
    direct = {key: statistics.median(values) for key, values in direct_rps.items()}
    results = {
        m: {v.name: cells[v.name, m].summary(direct.get(f"{m} {v.upstream_path}")) for v in chosen}
        for m in modes
    }
    print(f"\n{args.requests} requests per variant and round, {args.rounds} rounds, "
          f"{args.connections} connections, {args.chunks} chunks per stream")  # fmt: skip
    print_table(results, direct)
    before_after = _before_after(befores) if args.base_src else {}
    if args.json:
        doc = {"args": {k: str(v) for k, v in vars(args).items()}, "results": results}
        doc["before_after"] = before_after
        args.json.write_text(json.dumps({**doc, "direct_rps": direct}, indent=2))
    return 0


def _measure_base(pid: int, load: Load, args: argparse.Namespace, into: list[Any]) -> None:
    into.append(measure(pid, load, args.connections, args.requests)[0])


def _before_after(befores: dict[tuple[str, str], list[Any]]) -> dict[str, dict[str, float]]:
    """Print and return, per variant and mode, the base tree's and this tree's CPU per request
    (medians) and the median of the paired ratios this / base."""
    print("\nbefore (--base-src) / after (this tree), CPU µs per request; ratio: median of pairs")
    out = {}
    for (name, mode), pairs in befores.items():
        before = statistics.median(b for b, _ in pairs)
        after = statistics.median(a for _, a in pairs)
        ratio = statistics.median(a / b for b, a in pairs)
        print(f"  {mode:<9} {name:<22} {before:7.1f} -> {after:7.1f}  ({ratio:.2f})")
        out[f"{mode} {name}"] = {"before": before, "after": after, "ratio": round(ratio, 3)}
    return out


if __name__ == "__main__":
    sys.exit(main())
