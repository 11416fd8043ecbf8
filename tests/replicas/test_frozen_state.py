"""A frozen PostgreSQL behind `state_storage`, end to end with the official OpenAI SDK: a turn that
needs its stored conversation fails within the listener's deadline with a 504 in the client's
dialect naming the state store (no hang, no 500, nothing sent upstream); a turn whose only store
call is the write after the response is answered normally.

The database is the real PostgreSQL behind a `freezable_proxy`, frozen after the first turn. The
SDK's own timeout (30 s) is far above the listener's (2 s): a hang fails the test as a timeout
error instead of a status.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from plano.mock.testing import run_mock_in_thread
from tests.conftest import GatewayFactory
from tests.unit.state.freezable import FreezableProxy, freezable_proxy

pytestmark = pytest.mark.integration

PG = "postgresql://postgres@127.0.0.1:{port}/test"


async def _sql(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG.format(port=5432))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture
def frozen_pg() -> Iterator[tuple[FreezableProxy, str]]:
    """A proxy to the real PostgreSQL and a connection string through it (own schema)."""
    schema = f"plano_frozen_{os.getpid()}_{os.urandom(4).hex()}"
    asyncio.run(_sql(f'CREATE SCHEMA "{schema}"'))
    try:
        with freezable_proxy(5432) as proxy:
            yield proxy, f"{PG.format(port=proxy.port)}?search_path={schema}"
    finally:
        asyncio.run(_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


def model_config(upstream: Any, dsn: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 2s}}
model_providers:
  - {{model: mistral/mistral-large, access_key: k, base_url: {upstream.base_url}, default: true}}
state_storage: {{type: postgres, connection_string: '{dsn}'}}
"""


def agent_config(upstream: Any, agent: str, dsn: str) -> str:
    return f"""
version: v0.3.0
agents:
  - {{id: helper, url: {agent}}}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
state_storage: {{type: postgres, connection_string: '{dsn}'}}
listeners:
  - type: agent
    name: desk
    address: 127.0.0.1
    port: 0
    timeout: 2s
    agents:
      - {{id: helper, description: Answers everything., default: true}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""


def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{base}/v1", api_key="client-key", max_retries=0, timeout=30)


def test_model_listener_answers_504_within_the_deadline(
    upstream: Any, gateway: GatewayFactory, frozen_pg: tuple[FreezableProxy, str]
) -> None:
    proxy, dsn = frozen_pg
    upstream.script({"text": "First."}, {"text": "Second."}, {"text": "Unaffected."})
    with gateway(model_config(upstream, dsn)) as gw, client(gw.url()) as c:
        first = c.responses.create(model="mistral-large", input="One?")
        follow = c.responses.create(
            model="mistral-large", input="Warm?", previous_response_id=first.id
        )  # the first turn is stored and readable: the store works before the freeze
        proxy.freeze()
        with pytest.raises(openai.APIStatusError) as info:
            c.responses.create(model="mistral-large", input="Two?", previous_response_id=first.id)
        plain = c.responses.create(model="mistral-large", input="No state needed.")
    assert info.value.status_code == 504
    body: Any = info.value.body
    assert "conversation state store (postgres)" in body["message"]
    assert follow.output_text == "Second." and plain.output_text == "Unaffected."
    assert len(upstream.requests) == 3  # the failed turn was never sent upstream


def test_agent_listener_answers_504_within_the_deadline(
    upstream: Any, gateway: GatewayFactory, frozen_pg: tuple[FreezableProxy, str]
) -> None:
    proxy, dsn = frozen_pg
    with (
        run_mock_in_thread(default_text="Agent here.") as agent,
        gateway(agent_config(upstream, agent.base_url, dsn)) as gw,
        client(gw.url("agent")) as c,
    ):
        first = c.responses.create(model="gpt-4o", input="Hello?")
        c.responses.create(model="gpt-4o", input="Again?", previous_response_id=first.id)
        proxy.freeze()
        with pytest.raises(openai.APIStatusError) as info:
            c.responses.create(model="gpt-4o", input="Later?", previous_response_id=first.id)
        assert info.value.status_code == 504
        assert "conversation state store (postgres)" in str(info.value)
        assert len(agent.requests) == 2
