"""`plano obs`: a live terminal view of the LLM calls in the gateway's own traces (§9.4).

It is itself an OTLP receiver (the `plano trace listen` code with a live hook): point the
gateway's `tracing.opentracing_grpc_endpoint` at it (`http://127.0.0.1:4317` by default). Spans
with `llm.model` become calls (`plano.tracecollector.calls`), drawn every `--refresh-ms` with
rich `Live`; `--once` (or `--json`) waits for `--calls N` calls or `--seconds S`, prints one
snapshot and exits, for scripts and tests.

Cost: the span's `llm.usage.total_cost_usd` when the gateway priced the call, else the price
table: `--pricing-provider config` (default) reads the prices of `--config FILE`;
`models.dev` loads the models.dev catalogue from `--pricing-url` (a URL or a local file) in the
background (with the config's prices, which win).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import urllib.request
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

import click

if TYPE_CHECKING:
    from plano.access.pricing import PriceTable
    from plano.tracecollector.calls import CallBook, Pricer

MODELS_DEV_URL: Final = "https://models.dev/api.json"
FETCH_SECONDS: Final = 15.0


def _table_pricer(table: PriceTable) -> Pricer:
    from plano.access.pricing import UsageCounts
    from plano.tracecollector.calls import Usage

    def price(model: str, provider: str, usage: Usage) -> float | None:
        counts = UsageCounts(usage.prompt, usage.completion, usage.cached, usage.cache_write)
        cost = table.cost(model, counts)
        if cost is None and provider and "/" not in model:
            cost = table.cost(f"{provider}/{model}", counts)
        return None if cost is None else cost.total_usd

    return price


def config_prices(config_file: str | None) -> PriceTable:
    from plano.access.cost import build_prices
    from plano.access.pricing import PriceTable
    from plano.config import ConfigError, format_report, load_config

    if config_file is None:
        return PriceTable()
    try:
        return build_prices(load_config(config_file))
    except ConfigError as err:
        raise click.ClickException(f"{config_file}:\n{format_report(err.problems)}") from None
    except OSError as exc:
        raise click.ClickException(f"{config_file}: cannot read: {exc.strerror}") from None


def load_catalogue(url: str) -> dict[str, Any]:
    """The models.dev JSON from a URL, a `file://` URL or a local path."""
    if "://" not in url:
        doc: dict[str, Any] = json.loads(Path(url).read_text())
        return doc
    with urllib.request.urlopen(url, timeout=FETCH_SECONDS) as resp:
        doc = json.loads(resp.read())
        return doc


class _Source:
    """Where prices come from, as the view's subtitle says it."""

    def __init__(self, text: str) -> None:
        self.text = text


def _feed_models_dev(book: CallBook, fixed: PriceTable, url: str, source: _Source) -> None:
    from plano.access.pricing import parse_models_dev

    try:
        feed = parse_models_dev(load_catalogue(url))
    except (OSError, ValueError) as exc:
        source.text = f"prices: models.dev unavailable ({exc}); span costs only"
        return
    fixed.set_feed(feed)  # the config's prices keep winning
    book.set_price(_table_pricer(fixed))
    source.text = f"prices: span cost, else models.dev ({len(feed)} entries)"


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (the original's default 0.0.0.0 exposes it to the network).",
)
@click.option(
    "--port", type=int, default=4317, show_default=True, help="OTLP/gRPC port (0 = any free)."
)
@click.option(
    "--http-port", type=int, default=4318, show_default=True, help="OTLP/HTTP port (0 = any free)."
)
@click.option(
    "--capacity",
    type=click.IntRange(1, 1_000_000),
    default=1000,
    show_default=True,
    help="Calls kept for the rollups.",
)
@click.option(
    "--refresh-ms",
    type=click.IntRange(50, 60_000),
    default=500,
    show_default=True,
    help="Redraw interval.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    help="Plano config whose prices cost the calls.",
)
@click.option(
    "--pricing-provider",
    type=click.Choice(["config", "models.dev"]),
    default="config",
    show_default=True,
    help="Price table for calls the gateway did not price.",
)
@click.option(
    "--pricing-url",
    default=MODELS_DEV_URL,
    show_default=True,
    help="models.dev catalogue: a URL or a local file.",
)
@click.option(
    "--once",
    is_flag=True,
    help="No live view: print one snapshot after --calls or --seconds, then exit.",
)
@click.option("--json", "as_json", is_flag=True, help="The snapshot as JSON (implies --once).")
@click.option(
    "--calls",
    "want_calls",
    type=click.IntRange(1),
    help="With --once: print as soon as this many calls arrived.",
)
@click.option(
    "--seconds",
    type=click.FloatRange(0),
    default=10.0,
    show_default=True,
    help="With --once: wait at most this long.",
)
@click.option(
    "--web",
    is_flag=True,
    help="Open the gateway's web console instead (as `plano console`; default admin port).",
)
def obs(
    host: str,
    port: int,
    http_port: int,
    capacity: int,
    refresh_ms: int,
    config_file: str | None,
    pricing_provider: str,
    pricing_url: str,
    once: bool,
    as_json: bool,
    want_calls: int | None,
    seconds: float,
    web: bool,
) -> None:
    """Live view of LLM calls (tokens, cost, TTFT, by model and route) from the gateway's traces.

    Point the gateway at it: `tracing: {random_sampling: 100, opentracing_grpc_endpoint:
    http://127.0.0.1:4317}`. `--web`: the gateway's web console (`plano console`)."""
    if web:
        from plano.cli.console import open_console

        open_console(None, None, open_browser=True)
        return
    from plano.tracecollector.calls import CallBook
    from plano.tracecollector.server import Collector
    from plano.tracecollector.store import TraceStore

    fixed = config_prices(config_file)
    book = CallBook(capacity, _table_pricer(fixed) if fixed else None)
    source = _Source(
        "prices: span cost" + (f", else {config_file}" if fixed else " only (no --config)")
    )
    collector = Collector(host, port, http_port, TraceStore(50), on_spans=book.add_spans)
    try:
        collector.start()
    except OSError as exc:
        raise click.ClickException(
            f"{exc} (is `plano trace listen` or another obs running?)"
        ) from None
    try:
        if pricing_provider == "models.dev":
            source.text = "prices: loading models.dev ..."
            threading.Thread(
                target=_feed_models_dev,
                args=(book, fixed, pricing_url, source),
                name="plano-obs-prices",
                daemon=True,
            ).start()
        click.echo(
            f"plano obs: OTLP gRPC {host}:{collector.grpc_port}, OTLP HTTP "
            f"{host}:{collector.http_port}",
            err=True,
        )
        if once or as_json:
            _snapshot(book, want_calls, seconds, as_json, source)
        else:
            _live(book, refresh_ms, source, f"{host}:{collector.grpc_port}")
    finally:
        collector.stop()


def _snapshot(
    book: CallBook, want_calls: int | None, seconds: float, as_json: bool, source: _Source
) -> None:
    if want_calls is not None:
        book.wait_for(want_calls, seconds)
    else:
        threading.Event().wait(seconds)
    snap = book.snapshot()
    if as_json:
        click.echo(json.dumps(snap, indent=2))
        return
    from rich.console import Console

    from plano.cli.obs_view import render

    Console().print(render(snap, source.text))


def _live(book: CallBook, refresh_ms: int, source: _Source, where: str) -> None:
    from rich.live import Live

    from plano.cli.obs_view import render

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        with Live(render(book.snapshot(), source.text), refresh_per_second=4) as live:
            while not stop.wait(refresh_ms / 1000):
                live.update(render(book.snapshot(), f"{source.text} · gRPC {where}"))
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sys.stdout.flush()
