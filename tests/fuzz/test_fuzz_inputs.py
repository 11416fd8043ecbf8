"""Mutated request bodies for every client dialect × upstream dialect pair, through a real
gateway to the mock upstreams: never a 5xx (the mock is not scripted to fail, so any 5xx is the
gateway's own). A deterministic CI slice; `bench/fuzz_inputs.py` runs 10^5 cases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plano.runtime.serve import ThreadedGateway
from tests.fuzz.bodies import (
    COUNT_PATH,
    PATHS,
    SEEDS,
    WRONG_VALUES,
    body_for,
    encode,
    leaves,
    mutate,
)
from tests.fuzz.harness import PAIRS, Client, Pair, fuzz_gateway

EXAMPLES = 200  # per pair (and per agent-listener dialect)

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
VALUES = st.sampled_from(WRONG_VALUES) | _JSON


@pytest.fixture(scope="module")
def gw() -> Iterator[ThreadedGateway]:
    with fuzz_gateway() as (_mock, gw):
        yield gw


@pytest.fixture(scope="module")
def client(gw: ThreadedGateway) -> Iterator[Client]:
    c = Client(gw.port())
    yield c
    c.close()


def _check(client: Client, path: str, doc: dict[str, Any]) -> tuple[int, bytes]:
    status, answer = client.post(path, encode(doc))
    assert status < 500, f"{status} for {encode(doc)[:600]!r}: {answer[:300]!r}"
    return status, answer


@pytest.mark.parametrize("pair", PAIRS, ids=[p.id for p in PAIRS])
def test_mutated_bodies_never_get_a_5xx(pair: Pair, client: Client) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        seed = data.draw(st.sampled_from(SEEDS[pair.client]))
        doc = body_for(seed, pair.model, data.draw(st.booleans()))
        for _ in range(data.draw(st.integers(1, 2))):
            doc = mutate(doc, data.draw(st.sampled_from(leaves(doc))), data.draw(VALUES))
        path = PATHS[pair.client]
        where = data.draw(st.integers(0, 9))
        if where == 0:  # the routing decision API, now and then
            path = "/routing" + path
        elif where == 1 and pair.client == "anthropic_messages":
            path = COUNT_PATH
        _check(client, path, doc)

    run()


# Bodies that got a 500 (issue 15, and what the fuzzers found), with the 400 message they get now,
# and where: translated to every other upstream dialect; passed through as well when the gateway
# itself reads the field (`stream`); at the routing decision API when the router reads it.
ISSUE_CASES: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    (
        "anthropic_messages",
        {"system": [{"type": "text", "text": None}]},
        "system[0].text: expected a string",
        (),
    ),
    ("openai_responses", {"input": "hi", "reasoning": {"effort": ["low"]}}, "reasoning.effort", ()),
    (
        "anthropic_messages",
        {"thinking": {"type": "enabled", "budget_tokens": [1]}},
        "thinking.budget_tokens: expected an integer",
        (),
    ),
    (
        "openai_chat",
        {"response_format": {"json_schema": []}},
        "response_format.json_schema: expected an object",
        (),
    ),
    ("openai_chat", {"messages": -1}, "messages", ("routing",)),
    ("openai_responses", {"input": [1]}, "input[0]", ("routing",)),
    ("openai_chat", {"stream": "yes"}, "stream: expected a boolean", ("passthrough",)),
]
_BASE: dict[str, dict[str, Any]] = {
    "openai_chat": {"messages": [{"role": "user", "content": "hi"}]},
    "anthropic_messages": {"max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]},
    "openai_responses": {"input": "hi"},
}


@pytest.mark.parametrize(("dialect", "fields", "message", "also"), ISSUE_CASES)
def test_the_bodies_that_got_a_500_get_a_400_in_the_clients_dialect(
    dialect: str, fields: dict[str, Any], message: str, also: tuple[str, ...], client: Client
) -> None:
    for pair in (p for p in PAIRS if p.client == dialect):
        doc = {"model": pair.model, **_BASE[dialect], **fields}
        status, answer = _check(client, PATHS[dialect], doc)
        if pair.upstream != dialect or "passthrough" in also:
            assert status == 400, (pair.id, answer)
            error = orjson.loads(answer)["error"]
            assert error["type"] == "invalid_request_error"
            assert message in error["message"], (pair.id, error)
        status, answer = _check(client, "/routing" + PATHS[dialect], doc)
        if "routing" in also:
            assert status == 400, (pair.id, answer)
            assert message in orjson.loads(answer)["error"]["message"]


@pytest.fixture(scope="module")
def agents(gw: ThreadedGateway) -> Iterator[Client]:
    c = Client(gw.port("agent"))
    yield c
    c.close()


@pytest.mark.parametrize("dialect", sorted(PATHS))
def test_the_agent_listener_never_answers_a_5xx(dialect: str, agents: Client) -> None:
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(st.data())
    def run(data: st.DataObject) -> None:
        seed = data.draw(st.sampled_from(SEEDS[dialect]))
        doc = body_for(seed, "openai/fuzz-openai", data.draw(st.booleans()))
        doc = mutate(doc, data.draw(st.sampled_from(leaves(doc))), data.draw(VALUES))
        _check(agents, PATHS[dialect], doc)

    run()
