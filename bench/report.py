"""Medians per cell, the gateway-vs-baseline ratios, the printed table and the JSON document."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

RPS_RATIO_TARGET: Final = 0.6  # gateway req/s at c=64 >= 0.6 x baseline
ADDED_P50_TARGET_MS: Final = 0.4  # gateway p50 at c=1 - direct p50 <= 0.4 ms
HIGH: Final = 64
LOW: Final = 1


@dataclass(slots=True)
class Run:
    """One wrk run against one target. CPU figures are fractions of one core over the run."""

    round: int
    target: str
    stream: bool
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    proxy_cpu: float | None
    upstream_cpu: float
    wrk_cpu: float
    core_busy: list[float]
    other_load: tuple[float, float]  # busy share of (proxy core, load core) not used by us
    attempts: int = 1  # runs disturbed by other load are redone


@dataclass(slots=True)
class Cell:
    target: str
    stream: bool
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    rounds: int
    proxy_cpu: float | None
    upstream_cpu: float
    wrk_cpu: float
    core_busy: list[float]
    other_load: tuple[float, float]


def _median(values: Iterable[float]) -> float:
    return round(statistics.median(values), 4)


def cells(runs: Sequence[Run]) -> list[Cell]:
    keys: list[tuple[str, bool, int]] = []
    for r in runs:
        if (r.target, r.stream, r.connections) not in keys:
            keys.append((r.target, r.stream, r.connections))
    out = []
    for target, stream, conns in keys:
        group = [r for r in runs if (r.target, r.stream, r.connections) == (target, stream, conns)]
        proxy = [r.proxy_cpu for r in group if r.proxy_cpu is not None]
        ncores = min(len(r.core_busy) for r in group)
        out.append(
            Cell(
                target=target,
                stream=stream,
                connections=conns,
                rps=round(statistics.median(r.rps for r in group), 1),
                p50_ms=_median(r.p50_ms for r in group),
                p99_ms=_median(r.p99_ms for r in group),
                errors=sum(r.errors for r in group),
                rounds=len(group),
                proxy_cpu=_median(proxy) if proxy else None,
                upstream_cpu=_median(r.upstream_cpu for r in group),
                wrk_cpu=_median(r.wrk_cpu for r in group),
                core_busy=[_median(r.core_busy[c] for r in group) for c in range(ncores)],
                other_load=(
                    _median(r.other_load[0] for r in group),
                    _median(r.other_load[1] for r in group),
                ),
            )
        )
    return out


def _find(table: Sequence[Cell], target: str, stream: bool, conns: int) -> Cell | None:
    for c in table:
        if (c.target, c.stream, c.connections) == (target, stream, conns):
            return c
    return None


def _mode(stream: bool) -> str:
    return "stream" if stream else "non_stream"


def ratios(table: Sequence[Cell], gateway: str = "plano") -> dict[str, Any]:
    """gateway/baseline req/s at c=64, added p50 at c=1 per proxy, and upstream headroom."""
    proxies = sorted({c.target for c in table} - {"direct"})
    rps_ratio: dict[str, float | None] = {}
    headroom: dict[str, dict[str, float | None]] = {p: {} for p in proxies}
    added: dict[str, dict[str, float | None]] = {p: {} for p in proxies}
    for stream in (False, True):
        mode = _mode(stream)
        gw, base = _find(table, gateway, stream, HIGH), _find(table, "baseline", stream, HIGH)
        rps_ratio[mode] = round(gw.rps / base.rps, 3) if gw and base and base.rps else None
        direct_hi, direct_lo = (
            _find(table, "direct", stream, HIGH),
            _find(table, "direct", stream, LOW),
        )
        for p in proxies:
            hi, lo = _find(table, p, stream, HIGH), _find(table, p, stream, LOW)
            headroom[p][mode] = round(direct_hi.rps / hi.rps, 2) if direct_hi and hi else None
            added[p][mode] = round(lo.p50_ms - direct_lo.p50_ms, 3) if lo and direct_lo else None
    gw_added = added.get(gateway, {})
    checks = {
        f"rps_ratio_{m}_ge_{RPS_RATIO_TARGET}": (None if v is None else v >= RPS_RATIO_TARGET)
        for m, v in rps_ratio.items()
    } | {
        f"added_p50_{m}_le_{ADDED_P50_TARGET_MS}ms": (
            None if v is None else v <= ADDED_P50_TARGET_MS
        )
        for m, v in gw_added.items()
    }
    return {
        "gateway_over_baseline_rps_c64": rps_ratio,
        "added_p50_ms_c1": added,
        "direct_over_proxy_rps_c64": headroom,
        "targets_met": checks,
    }


def _fmt(value: float | None, spec: str, width: int = 0) -> str:
    return ("-" if value is None else format(value, spec)).rjust(width)


def table_text(table: Sequence[Cell]) -> str:
    head = (
        f"{'target':<9} {'mode':<10} {'c':>3} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>6} {'proxy':>6} {'upstr':>6} {'wrk':>6} {'other0':>6} {'other1':>6}"
    )
    lines = [head, "-" * len(head)]
    ordered = sorted(table, key=lambda c: (c.stream, -c.connections, c.target != "direct"))
    for c in ordered:
        lines.append(
            f"{c.target:<9} {_mode(c.stream):<10} {c.connections:>3} {c.rps:>9,.0f} "
            f"{c.p50_ms:>8.3f} {c.p99_ms:>8.3f} {c.errors:>6} {_fmt(c.proxy_cpu, '.0%', 6)} "
            f"{c.upstream_cpu:>6.0%} {c.wrk_cpu:>6.0%} {c.other_load[0]:>6.0%} "
            f"{c.other_load[1]:>6.0%}"
        )
    return "\n".join(lines)


def ratios_text(r: dict[str, Any]) -> str:
    lines = ["gateway (plano) / baseline, req/s at c=64:"]
    for mode, v in r["gateway_over_baseline_rps_c64"].items():
        lines.append(f"  {mode:<10} {_fmt(v, '.3f')}  (target >= {RPS_RATIO_TARGET})")
    lines.append("added p50 latency at c=1 (target p50 - direct p50), ms:")
    for proxy, modes in r["added_p50_ms_c1"].items():
        text = "  ".join(f"{m} {_fmt(v, '.3f')}" for m, v in modes.items())
        lines.append(f"  {proxy:<9} {text}")
    lines.append(f"  (target for plano: <= {ADDED_P50_TARGET_MS} ms)")
    lines.append("direct req/s / proxied req/s at c=64 (upstream headroom):")
    for proxy, modes in r["direct_over_proxy_rps_c64"].items():
        text = "  ".join(
            f"{m} {_fmt(v, '.1f')}{'' if v is None else 'x'}" for m, v in modes.items()
        )
        lines.append(f"  {proxy:<9} {text}")
    return "\n".join(lines)


def document(
    meta: dict[str, Any], runs: Sequence[Run], table: Sequence[Cell], r: dict[str, Any]
) -> dict[str, Any]:
    return {
        "meta": meta,
        "cells": [asdict(c) for c in table],
        "ratios": r,
        "runs": [asdict(x) for x in runs],
    }
