"""Events under load through HAProxy, with the official OpenAI SDK (no client retries): a replica
`kill -9`ed, and a replica reloaded with SIGHUP. Zero failed client requests in both (HAProxy's
L7 retries and redispatch allowed).

The reload test is written against the hot-reload contract: SIGHUP to the `plano up --foreground`
process reloads its config, refusing no connection. It checks the reload happened (a model added
to the file shows in that replica's `/v1/models`) and that a client talking to that replica
directly, without the balancer, saw no failure either.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.replicas.cluster import Cluster, Load, cluster, http_get, wait_until

pytestmark = pytest.mark.integration

WARM = 40  # successful requests before the event
AFTER = 150  # successful requests after it
RELOAD_S = 45.0  # a reload is expected well within this


def template(mock: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {{port}}, timeout: 10s}}
model_providers:
  - {{model: openai/gpt-4o, access_key: sk-x, base_url: {mock}, default: true}}
"""


@pytest.fixture
def gateways(tmp_path: Path, upstream: Any) -> Iterator[Cluster]:
    with cluster(tmp_path, template(upstream.base_url)) as c:
        yield c


def test_replica_killed_under_load_fails_no_request(gateways: Cluster) -> None:
    victim = gateways.replicas[1]
    with Load(gateways.client, threads=4) as load:
        load.wait_ok(WARM, "before the kill")
        victim.kill_9()
        at_kill = load.ok
        gateways.wait_states({victim.name: "DOWN"})
        load.wait_ok(at_kill + AFTER, "after the kill")
    assert load.failures == [], load.failures[:5]
    assert not victim.alive()
    others = {r.name for r in gateways.replicas} - {victim.name}
    assert others <= set(load.served)  # the survivors carried the load


def models(url: str) -> set[str]:
    status, body = http_get(f"{url}/v1/models")
    return {m["id"] for m in orjson.loads(body)["data"]} if status == 200 else set()


def test_replica_reloaded_under_load_fails_no_request(gateways: Cluster) -> None:
    target = gateways.replicas[0]
    assert target.proc is not None
    assert models(target.url()) == {"openai/gpt-4o"}
    cfg = target.config.read_text()
    added = "  - {model: openai/gpt-4.1, access_key: sk-x, base_url: "
    mock = cfg.split("base_url: ", 1)[1].split(",", 1)[0].split("}", 1)[0]
    target.config.write_text(cfg.rstrip("\n") + f"\n{added}{mock}}}\n")
    direct = Load(lambda: gateways.client(target.url()), threads=1)
    with Load(gateways.client, threads=3) as load, direct:
        load.wait_ok(WARM, "before the reload")
        direct.wait_ok(WARM // 4, "direct, before the reload")
        target.proc.send_signal(signal.SIGHUP)
        at_reload = load.ok

        def reloaded() -> bool:
            if not target.alive():
                raise AssertionError(
                    f"{target.name} exited on SIGHUP ({target.proc and target.proc.returncode}):"
                    " no hot reload in this tree"
                )
            return models(target.url()) == {"openai/gpt-4o", "openai/gpt-4.1"}

        try:
            wait_until(f"{target.name} serves the reloaded config", reloaded, RELOAD_S)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{gateways.tails()}") from None
        load.wait_ok(at_reload + AFTER, "after the reload")
        direct.wait_ok(direct.ok + WARM // 4, "direct, after the reload")
    assert target.alive(), "the replica survived its reload"
    assert load.failures == [], load.failures[:5]
    assert direct.failures == [], direct.failures[:5]
