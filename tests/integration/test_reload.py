"""Hot reload as real processes: `plano reload`, a refused bad config, a stream finishing on the
old generation while new requests see the new config, `--watch`, listeners added on reload."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.gateway_procs import (
    Load,
    Started,
    chat,
    free_port,
    make_env,
    plano,
    started,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gateways() -> Iterator[Started]:
    yield from started()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path / "home")


def upstream_model(upstream: Any) -> str:
    return str(upstream.requests[-1].body["model"])


def test_bad_config_is_refused_and_the_old_keeps_serving(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "1"], env)
    good = cfg.read_text()
    cfg.write_text(good.replace("model: openai/gpt-4.1", "model: nomodel"))
    result = plano("reload", env=env)
    assert result.returncode == 1
    assert "model_providers[2].model" in result.stderr
    assert chat(port).choices[0].message.content
    # The supervisor refuses it too (a SIGHUP without `plano reload`'s own check).
    gw.proc.send_signal(1)
    gw.wait_line("reload refused; generation 1 keeps serving")
    assert chat(port).choices[0].message.content
    status = json.loads((Path(env["PLANO_HOME"]) / "run" / "reload.json").read_text())
    assert status["ok"] is False and "model_providers[2].model" in status["error"]
    cfg.write_text(good)
    ok = plano("reload", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "generation 2 serves" in ok.stdout


def test_reload_under_load_keeps_streams_and_refuses_nothing(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port, alias_target="gpt-4o")
    gateways([str(cfg), "--workers", "2"], env)
    upstream.script({"model": "gpt-4.1", "text": "a b c d e f g h", "chunks": 8,
                     "chunk_delay_ms": 400})  # fmt: skip
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    stream = iter(
        client.chat.completions.create(
            model="gpt-4.1", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    first = next(stream)
    # No retries: a refused or reset connection would count as a failure.
    with Load(lambda: chat(port, model="smart", retries=0), threads=3) as load:
        load.wait_ok(10)
        assert upstream_model(upstream) == "gpt-4o"
        write_config(tmp_path / "c.yaml", upstream, port, alias_target="gpt-4o-mini")
        result = plano("reload", env=env)
        assert result.returncode == 0, result.stderr
        assert "generation 2 serves" in result.stdout
        load.wait_ok(10)
    rest = list(stream)
    client.close()
    parts = [c.choices[0].delta.content or "" for c in [first, *rest] if c.choices]
    assert "".join(parts) == "a b c d e f g h"  # finished on the old generation
    assert load.failures == [], load.failures[:5]
    assert chat(port, model="smart").model.startswith("gpt-4o-mini")
    assert upstream_model(upstream) == "gpt-4o-mini"


def test_reload_moves_a_listener_to_another_port(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port, second = free_port(), free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "2"], env)
    text = cfg.read_text()
    # A port someone else holds: the reload is refused with the bind error.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        cfg.write_text(text.replace(f"port: {port}", f"port: {taken}"))
        result = plano("reload", env=env)
    assert result.returncode == 1
    assert f"listener 'llm' cannot bind 127.0.0.1:{taken}" in result.stderr
    assert chat(port).choices[0].message.content
    cfg.write_text(text.replace(f"port: {port}", f"port: {second}"))
    result = plano("reload", env=env)
    assert result.returncode == 0, result.stderr
    assert chat(second).choices[0].message.content
    # The old port closes once the old generation is gone.
    gw.wait_line("(generation 1) finished draining", count=2)
    wait_until(lambda: refused(port), f"port {port} to close")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def test_watch_reloads_on_file_change(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port, alias_target="gpt-4o")
    gw = gateways([str(cfg), "--workers", "1", "--watch"], env)
    chat(port, model="smart")
    assert upstream_model(upstream) == "gpt-4o"
    write_config(tmp_path / "c.yaml", upstream, port, alias_target="gpt-4o-mini")
    gw.wait_line("reload: generation 2 serves")
    chat(port, model="smart")
    assert upstream_model(upstream) == "gpt-4o-mini"
