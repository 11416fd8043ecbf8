"""Reply specs: parsing (JSON and headers), precedence, and the FIFO script queue."""

from __future__ import annotations

from typing import Any

import pytest

from plano.mock.script import (
    Fault,
    ReplySpec,
    ScriptQueue,
    SpecError,
    ToolCallSpec,
    parse_script,
)


def test_from_json_every_field() -> None:
    spec = ReplySpec.from_json(
        {
            "status": 429,
            "body": {"x": 1},
            "headers": {"x-a": "b"},
            "text": "hi",
            "chunks": 3,
            "chunk_delay_ms": 1.5,
            "first_byte_delay_ms": 2,
            "tool_calls": [{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": "{}"}],
            "finish_reason": "length",
            "usage": {"prompt_tokens": 4, "completion_tokens": 5},
            "retry_after": 7,
            "fault": "slow_drip",
            "fault_after_chunks": 0,
            "message": "m",
            "model": "gpt-4o",
            "times": 2,
        }
    )
    assert spec == ReplySpec(
        status=429,
        body=b'{"x":1}',
        headers=(("x-a", "b"),),
        text="hi",
        chunks=3,
        chunk_delay_ms=1.5,
        first_byte_delay_ms=2.0,
        tool_calls=(ToolCallSpec("f", '{"a":1}'), ToolCallSpec("g", "{}")),
        finish_reason="length",
        usage=(4, 5),
        retry_after="7",
        fault=Fault.SLOW_DRIP,
        fault_after_chunks=0,
        message="m",
        model="gpt-4o",
        times=2,
    )
    assert ReplySpec.from_json(spec.to_json()) == spec


def test_body_string_is_sent_verbatim() -> None:
    assert ReplySpec.from_json({"body": "not json {"}).body == b"not json {"


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"txt": "typo"}, "unknown reply spec field(s): txt"),
        ({"status": "abc"}, "status: expected an integer"),
        ({"status": 99}, "status: expected an integer >= 100"),
        ({"status": 600}, "status: expected an HTTP status"),
        ({"chunks": 0}, "chunks: expected an integer >= 1"),
        ({"chunk_delay_ms": -1}, "chunk_delay_ms: expected milliseconds"),
        ({"fault": "explode"}, "fault: unknown fault 'explode'"),
        ({"tool_calls": [{"arguments": {}}]}, "tool_calls: each tool call needs a string 'name'"),
        ({"headers": {"a": 1}}, "headers: expected an object of strings"),
        ({"headers": {"a": "b\r\nc: d"}}, "contains a line break"),
        ({"text": True}, "text: expected a string"),
        ([1], "a reply spec must be a JSON object"),
    ],
)
def test_from_json_rejects(obj: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReplySpec.from_json(obj)


def test_parse_script_names_the_bad_item() -> None:
    assert parse_script({"text": "one"}) == [ReplySpec(text="one")]
    with pytest.raises(SpecError, match="spec 1: status"):
        parse_script([{"text": "ok"}, {"status": "x"}])


def test_from_headers() -> None:
    headers = {
        "x-mock-status": "503",
        "x-mock-text": "hello",
        "x-mock-chunks": "2",
        "x-mock-chunk-delay-ms": "0.5",
        "x-mock-first-byte-delay-ms": "3",
        "x-mock-fault": "disconnect_mid_stream",
        "x-mock-fault-after-chunks": "1",
        "x-mock-retry-after": "9",
        "x-mock-tool-calls": '[{"name": "f", "arguments": {"q": "x"}}]',
        "x-mock-finish-reason": "length",
        "x-mock-error-message": "boom",
        "authorization": "Bearer x",
    }
    assert ReplySpec.from_headers(headers) == ReplySpec(
        status=503,
        text="hello",
        chunks=2,
        chunk_delay_ms=0.5,
        first_byte_delay_ms=3.0,
        fault=Fault.DISCONNECT_MID_STREAM,
        fault_after_chunks=1,
        retry_after="9",
        tool_calls=(ToolCallSpec("f", '{"q":"x"}'),),
        finish_reason="length",
        message="boom",
    )
    assert ReplySpec.from_headers({"content-type": "application/json"}) is None
    with pytest.raises(SpecError, match="x-mock-tool-calls: not valid JSON"):
        ReplySpec.from_headers({"x-mock-tool-calls": "[{"})
    with pytest.raises(SpecError, match="x-mock-chunks"):
        ReplySpec.from_headers({"x-mock-chunks": "many"})


def test_precedence_field_by_field() -> None:
    defaults = ReplySpec(text="server", chunks=5)
    headers = ReplySpec(text="header", chunk_delay_ms=2.0)
    scripted = ReplySpec(status=500, model="m", times=3)
    spec = scripted.over(headers.over(defaults))
    assert (spec.status, spec.text, spec.chunks, spec.chunk_delay_ms) == (500, "header", 5, 2.0)
    assert (spec.model, spec.times) == ("m", 3)  # matching fields are never inherited
    assert ReplySpec(text="script").over(headers).text == "script"


def test_tool_calls_do_not_inherit_text() -> None:
    calls = (ToolCallSpec("f", "{}"),)
    assert ReplySpec(tool_calls=calls).over(ReplySpec(text="server default")).text is None
    both = ReplySpec(tool_calls=calls, text="Let me look.").over(ReplySpec(text="server"))
    assert both.text == "Let me look."
    assert ReplySpec(text="x").over(ReplySpec(tool_calls=calls)).tool_calls == calls


def test_needs_async() -> None:
    assert not ReplySpec(status=500, text="x").needs_async
    assert ReplySpec(fault=Fault.HANG).needs_async
    assert ReplySpec(chunk_delay_ms=1).needs_async
    assert ReplySpec(first_byte_delay_ms=1).needs_async


def test_queue_fifo_with_model_match_and_times() -> None:
    q = ScriptQueue()
    only_b = ReplySpec(model="b", text="for b")
    first, second = ReplySpec(text="first"), ReplySpec(text="second", times=2)
    assert q.extend([only_b, first, second]) == 3
    assert q.take("a") == first
    assert q.take("b") == only_b
    assert q.take(None) == second
    assert len(q) == 1
    assert q.take("a") == second
    assert q.take("a") is None
    assert len(q) == 0


def test_queue_forever_and_clear() -> None:
    q = ScriptQueue()
    forever = ReplySpec(model="down", status=503, times=0)
    q.extend([forever])
    assert all(q.take("down") == forever for _ in range(5))
    assert q.take("up") is None
    assert q.pending() == [forever]
    assert q.clear() == 1
    assert q.take("down") is None
