"""``plano mock-llm``: serve the mock until SIGINT or SIGTERM (the click command calls ``run``)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson
import uvloop

from plano.mock.script import ReplySpec, SpecError, parse_script
from plano.mock.server import MockLLM


def load_script(path: str) -> list[ReplySpec]:
    """Reply specs from a JSON file (``.yaml``/``.yml``: YAML), a list or a single spec."""
    text = Path(path).read_bytes()
    data: Any
    try:
        if path.endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = orjson.loads(text)
    except Exception as exc:  # yaml.YAMLError, orjson.JSONDecodeError
        raise SpecError(
            f"{path}: not valid {'YAML' if path.endswith('ml') else 'JSON'}: {exc}"
        ) from None
    try:
        return parse_script(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc}") from None


def run(
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    default_text: str | None = None,
    chunks: int = 5,
    chunk_delay_ms: float = 0.0,
    script_file: str | None = None,
    first_byte_delay_ms: float = 0.0,
    models: Iterable[str] = (),
    max_recorded: int = 1000,
    reuse_port: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM, after printing ``mock-llm listening on http://HOST:PORT``.

    A bad ``script_file`` raises :class:`plano.mock.SpecError` (or ``OSError`` / a JSON or YAML
    error) before anything listens.
    """
    mock = MockLLM(
        default_text=default_text,
        chunks=chunks,
        chunk_delay_ms=chunk_delay_ms,
        first_byte_delay_ms=first_byte_delay_ms,
        models=models,
        max_recorded=max_recorded,
        script=load_script(script_file) if script_file else (),
    )
    uvloop.run(_serve(mock, host, port, reuse_port=reuse_port))


async def _serve(mock: MockLLM, host: str, port: int, *, reuse_port: bool) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await mock.start(host, port, reuse_port=reuse_port)
    print(f"mock-llm listening on {mock.base_url}", flush=True)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await mock.stop()
