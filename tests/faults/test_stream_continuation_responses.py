"""Mid-stream failover seen by an OpenAI Responses client (the official SDK's
`responses.create(stream=True)` and `responses.stream(...)`): a Responses stream that breaks
midway goes on as one stream, from a Responses upstream (passthrough) or a translated one, on a
Responses, chat or Anthropic fallback. One `response.created`, one response id, one output item
whose `output_text` part is continued in place, `sequence_number`s 0, 1, 2, ... without a gap, the
terminal events once with the whole text, usage summed; where the stream cannot be continued, the
original failure as a clean `error` event."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

from plano import ir
from plano.listeners.model.continuation import split_error_event
from plano.listeners.model.continuation_prefix import Prefix, primary_usage, read_prefix
from plano.translate.openai_responses_stream import ResponsesStreamEncoder
from plano.upstream.continuation import CONTINUE_INSTRUCTION, continuation_doc
from plano.wire.api import Api
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks

pytestmark = pytest.mark.integration

WORDS = [f"w{i:02d} " for i in range(60)]  # 60 tokens of 4 characters, one per event
FULL = "".join(WORDS)
SENT = "".join(WORDS[:40])
REST = "".join(WORDS[40:])
# Responses: created, in_progress, output_item.added, content_part.added, then the deltas
AFTER_40 = 44
# Messages (a translated primary): message_start, ping, content_block_start, then the deltas
MESSAGES_AFTER_40 = 43


def config(primary: str, fallback: str, url: str, *, extra: str = "", state: str = "") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: {primary}
    access_key: sk-a
    base_url: {url}
    default: true
    fallbacks: [{fallback}]
{extra}
  - model: {fallback}
    access_key: sk-b
    base_url: {url}
{state}"""


def cut(fault: str = "disconnect_mid_stream", **kw: Any) -> dict[str, Any]:
    """A Responses primary's reply: 60 tokens, broken by `fault` after 40 of them."""
    return (
        {"model": "gpt-4o", "text": FULL, "chunks": 60, "fault": fault}
        | {
            "fault_after_chunks": AFTER_40,
            "usage": {"prompt_tokens": 9, "completion_tokens": 60},
        }
        | kw
    )


def rest(model: str = "gpt-4o-mini", **kw: Any) -> dict[str, Any]:
    return {
        "model": model,
        "text": REST,
        "chunks": 20,
        "usage": {"prompt_tokens": 30, "completion_tokens": 20},
    } | kw


def events_of(gw: Any, model: str = "gpt-4o", **kw: Any) -> list[Any]:
    client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=20)
    events = list(client.responses.create(model=model, input="hi", stream=True, **kw))
    client.close()
    return events


def final_of(gw: Any, model: str = "gpt-4o") -> tuple[Any, list[Any]]:
    client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=20)
    with client.responses.stream(model=model, input="hi") as stream:
        events = list(stream)
        final = stream.get_final_response()
    client.close()
    return final, events


def assert_one_stream(events: list[Any], text: str) -> None:
    """The continued stream is one well-formed Responses stream holding `text`."""
    assert [e.sequence_number for e in events] == list(range(len(events)))
    kinds = [e.type for e in events]
    for once in (
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ):
        assert kinds.count(once) == 1, (once, kinds)
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
    deltas = [e for e in events if e.type == "response.output_text.delta"]
    assert "".join(d.delta for d in deltas) == text
    item_id = events[kinds.index("response.output_item.added")].item.id
    assert {(d.item_id, d.output_index, d.content_index) for d in deltas} == {(item_id, 0, 0)}
    done = events[kinds.index("response.output_text.done")]
    assert (done.item_id, done.text) == (item_id, text)
    rid = events[0].response.id
    assert events[-1].response.id == rid
    assert [o.id for o in events[-1].response.output] == [item_id]
    assert events[-1].response.output_text == text


def test_passthrough_stream_cut_after_40_of_60_tokens_is_one_stream(
    upstream: Any, gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.script(cut(), rest())
    with gateway(config("openai/gpt-4o", "openai/gpt-4o-mini", upstream.base_url)) as gw:
        leaks = Leaks(gw)
        events = events_of(gw)
        leaks.assert_none()
    assert_one_stream(events, FULL)
    usage = events[-1].response.usage
    assert (usage.input_tokens, usage.output_tokens) == (1 + 30, 40 + 20)  # "hi" estimated
    assert [r.path for r in upstream.requests] == ["/v1/responses", "/v1/responses"]
    asked = upstream.requests[1].body["input"]
    assert asked == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": SENT},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
    log = capsys.readouterr().out
    assert "continued=true" in log and "error=-" in log


@pytest.mark.parametrize(
    ("primary", "extra"),
    [
        pytest.param(cut("stall_mid_stream"), "    timeouts: {idle: 200ms}", id="stalled"),
        pytest.param(cut("error_event"), "", id="in_stream_error_event"),
    ],
)
def test_broken_passthrough_stream_is_continued_and_final_response_is_whole(
    upstream: Any, gateway: GatewayFactory, primary: dict[str, Any], extra: str
) -> None:
    upstream.script(primary, rest())
    text = config("openai/gpt-4o", "openai/gpt-4o-mini", upstream.base_url, extra=extra)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        final, events = final_of(gw)
        leaks.assert_none()
    assert_one_stream(events, FULL)
    assert final.output_text == FULL
    assert final.id == events[0].response.id
    assert (final.usage.input_tokens, final.usage.output_tokens) == (31, 60)


def test_anthropic_fallback_takes_the_text_sent_as_a_prefill(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(cut(), rest("claude-haiku-4-5"))
    text = config("openai/gpt-4o", "anthropic/claude-haiku-4-5", upstream.base_url)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        final, events = final_of(gw)
        leaks.assert_none()
    assert_one_stream(events, FULL)
    assert final.output_text == FULL
    assert upstream.requests[1].path == "/v1/messages"
    last = upstream.requests[1].body["messages"][-1]
    assert last["role"] == "assistant"
    assert "".join(p.get("text", "") for p in last["content"]) == SENT.rstrip()


def test_fallback_refusing_the_prefill_leaves_the_original_error(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(cut(), rest("claude-haiku-4-5", fault="reject_prefill"))
    text = config("openai/gpt-4o", "anthropic/claude-haiku-4-5", upstream.base_url)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        events = events_of(gw)
        leaks.assert_none()
    assert events[-1].type == "error"
    assert "prefill" not in events[-1].message  # the original failure, not the fallback's 400
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == SENT
    assert not any(e.type == "response.completed" for e in events)
    assert upstream.requests[1].body["messages"][-1]["role"] == "assistant"


def test_translated_stream_is_continued_on_a_responses_fallback_and_stored(
    upstream: Any, gateway: GatewayFactory
) -> None:
    """A Responses client of an Anthropic model (translated through the event-lifecycle
    encoder) whose stream breaks goes on from an OpenAI Responses fallback; the gateway's
    conversation store records the whole answer."""
    upstream.script(
        {"model": "claude-sonnet-4-6", "text": FULL, "chunks": 60}
        | {"fault": "disconnect_mid_stream", "fault_after_chunks": MESSAGES_AFTER_40},
        rest(),
        {"model": "claude-sonnet-4-6", "text": "ok", "chunks": 1},
    )
    state = "state_storage: {type: memory}\n"
    text = config(
        "anthropic/claude-sonnet-4-6", "openai/gpt-4o-mini", upstream.base_url, state=state
    )
    with gateway(text) as gw:
        leaks = Leaks(gw)
        final, events = final_of(gw, "claude-sonnet-4-6")
        client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0)
        client.responses.create(
            model="claude-sonnet-4-6", input="and then?", previous_response_id=final.id
        )
        client.close()
        leaks.assert_none()
    sent = upstream.requests[1].body["input"][-2]["content"]
    assert sent and FULL.startswith(sent)
    assert_one_stream(events, sent + REST)
    assert final.output_text == sent + REST
    assert [r.path for r in upstream.requests] == ["/v1/messages", "/v1/responses", "/v1/messages"]
    history = upstream.requests[2].body["messages"]
    assert [m["role"] for m in history] == ["user", "assistant", "user"]
    said = history[1]["content"]
    said = said if isinstance(said, str) else "".join(p["text"] for p in said)
    assert said == sent + REST  # the whole continued answer, not the cut one


def test_translated_stream_is_continued_on_a_chat_fallback(
    upstream: Any, gateway: GatewayFactory
) -> None:
    """A passthrough Responses stream continued by a chat-completions fallback (translated)."""
    upstream.script(cut("error_event"), rest("mistral-large-latest"))
    text = config("openai/gpt-4o", "mistral/mistral-large-latest", upstream.base_url)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        final, events = final_of(gw)
        leaks.assert_none()
    assert_one_stream(events, FULL)
    assert final.output_text == FULL
    assert upstream.requests[1].path.endswith("/chat/completions")
    asked = upstream.requests[1].body["messages"]
    assert asked[-2:] == [
        {"role": "assistant", "content": SENT},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]


def test_continuation_that_breaks_ends_with_an_error_numbered_after_it(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(cut(), rest(fault="disconnect_mid_stream", fault_after_chunks=4 + 10))
    with gateway(config("openai/gpt-4o", "openai/gpt-4o-mini", upstream.base_url)) as gw:
        leaks = Leaks(gw)
        events = events_of(gw)
        leaks.assert_none()
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[-1].type == "error"
    assert sum(1 for e in events if e.type == "response.created") == 1
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == SENT + "".join(WORDS[40:50])
    assert len(upstream.requests) == 2


TOOL = [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]


@pytest.mark.parametrize(
    ("primary", "extra"),
    [
        pytest.param(cut(), "    stream_continuation: false", id="opted_out"),
        # an open reasoning item: summary part added, a few deltas, then the break
        pytest.param(cut(thinking="thinking it over", fault_after_chunks=6), "", id="reasoning"),
        # a function call under way
        pytest.param(cut(text=None, tool_calls=TOOL, fault_after_chunks=5), "", id="tool_call"),
    ],
)
def test_not_continued_ends_with_the_original_error(
    upstream: Any, gateway: GatewayFactory, primary: dict[str, Any], extra: str
) -> None:
    upstream.script(primary, rest())
    text = config("openai/gpt-4o", "openai/gpt-4o-mini", upstream.base_url, extra=extra)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        events = events_of(gw)
        leaks.assert_none()
    assert events[-1].type == "error"
    assert len(upstream.requests) == 1


def test_translated_stream_with_previous_response_id_carries_the_conversation(
    upstream: Any, gateway: GatewayFactory
) -> None:
    """The conversation loaded for `previous_response_id` goes to the fallback as `input` (the
    fallback's provider could not resolve the gateway's id)."""
    upstream.script(
        {"model": "claude-sonnet-4-6", "text": "first answer", "chunks": 1},
        {"model": "claude-sonnet-4-6", "text": FULL, "chunks": 60}
        | {"fault": "disconnect_mid_stream", "fault_after_chunks": MESSAGES_AFTER_40},
        rest(),
    )
    text = config(
        "anthropic/claude-sonnet-4-6",
        "openai/gpt-4o-mini",
        upstream.base_url,
        state="state_storage: {type: memory}\n",
    )
    with gateway(text) as gw:
        leaks = Leaks(gw)
        client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0)
        first = client.responses.create(model="claude-sonnet-4-6", input="first question")
        events = list(
            client.responses.create(
                model="claude-sonnet-4-6",
                input="hi",
                previous_response_id=first.id,
                stream=True,
            )
        )
        client.close()
        leaks.assert_none()
    asked = upstream.requests[2].body
    assert "previous_response_id" not in asked
    roles = [(i.get("role"), i.get("type")) for i in asked["input"]]
    assert roles == [
        ("user", "message"),
        ("assistant", "message"),
        ("user", "message"),
        ("assistant", None),
        ("user", None),
    ]
    assert asked["input"][1]["content"][0]["text"] == "first answer"
    sent = asked["input"][-2]["content"]
    assert_one_stream(events, sent + REST)


# --- the pieces, on plain data ---------------------------------------------------------------


def named(kind: str, seq: int, **doc: Any) -> bytes:
    payload = orjson.dumps({"type": kind, "sequence_number": seq, **doc})
    return b"event: " + kind.encode() + b"\ndata: " + payload + b"\n\n"


def test_responses_prefix_and_request() -> None:
    envelope = {"id": "resp_1", "model": "m", "created_at": 5, "error": None}
    message = {"id": "msg_a", "type": "message", "role": "assistant", "content": []}
    done = {"id": "rs_a", "type": "reasoning", "summary": []}
    blocks = [
        named("response.created", 0, response=envelope),
        named("response.output_item.added", 1, output_index=0, item=done),
        named("response.output_item.done", 2, output_index=0, item=done),
        named("response.output_item.added", 3, output_index=1, item=message),
        named("response.content_part.added", 4, output_index=1, content_index=0, part=PART),
        named("response.output_text.delta", 5, output_index=1, content_index=0, delta="Hel"),
        named("response.output_text.delta", 6, output_index=1, content_index=0, delta="lo"),
    ]
    assert split_error_event(b"".join(blocks)) is None  # `"error": null` is no error event
    p = read_prefix(Api.OPENAI_RESPONSES, blocks)
    assert p is not None and p.continuable
    assert (p.id, p.model, p.created, p.seq, p.next_index) == ("resp_1", "m", 5, 7, 2)
    assert (p.open_text, p.item_id, p.done, "".join(p.text)) == (1, "msg_a", [done], "Hello")
    for cut_at in (2, 4):  # a reasoning item open; a message item whose text has not begun
        early = read_prefix(Api.OPENAI_RESPONSES, blocks[:cut_at])
        assert early is not None and not early.continuable
    part_done = named("response.content_part.done", 7, output_index=1, content_index=0)
    closed = read_prefix(Api.OPENAI_RESPONSES, [*blocks, part_done])
    assert closed is not None and not closed.continuable  # the item is open, its text is not
    failed = named("response.failed", 7, response={"error": {"message": "overloaded"}})
    assert split_error_event(blocks[-1] + failed) == (blocks[-1], "overloaded")
    err = named("error", 7, code="server_error", message="boom", param=None)
    assert split_error_event(err) == (b"", "boom")
    doc = {"model": "m", "input": "hi", "instructions": "be brief", "stream": True}
    asked = continuation_doc(doc, "Hello ", prefill=True, api=Api.OPENAI_RESPONSES)
    assert asked["input"] == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert doc["input"] == "hi"  # the client's request is left as it was
    estimated = primary_usage(Prefix(), doc, "Hello ")  # instructions + input, output
    assert (estimated.input, estimated.output) == ((8 + 2 + 3) // 4, 2)


PART = {"type": "output_text", "text": "", "annotations": []}


def test_resumed_encoder_goes_on_with_the_numbers_and_the_open_part() -> None:
    encoder = ResponsesStreamEncoder()
    done = {"id": "rs_a", "type": "reasoning", "summary": []}
    encoder.resume("resp_1", "m", 5, 7, [done], (1, "msg_a", ["Hel", "lo"]))
    data = encoder.encode(
        [
            ir.TextDelta(1, " world"),
            ir.BlockStop(1),
            ir.BlockStart(2, "text"),
            ir.TextDelta(2, "more"),
            ir.MessageDelta(ir.StopReason.END_TURN, usage=ir.Usage(input=3, output=4)),
            ir.MessageStop(),
        ]
    )
    docs = [orjson.loads(line[6:]) for line in data.split(b"\n") if line.startswith(b"data: ")]
    assert [d["sequence_number"] for d in docs] == list(range(7, 7 + len(docs)))
    assert docs[0]["item_id"] == "msg_a" and docs[0]["output_index"] == 1
    text_done = next(d for d in docs if d["type"] == "response.output_text.done")
    assert (text_done["item_id"], text_done["text"]) == ("msg_a", "Hello world")
    added = next(d for d in docs if d["type"] == "response.output_item.added")
    assert added["output_index"] == 2
    final = docs[-1]["response"]
    assert final["id"] == "resp_1" and final["created_at"] == 5
    assert [o["id"] for o in final["output"]] == ["rs_a", "msg_a", added["item"]["id"]]
    assert final["usage"]["output_tokens"] == 4
    assert [o["id"] for o in encoder.output] == ["rs_a", "msg_a", added["item"]["id"]]
