"""Gateway keys across two real gateway processes sharing PostgreSQL: a budget of $0.01 stops the
key after the request that crossed it (concurrent requests through both, official SDK), and a
revocation through the CLI is refused by both within 5 s."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import openai
import pytest

from plano.mock.script import ReplySpec
from tests.faults.conftest import closed_port
from tests.integration.keys_support import ask

pytestmark = pytest.mark.integration

DB = "postgresql://postgres@127.0.0.1:5432/test"
# One request: 10 prompt tokens at $100/M + 10 completion tokens at $200/M = $0.003.
ONE = 10 * 100 / 1e6 + 10 * 200 / 1e6
BUDGET = 0.01


def _config(upstream: Any, port: int, dsn: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-provider
    base_url: {upstream.base_url}
    default: true
    pricing: {{input_per_mtok: 100, output_per_mtok: 200}}
access:
  keys: {{enabled: true, store: postgres, dsn: "{dsn}", cache_ttl: 1s, default_max_tokens: 16}}
"""


async def _sql(statement: str) -> None:
    conn = await asyncpg.connect(DB)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _plano(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def two(tmp_path: Path, upstream: Any) -> Iterator[tuple[list[str], Path, dict[str, str]]]:
    schema = f"keys_{uuid.uuid4().hex[:12]}"
    asyncio.run(_sql(f'CREATE SCHEMA "{schema}"'))
    dsn = f"{DB}?search_path={schema}"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PLANO_HOME"] = str(tmp_path / "home")
    env["PLANO_ACCESS_LOG"] = "off"
    procs: list[subprocess.Popen[str]] = []
    urls: list[str] = []
    try:
        for n in range(2):
            port = closed_port()
            path = tmp_path / f"gw{n}.yaml"
            path.write_text(_config(upstream, port, dsn))
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
        yield urls, tmp_path / "gw0.yaml", env
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=15)
            if proc.stdout is not None:
                proc.stdout.close()
        asyncio.run(_sql(f'DROP SCHEMA "{schema}" CASCADE'))


def _create(config: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    done = _plano("keys", "create", "--config", str(config), "--json", *args, env=env)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def _spent(config: Path, env: dict[str, str], key_id: str) -> float:
    done = _plano("keys", "show", key_id, "--config", str(config), "--json", env=env)
    assert done.returncode == 0, done.stderr
    return float(json.loads(done.stdout)["spent_usd"])


def test_a_budget_stops_the_key_across_two_processes_within_one_request(
    two: tuple[list[str], Path, dict[str, str]], upstream: Any
) -> None:
    urls, config, env = two
    upstream.script(ReplySpec(usage=(10, 10), times=0))
    key = _create(config, env, "--name", "tight", "--budget", str(BUDGET), "--period", "total")
    served: list[int] = []
    lock = threading.Lock()

    def client(base: str) -> None:
        refused = 0
        while refused < 3:  # a refusal may be a reservation in flight: try a few times
            try:
                ask(base, key["key"])
            except openai.RateLimitError as err:
                assert "budget" in err.message
                refused += 1
            else:
                with lock:
                    served.append(1)

    threads = [threading.Thread(target=client, args=(urls[i % 2],)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # Nothing in flight now: every gateway refuses, and the spend is what was served.
    for base in urls:
        with pytest.raises(openai.RateLimitError):
            ask(base, key["key"])
    n = len(served)
    assert n == len(upstream.requests)
    deadline = time.monotonic() + 30
    while abs((spent := _spent(config, env, key["id"])) - n * ONE) > 1e-9:  # settled later
        assert time.monotonic() < deadline, f"spent {spent}, served {n} x {ONE}"
    assert BUDGET <= n * ONE <= BUDGET + ONE + 1e-9


def test_revocation_reaches_both_processes_within_5s(
    two: tuple[list[str], Path, dict[str, str]], upstream: Any
) -> None:
    urls, config, env = two
    key = _create(config, env, "--name", "revoked-soon", "--team", "t1")
    for base in urls:
        assert ask(base, key["key"]).choices
    done = _plano("keys", "revoke", key["id"], "--config", str(config), env=env)
    assert done.returncode == 0, done.stderr
    revoked_at = time.monotonic()
    pending = set(urls)
    while pending:
        for base in list(pending):
            try:
                ask(base, key["key"])
            except openai.AuthenticationError as err:
                assert "revoked" in err.message
                pending.discard(base)
        assert time.monotonic() - revoked_at < 5.0, f"still served by {pending}"


def test_cli_keys_never_print_a_key_after_creation(
    two: tuple[list[str], Path, dict[str, str]], upstream: Any
) -> None:
    _, config, env = two
    key = _create(config, env, "--name", "quiet", "--models", "openai/*")
    for args in (("list",), ("list", "--json"), ("show", key["id"]), ("show", key["id"], "--json")):
        done = _plano("keys", *args, "--config", str(config), env=env)
        assert done.returncode == 0, done.stderr
        assert key["key"] not in done.stdout + done.stderr
        assert key["key"].split("-", 2)[2] not in done.stdout
