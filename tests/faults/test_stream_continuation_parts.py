"""The pieces of mid-stream failover on plain data: the continuation request, what a client has
read of a broken stream, in-stream error events, the memory cap, and the renumbering of the
fallback's blocks."""

from __future__ import annotations

import orjson

from plano import ir
from plano.codec.sse import DONE, encode_event
from plano.listeners.model.continuation import (
    MAX_KEPT,
    Kept,
    _Merged,
    split_error_event,
)
from plano.listeners.model.continuation_prefix import Prefix, primary_usage, read_prefix
from plano.providers.catalogue import BY_PREFIX
from plano.upstream.continuation import CONTINUE_INSTRUCTION, continuation_doc
from plano.wire.api import Api

HI = [{"role": "user", "content": "hi"}]


def chat(delta: dict[str, object], finish: str | None = None) -> bytes:
    doc = {"id": "c1", "model": "m", "created": 5, "choices": [{"delta": delta}]}
    if finish:
        doc["choices"] = [{"delta": delta, "finish_reason": finish}]
    return encode_event(orjson.dumps(doc))


def named(kind: str, doc: dict[str, object]) -> bytes:
    return b"event: " + kind.encode() + b"\n" + encode_event(orjson.dumps({"type": kind, **doc}))


def test_continuation_request_with_a_prefill_or_an_instruction() -> None:
    doc = {"model": "x", "messages": HI, "stream": True}
    pre = continuation_doc(doc, "Hello wor ", prefill=True)
    assert pre["messages"] == [*HI, {"role": "assistant", "content": "Hello wor"}]
    asked = continuation_doc(doc, "Hello wor ", prefill=False)
    assert asked["messages"][-2:] == [
        {"role": "assistant", "content": "Hello wor "},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
    assert doc["messages"] == HI  # the client's request is left as it was
    assert BY_PREFIX["anthropic"].prefill and not BY_PREFIX["openai"].prefill


def test_chat_prefix() -> None:
    blocks = [
        chat({"role": "assistant", "content": ""}),
        chat({"content": "Hel"}),
        chat({"content": "lo"}),
    ]
    p = read_prefix(Api.OPENAI_CHAT, blocks)
    assert p is not None and p.continuable
    assert (p.id, p.model, p.created, "".join(p.text)) == ("c1", "m", 5, "Hello")
    finished = read_prefix(Api.OPENAI_CHAT, [*blocks, chat({}, "stop")])
    assert finished is not None and not finished.continuable
    tool = chat({"tool_calls": [{"index": 0, "id": "t", "function": {"name": "f"}}]})
    called = read_prefix(Api.OPENAI_CHAT, [*blocks, tool])
    assert called is not None and not called.continuable
    assert read_prefix(Api.OPENAI_CHAT, [b"data: {cut\n\n"]) is None
    assert read_prefix(Api.GEMINI, blocks) is None  # not a client API continuation reads


def test_messages_prefix() -> None:
    start = named(
        "message_start", {"message": {"id": "msg_1", "model": "c", "usage": {"input_tokens": 9}}}
    )
    text = named("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    delta = named(
        "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": "Hi"}}
    )
    p = read_prefix(Api.ANTHROPIC_MESSAGES, [start, text, delta])
    assert p is not None and p.continuable
    assert (p.id, p.open_text, p.next_index, p.usage.input) == ("msg_1", 0, 1, 9)
    thinking = named("content_block_start", {"index": 0, "content_block": {"type": "thinking"}})
    t = read_prefix(Api.ANTHROPIC_MESSAGES, [start, thinking])
    assert t is not None and not t.continuable  # an open thinking block
    stop = named("content_block_stop", {"index": 0})
    closed = read_prefix(Api.ANTHROPIC_MESSAGES, [start, text, delta, stop])
    assert closed is not None and closed.continuable and closed.open_text is None


def test_primary_usage_is_reported_or_estimated() -> None:
    estimated = primary_usage(
        Prefix(), {"messages": [{"role": "user", "content": "12345678"}]}, "abcd"
    )
    assert (estimated.input, estimated.output) == (2, 1)
    reported = Prefix(usage=ir.Usage(input=30, output=7))
    assert (
        primary_usage(reported, None, "abcd").input,
        primary_usage(reported, None, "").output,
    ) == (30, 7)


def test_in_stream_error_event_is_found_after_the_events_before_it() -> None:
    ok = chat({"content": 'the word "error": appears'})
    err = encode_event(b'{"error": {"message": "overloaded", "type": "server_error"}}')
    assert split_error_event(ok + DONE) is None
    assert split_error_event(ok + err) == (ok, "overloaded")
    anthropic_err = named("error", {"error": {"type": "overloaded_error", "message": "busy"}})
    assert split_error_event(anthropic_err) == (b"", "busy")


def test_kept_events_are_capped() -> None:
    kept = Kept()
    kept.add(b"x" * (MAX_KEPT - 1))
    assert kept.blocks is not None
    kept.add(b"yy")
    assert kept.blocks is None  # too long to continue: nothing more is held


def test_fallback_blocks_continue_the_open_one_and_follow_the_rest() -> None:
    merged = _Merged(ir.Usage(input=3, output=4), Prefix(id="m", open_text=1, next_index=2))
    events: list[ir.Event] = [
        ir.MessageStart("f", "fb", ir.Usage(input=10)),
        ir.BlockStart(0, "text"),
        ir.TextDelta(0, "rest"),
        ir.BlockStop(0),
        ir.BlockStart(1, "tool_call", "t1", "f"),
        ir.ToolArgsDelta(1, "{}"),
        ir.MessageDelta(ir.StopReason.TOOL_USE, usage=ir.Usage(output=5)),
        ir.MessageStop(),
    ]
    out = merged.adapt(events)
    assert not any(isinstance(e, ir.MessageStart) for e in out)
    assert [getattr(e, "index", None) for e in out[:4]] == [1, 1, 2, 2]
    delta = out[4]
    assert isinstance(delta, ir.MessageDelta) and (delta.usage.input, delta.usage.output) == (13, 9)
    assert merged.adapt([ir.TextDelta(0, "x"), ir.StreamError("boom")]) and merged.error == "boom"
