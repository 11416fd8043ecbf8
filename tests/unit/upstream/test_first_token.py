"""The first-token limit: which events count as the first token, the primed response replaying
what was read, and the exchange abandoning a stream whose first token is late (no retry on the
same provider while a fallback is left)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest

from plano.errors import UpstreamTimeout
from plano.upstream.first_token import carries_token, prime
from plano.upstream.mock_transport import MockReply, MockTransport
from tests.unit.upstream.test_exchange import Rig, config

SSE = (("content-type", "text/event-stream"),)


def chat(delta: dict[str, object], finish: str | None = None) -> bytes:
    return orjson.dumps({"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})


@pytest.mark.parametrize(
    ("data", "token"),
    [
        (chat({"role": "assistant", "content": ""}), False),
        (chat({"role": "assistant"}), False),
        (chat({"role": "assistant", "content": "Hi"}), True),
        (chat({"content": "Hi"}), True),
        (chat({"role": "assistant", "tool_calls": [{"index": 0}]}), True),
        (chat({}, finish="stop"), True),
        (b'{"type":"message_start","message":{"id":"m"}}', False),
        (b'{"type": "ping"}', False),
        (
            b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
            False,
        ),
        (b'{"type":"content_block_start","index":0,"content_block":{"type":"tool_use"}}', True),
        (b'{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}', True),
        (b'{"type":"response.created","response":{}}', False),
        (b'{"type":"response.output_text.delta","delta":"Hi"}', True),
        (b"[DONE]", True),
        (b"not json", True),
    ],
)
def test_what_counts_as_the_first_token(data: bytes, token: bool) -> None:
    assert carries_token(data) is token


def test_prime_stops_at_the_first_token_and_replays_everything() -> None:
    role = b"data: " + chat({"role": "assistant", "content": ""}) + b"\n\n"
    token = b"data: " + chat({"content": "Hi"}) + b"\n\n"
    parts = [b": keep-alive\n\n", role[:10], role[10:], token, b"data: [DONE]\n\n"]
    pulled: list[bytes] = []

    async def body() -> AsyncIterator[bytes]:
        for p in parts:
            pulled.append(p)
            yield p

    async def main() -> None:
        transport = MockTransport(lambda _: _reply(MockReply(200, SSE, chunks=body())))
        resp = await transport.send(b"POST", "http://a.test/", [], b"")
        primed = await prime(resp)
        assert len(pulled) == 4  # up to the first token, not further
        assert primed.status == 200 and primed.content_type == "text/event-stream"
        assert b"".join([c async for c in primed.chunks()]) == b"".join(parts)
        primed.release()

    asyncio.run(main())


async def _reply(r: MockReply) -> MockReply:
    return r


def _stalled_after_role(gate: asyncio.Event) -> AsyncIterator[bytes]:
    async def body() -> AsyncIterator[bytes]:
        yield b"data: " + chat({"role": "assistant", "content": ""}) + b"\n\n"
        await gate.wait()  # never set: the first token never comes
        yield b"data: [DONE]\n\n"

    return body()


PRIMARY = (
    "    fallbacks: [anthropic/claude-sonnet-4]\n"
    "    retry_policy: {num_retries: 2, base_interval: 1ms, max_interval: 1ms}\n"
    "    timeouts: {first_token: 50ms}"
)


@pytest.mark.parametrize("fallback", [True, False])
def test_a_late_first_token_fails_over_without_retrying(fallback: bool) -> None:
    gate = asyncio.Event()
    cfg = config(PRIMARY if fallback else PRIMARY.split("\n", 1)[1], fallback=fallback)
    ok = MockReply(200, SSE, chunks=[b"data: {}\n\n"])
    stalled = MockReply(200, SSE, chunks=_stalled_after_role(gate))
    stalled2 = MockReply(200, SSE, chunks=_stalled_after_role(gate))
    stalled3 = MockReply(200, SSE, chunks=_stalled_after_role(gate))
    rig = Rig(cfg, [stalled, stalled2, stalled3, ok] if not fallback else [stalled, ok])
    got = rig.commit_stream()
    if fallback:
        assert isinstance(got, tuple) and got[0] == 200
        assert [u.split("/")[2] for u in rig.urls] == ["a.test", "b.test"]
        assert ("first_token_timeout", "openai", "gpt-4o") in rig.events.seen
    else:  # nothing to fail over to: retried as a timeout, then the error
        assert isinstance(got, UpstreamTimeout) and got.phase == "first_token"
        assert len(rig.urls) == 3
    assert all(r.released for r in rig.transport.responses)


def test_failover_on_stall_false_retries_the_stalled_provider_first() -> None:
    gate = asyncio.Event()
    cfg = config(
        PRIMARY.replace("max_interval: 1ms}", "max_interval: 1ms, failover_on_stall: false}"),
        fallback=True,
    )
    stalled = [MockReply(200, SSE, chunks=_stalled_after_role(gate)) for _ in range(3)]
    rig = Rig(cfg, [*stalled, MockReply(200, SSE, chunks=[b"data: {}\n\n"])])
    got = rig.commit_stream()
    assert isinstance(got, tuple) and got[0] == 200
    assert [u.split("/")[2] for u in rig.urls] == ["a.test"] * 3 + ["b.test"]
