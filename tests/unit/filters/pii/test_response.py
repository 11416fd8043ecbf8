"""Restoring whole responses and streams of the three dialects, placeholders split anywhere."""

from __future__ import annotations

import orjson
import pytest

from plano.filters.pii.response import SseRestorer, restore_whole
from plano.filters.pii.session import Session
from tests.unit.filters.pii.streams import BUILDERS, final_texts, streamed_text

EMAIL = "alice@example.com"
PHONE = "+33 6 12 34 56 78"


def session() -> Session:
    s = Session()
    s.placeholder("email", EMAIL)
    s.placeholder("phone", PHONE)
    return s


REDACTED = "Sure: mail <EMAIL_1> or call <PHONE_1>. Not <EMAIL_7>, and 1 < 2."
RESTORED = f"Sure: mail {EMAIL} or call {PHONE}. Not <EMAIL_7>, and 1 < 2."


@pytest.mark.parametrize("dialect", sorted(BUILDERS))
@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 64])
def test_stream_restored_whatever_the_chunking(dialect: str, size: int) -> None:
    pieces = [REDACTED[i : i + size] for i in range(0, len(REDACTED), size)]
    r = SseRestorer(session())
    out = b"".join(r.feed(ev) for ev in BUILDERS[dialect](pieces))
    assert streamed_text(dialect, out) == RESTORED
    assert all(t == RESTORED for t in final_texts(dialect, out))
    assert b"<EMAIL_1>" not in out and b"<PHONE_1>" not in out


@pytest.mark.parametrize("dialect", sorted(BUILDERS))
def test_blocks_of_several_events(dialect: str) -> None:
    events = BUILDERS[dialect](["mail <EM", "AIL_1> now <PH", "ONE_1"])
    r = SseRestorer(session())
    out = r.feed(b"".join(events[:3])) + r.feed(b"".join(events[3:]))
    assert streamed_text(dialect, out) == f"mail {EMAIL} now <PHONE_1"


def test_text_that_cannot_start_a_placeholder_is_not_delayed() -> None:
    r = SseRestorer(session())
    events = BUILDERS["chat"](["a <b> c <X", "YZ> <"])
    out = r.feed(events[1])
    assert streamed_text("chat", out) == "a <b> c <X"
    out = r.feed(events[2])
    assert streamed_text("chat", out) == "YZ> "  # `<` may begin one: held
    out = r.feed(events[3]) + r.feed(events[4])
    assert streamed_text("chat", out) == "<"  # flushed into the finishing chunk


def test_chat_tool_call_arguments_are_restored_json_escaped() -> None:
    s = Session()
    s.placeholder("name", 'Bob "the" Builder')
    r = SseRestorer(s)
    head = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    out = b""
    for args, finish in (('{"who": "<NA', None), ('ME_1>"}', None), ("", "tool_calls")):
        call = {"index": 0, "function": {"arguments": args}}
        choice = {"index": 0, "delta": {"tool_calls": [call]}, "finish_reason": finish}
        out += r.feed(b"data: " + orjson.dumps({**head, "choices": [choice]}) + b"\n\n")
    args = "".join(
        c["function"]["arguments"]
        for line in out.split(b"\n\n")
        if line.startswith(b"data: ")
        for c in orjson.loads(line[6:])["choices"][0]["delta"].get("tool_calls", [])
    )
    assert orjson.loads(args) == {"who": 'Bob "the" Builder'}


def test_whole_bodies_of_each_dialect() -> None:
    s = session()
    chat = {"choices": [{"index": 0, "message": {"role": "assistant", "content": REDACTED}}]}
    assert (
        orjson.loads(restore_whole(orjson.dumps(chat), s))["choices"][0]["message"]["content"]
        == RESTORED
    )
    msg = {"type": "message", "content": [{"type": "text", "text": REDACTED}]}
    assert orjson.loads(restore_whole(orjson.dumps(msg), s))["content"][0]["text"] == RESTORED
    resp = {
        "object": "response",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": REDACTED}]}],
    }
    out = orjson.loads(restore_whole(orjson.dumps(resp), s))
    assert out["output"][0]["content"][0]["text"] == RESTORED
    escaped = b'{"choices":[{"message":{"content":"\\u003cEMAIL_1\\u003e"}}]}'
    assert orjson.loads(restore_whole(escaped, s))["choices"][0]["message"]["content"] == EMAIL
    plain = b'{"choices":[{"message":{"content":"nothing here"}}]}'
    assert restore_whole(plain, s) is plain


def test_unrelated_events_pass_as_they_are() -> None:
    r = SseRestorer(session())
    for raw in (
        b": keep-alive\n\n",
        b'event: ping\ndata: {"type": "ping"}\n\n',
        b"data: not json\n\n",
    ):
        assert r.feed(raw) == raw
