"""Three gateway replicas behind HAProxy sharing Redis and PostgreSQL: what is shared holds
across replicas (rate limits, session affinity, `/v1/responses` conversation state).

HAProxy balances round robin per request and names the replica in `X-Served-By`, so each test
can check that its requests really landed on different replicas.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import redis

from plano.state.session_cache import KEY_PREFIX
from tests.replicas.cluster import Cluster, cluster

pytestmark = pytest.mark.integration

PG = "postgresql://postgres@127.0.0.1:5432/test"
ROUTER = "Plano-Orchestrator"
RUN = uuid.uuid4().hex[:12]
LIMIT = 5


def template(mock: str, schema: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {{port}}, timeout: 10s}}
model_providers:
  - {{model: openai/gpt-4o, access_key: sk-x, base_url: {mock}, default: true}}
  - {{model: openai/gpt-4o-mini, access_key: sk-x, base_url: {mock}}}
  - {{model: mistral/mistral-large, access_key: sk-x, base_url: {mock}}}
  - {{model: plano/{ROUTER}, base_url: {mock}}}
routing_preferences:
  - name: code_generation
    description: generating new code snippets, functions, or boilerplate
    models: [openai/gpt-4o]
  - name: casual_chat
    description: small talk, greetings and everyday conversation
    models: [openai/gpt-4o-mini]
routing:
  session_ttl_seconds: 60
  session_cache: {{type: redis, url: "redis://127.0.0.1:6379/0"}}
ratelimits:
  - model: "gpt-*"
    selector: {{key: x-tenant, value: "*"}}
    limit: {{requests: {LIMIT}, unit: hour}}
ratelimit_backend: {{type: redis, key_prefix: "plano:replicas-test:{RUN}:"}}
state_storage: {{type: postgres, connection_string: '{PG}?search_path={schema}'}}
"""


async def _sql(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory, _mock_session: Any) -> Iterator[Cluster]:
    schema = f"plano_replicas_{os.getpid()}_{RUN}"
    asyncio.run(_sql(f'CREATE SCHEMA "{schema}"'))
    r = redis.Redis(host="127.0.0.1", port=6379)
    tmp: Path = tmp_path_factory.mktemp("replicas")
    try:
        with cluster(tmp, template(_mock_session.base_url, schema)) as c:
            yield c
    finally:
        asyncio.run(_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        for key in r.scan_iter(f"plano:replicas-test:{RUN}:*"):
            r.delete(key)
        r.close()


def served_by(raw: Any) -> str:
    name = raw.headers.get("x-served-by")
    assert name, "HAProxy names the replica that answered"
    return str(name)


def test_rate_limit_holds_across_replicas(gateways: Cluster, upstream: Any) -> None:
    c = gateways.client()
    headers = {"x-arch-ratelimit-selector": "x-tenant", "x-tenant": f"t-{uuid.uuid4()}"}
    allowed, limited = [], []
    for _ in range(3 * LIMIT):
        try:
            raw = c.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], extra_headers=headers
            )
            allowed.append(served_by(raw))
        except openai.RateLimitError as exc:
            limited.append(exc.response.headers.get("x-served-by"))
    assert len(allowed) == LIMIT  # the total across all three replicas is the limit
    assert len(limited) == 2 * LIMIT
    assert len(set(allowed) | set(limited)) == 3  # every replica took part


def test_session_affinity_holds_across_replicas(gateways: Cluster, upstream: Any) -> None:
    session = f"replicas-{uuid.uuid4()}"
    headers = {"X-Model-Affinity": session}
    upstream.script({"model": ROUTER, "text": '{"route": ["code_generation"]}'})
    c = gateways.client()
    try:
        raws = [
            c.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": text}],
                extra_headers=headers,
            )
            for text in ("write a sort function", *["hello, how are you?"] * 5)
        ]
    finally:
        redis.Redis(host="127.0.0.1", port=6379).delete(f"{KEY_PREFIX}{session}")
    assert len({served_by(r) for r in raws}) == 3
    assert [r.headers["x-plano-model"] for r in raws] == ["openai/gpt-4o"] * 6
    assert [r.headers["x-plano-routing"] for r in raws[1:]] == ["pinned"] * 5
    routed = [q for q in upstream.requests if q.body and q.body.get("model") == ROUTER]
    assert len(routed) == 1  # only the first turn asked the router; the pin did the rest


def test_responses_chain_across_replicas(gateways: Cluster, upstream: Any) -> None:
    c = gateways.client()
    upstream.script(*({"model": "mistral-large", "text": f"Answer {i}."} for i in range(4)))
    previous: str | None = None
    replicas = []
    for i in range(4):
        raw = c.responses.with_raw_response.create(
            model="mistral-large", input=f"Question {i}?", previous_response_id=previous
        )
        response = raw.parse()
        assert response.output_text == f"Answer {i}."
        previous = response.id
        replicas.append(served_by(raw))
    assert all(a != b for a, b in itertools.pairwise(replicas))  # another replica each turn
    last = [q for q in upstream.requests if q.body and q.body.get("model") == "mistral-large"][-1]
    texts = [m["content"] for m in last.body["messages"]]
    assert texts == [
        "Question 0?", "Answer 0.", "Question 1?", "Answer 1.",
        "Question 2?", "Answer 2.", "Question 3?",
    ]  # fmt: skip
