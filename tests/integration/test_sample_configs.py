"""Every sample config of the original project runs: it binds all its listeners, each answers
/healthz, and the model listener lists its models. Ports are moved to free ones on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from plano.config import Config, load_config
from plano.runtime.serve import gateway_in_thread
from tests.unit.config.test_samples import SAMPLE_FILES, _vars

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not SAMPLE_FILES, reason="reference sample configs not found"),
]


def on_free_ports(config: Config) -> Config:
    listeners = tuple(
        lc.model_copy(update={"port": 0, "address": "127.0.0.1"}) for lc in config.listeners
    )
    return config.model_copy(update={"listeners": listeners})


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_config_runs(path: Path) -> None:
    config = on_free_ports(load_config(path, env={v: f"dummy-{v}" for v in _vars(path)}))
    with gateway_in_thread(config) as gw:
        for b in gw.bound:
            with urllib.request.urlopen(f"http://127.0.0.1:{b.port}/healthz", timeout=5) as r:
                assert r.status == 200, b.listener.name
        with urllib.request.urlopen(f"{gw.url()}/v1/models", timeout=5) as r:
            listed = {m["id"] for m in json.loads(r.read())["data"]}
    declared = {
        f"{p.provider}/{p.model_id}"
        for p in config.model_providers
        if not p.wildcard and not p.internal
    }
    assert listed == declared | set(config.model_aliases)  # aliases are listed too
