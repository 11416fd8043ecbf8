"""`ratelimits` end to end: per-value buckets, request and token limits, the 429 the original
sends, the Redis backend shared by two gateway processes, and Redis being down."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from plano.state.ratelimit_redis import RateLimitBackendError, RedisRateLimitStore
from tests.conftest import GatewayFactory
from tests.faults.conftest import closed_port

pytestmark = pytest.mark.integration


def config(upstream: Any, limits: str, backend: str = "", port: int = 0) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {upstream.base_url}
    default: true
ratelimits:
{limits}
{backend}
"""


PER_TENANT = """  - model: gpt-4o
    selector: {key: x-tenant, value: "*"}
    limit: {requests: 2, unit: hour}
"""


def ask(base: str, tenant: str | None, content: str = "hi") -> Any:
    headers = (
        {} if tenant is None else {"x-arch-ratelimit-selector": "x-tenant", "x-tenant": tenant}
    )
    with openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0) as c:
        return c.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": content}], extra_headers=headers
        )


def test_each_value_has_its_own_bucket(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream, PER_TENANT)) as gw:
        ask(gw.url(), "a")
        ask(gw.url(), "a")
        with pytest.raises(openai.RateLimitError) as caught:
            ask(gw.url(), "a")
        ask(gw.url(), "b")  # another tenant, another bucket
        ask(gw.url(), None)  # no selector: not limited, as the original
    err = caught.value
    assert err.status_code == 429
    assert int(err.response.headers["retry-after"]) >= 1
    assert 'selector=Header { key: "x-tenant", value: "a" }' in err.message
    assert len(upstream.requests) == 4


def test_token_limit_refuses_a_prompt_above_it(upstream: Any, gateway: GatewayFactory) -> None:
    limits = """  - model: "gpt-*"
    selector: {key: x-tenant, value: team-1}
    limit: {tokens: 50, unit: minute}
"""
    with gateway(config(upstream, limits)) as gw:
        ask(gw.url(), "team-1", "short")
        with pytest.raises(openai.RateLimitError) as caught:
            ask(gw.url(), "team-1", "x" * 400)  # ~100 tokens, more than the bucket holds
        ask(gw.url(), "team-2", "x" * 400)  # the rule names team-1 only
    assert "tokens_used=100" in caught.value.message
    assert len(upstream.requests) == 2


def redis_backend(
    prefix: str, url: str = "redis://127.0.0.1:6379/0", on_error: str = "allow"
) -> str:
    return f"""ratelimit_backend:
  type: redis
  url: {url}
  key_prefix: "{prefix}"
  on_backend_error: {on_error}
"""


@pytest.mark.parametrize("on_error", ["allow", "deny"])
def test_redis_down_follows_on_backend_error(
    upstream: Any, gateway: GatewayFactory, on_error: str
) -> None:
    backend = redis_backend("t:", f"redis://127.0.0.1:{closed_port()}/0", on_error)
    with gateway(config(upstream, PER_TENANT, backend)) as gw:
        if on_error == "allow":
            ask(gw.url(), "a")
        else:
            with pytest.raises(openai.RateLimitError):
                ask(gw.url(), "a")
        with urllib.request.urlopen(f"{gw.admin_url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    line = f'plano_ratelimit_backend_errors_total{{backend="redis",decision="{on_error}"}} 1.0'
    assert line in metrics
    assert len(upstream.requests) == (1 if on_error == "allow" else 0)


@pytest.fixture
def two_gateways(tmp_path: Path, upstream: Any) -> Iterator[list[str]]:
    prefix = f"plano-test:{uuid.uuid4().hex}:"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PLANO_HOME"] = str(tmp_path / "home")
    procs: list[subprocess.Popen[str]] = []
    urls = []
    try:
        for n in range(2):
            port = closed_port()
            path = tmp_path / f"gw{n}.yaml"
            limits = PER_TENANT.replace("requests: 2", "requests: 5")
            path.write_text(config(upstream, limits, redis_backend(prefix), port))
            env_n = {**env, "PLANO_ADMIN_PORT": str(closed_port())}
            proc = subprocess.Popen(
                [sys.executable, "-m", "plano", "up", str(path), "--foreground", "--workers", "1"],
                env=env_n,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            procs.append(proc)
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("plano ready"):
                    break
            else:
                raise AssertionError(f"gateway exited before it was ready ({proc.wait()})")
            urls.append(f"http://127.0.0.1:{port}")
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
            if proc.stdout is not None:
                proc.stdout.close()
        with redis.Redis(host="127.0.0.1", port=6379) as r:
            for key in r.scan_iter(match=f"{prefix}*"):
                r.delete(key)


def test_two_gateways_share_one_limit_through_redis(two_gateways: list[str], upstream: Any) -> None:
    passed = refused = 0
    for i in range(9):
        try:
            ask(two_gateways[i % 2], "shared")
            passed += 1
        except openai.RateLimitError:
            refused += 1
    assert (passed, refused) == (5, 4)
    assert len(upstream.requests) == 5


def _redis_server(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2) as r:
        for _ in range(200):  # until it answers PING (bounded)
            try:
                if r.ping():
                    return proc
            except redis.ConnectionError:
                if proc.poll() is not None:
                    break
                time.sleep(0.05)
    proc.kill()
    raise AssertionError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_store_reconnects_after_a_restart() -> None:
    port = closed_port()

    async def main() -> list[str]:
        store = RedisRateLimitStore(f"redis://127.0.0.1:{port}/0", prefix="r:", timeout=0.5)
        seen = []
        server = _redis_server(port)
        try:
            seen.append(str((await store.take("k", 1, 10, 1.0)).allowed))
            server.terminate()
            server.wait(10)
            try:
                await store.take("k", 1, 10, 1.0)
                seen.append("no error")
            except RateLimitBackendError:
                seen.append("down")
            server = _redis_server(port)
            seen.append(str((await store.take("k", 1, 10, 1.0)).allowed))
        finally:
            await store.close()
            server.terminate()
            server.wait(10)
        return seen

    assert asyncio.run(main()) == ["True", "down", "True"]
