"""`plano mock-llm`: a fake OpenAI-compatible upstream for offline tests of apps and agents."""

from __future__ import annotations

import sys

import click


@click.command("mock-llm")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=8080, show_default=True, help="0 = any free port.")
@click.option(
    "--text",
    "default_text",
    default=None,
    help="Reply text (default: derived from the last user message).",
)
@click.option(
    "--chunks", type=int, default=5, show_default=True, help="Content chunks per streamed reply."
)
@click.option("--chunk-delay-ms", type=float, default=0.0, show_default=True)
@click.option("--first-byte-delay-ms", type=float, default=0.0, show_default=True)
@click.option(
    "--script",
    "script_file",
    default=None,
    type=click.Path(dir_okay=False),
    help="JSON or YAML file with a list of reply specs, served in order.",
)
@click.option("--model", "models", multiple=True, help="Model ids listed by GET /v1/models.")
@click.option(
    "--max-recorded",
    type=int,
    default=1000,
    show_default=True,
    help="Requests kept for GET /_mock/requests.",
)
@click.option("--reuse-port", is_flag=True, help="Set SO_REUSEPORT (run several mocks).")
def mock_llm(
    host: str,
    port: int,
    default_text: str | None,
    chunks: int,
    chunk_delay_ms: float,
    first_byte_delay_ms: float,
    script_file: str | None,
    models: tuple[str, ...],
    max_recorded: int,
    reuse_port: bool,
) -> None:
    """Serve scripted OpenAI-compatible replies (see GET/POST /_mock/*) until Ctrl-C."""
    from plano.mock.cli import run
    from plano.mock.script import SpecError

    try:
        run(
            host,
            port,
            default_text=default_text,
            chunks=chunks,
            chunk_delay_ms=chunk_delay_ms,
            script_file=script_file,
            first_byte_delay_ms=first_byte_delay_ms,
            models=models,
            max_recorded=max_recorded,
            reuse_port=reuse_port,
        )
    except (SpecError, OSError, ValueError) as exc:
        click.echo(f"mock-llm: {exc}", err=True)
        sys.exit(2)
