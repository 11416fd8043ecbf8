"""`plano obs`: the panels drawn from a `CallBook` snapshot (rich renderables).

Summary, by-model rollup (calls, p50/p95 latency, TTFT, tokens, cost, errors), route share
(`plano.route.name`), recent calls (tokens, cached, TTFT, duration, TPOT, tok/s, cost).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 10_000 else f"{value:.0f} ms"


def usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if value >= 0.01 else f"${value:.6f}"


def count(value: int) -> str:
    return f"{value:,}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def summary_panel(snap: Mapping[str, Any], source: str) -> Panel:
    s = snap["summary"]
    errors = s["errors"]
    line1 = Text.assemble(
        ("calls ", "dim"),
        (count(s["calls"]), "bold"),
        ("  errors ", "dim"),
        (count(errors), "bold red" if errors else "bold"),
        ("  models ", "dim"),
        (str(s["models"]), "bold"),
        ("  cost ", "dim"),
        (usd(s["cost_usd"]), "bold green"),
        *(
            (("  unpriced calls ", "dim"), (str(s["unpriced_calls"]), "yellow"))
            if s["unpriced_calls"]
            else ()
        ),
    )
    line2 = Text.assemble(
        ("tokens in ", "dim"),
        count(s["prompt_tokens"]),
        ("  out ", "dim"),
        count(s["completion_tokens"]),
        ("  cached ", "dim"),
        count(s["cached_tokens"]),
        ("  latency p50 ", "dim"),
        ms(s["p50_ms"]),
        ("  p95 ", "dim"),
        ms(s["p95_ms"]),
        ("  TTFT p50 ", "dim"),
        ms(s["ttft_p50_ms"]),
    )
    return Panel(Group(line1, line2), title="plano obs", subtitle=source, title_align="left")


def model_table(snap: Mapping[str, Any]) -> Table:
    table = Table(title="By model", title_justify="left", expand=True)
    for name, justify in (
        ("model", "left"),
        ("calls", "right"),
        ("p50", "right"),
        ("p95", "right"),
        ("TTFT p50", "right"),
        ("in", "right"),
        ("out", "right"),
        ("cached", "right"),
        ("cost", "right"),
        ("errors", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in snap["by_model"]:
        table.add_row(
            Text(row["model"], style="cyan"),
            count(row["calls"]),
            ms(row["p50_ms"]),
            ms(row["p95_ms"]),
            ms(row["ttft_p50_ms"]),
            count(row["prompt_tokens"]),
            count(row["completion_tokens"]),
            count(row["cached_tokens"]),
            usd(row["cost_usd"]),
            Text(str(row["errors"]), style="red" if row["errors"] else ""),
        )
    return table


def route_table(snap: Mapping[str, Any]) -> Table:
    table = Table(title="Route share", title_justify="left", expand=True)
    for name, justify in (
        ("route", "left"),
        ("calls", "right"),
        ("share", "right"),
        ("p95", "right"),
        ("errors", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in snap["by_route"]:
        table.add_row(
            row["route"],
            count(row["calls"]),
            f"{row['share'] * 100:.0f}%",
            ms(row["p95_ms"]),
            Text(str(row["errors"]), style="red" if row["errors"] else ""),
        )
    return table


def recent_table(snap: Mapping[str, Any]) -> Table:
    table = Table(title="Recent calls", title_justify="left", expand=True)
    for name in (
        "time",
        "model",
        "route",
        "status",
        "in",
        "out",
        "cached",
        "TTFT",
        "duration",
        "TPOT",
        "tok/s",
        "cost",
    ):
        table.add_column(name, justify="left" if name in ("time", "model", "route") else "right")
    for c in snap["recent"]:
        status = str(c["status"] or "-")
        table.add_row(
            time.strftime("%H:%M:%S", time.localtime(c["end_ns"] / 1e9)),
            Text(c["model"], style="cyan"),
            c["route"],
            Text(status, style="red" if c["error"] else "green"),
            count(c["prompt_tokens"]),
            count(c["completion_tokens"]),
            count(c["cached_tokens"]),
            ms(c["ttft_ms"]),
            ms(c["duration_ms"]),
            ms(c["tpot_ms"])
            if c["tpot_ms"] is None or c["tpot_ms"] >= 1
            else f"{c['tpot_ms']:.2f} ms",
            _rate(c["tokens_per_s"]),
            usd(c["cost_usd"]),
        )
    return table


def render(snap: Mapping[str, Any], source: str) -> RenderableType:
    parts: list[RenderableType] = [summary_panel(snap, source)]
    if snap["by_model"]:
        parts += [model_table(snap), route_table(snap), recent_table(snap)]
    else:
        parts.append(Text("waiting for spans with llm.model ...", style="dim"))
    return Group(*parts)
