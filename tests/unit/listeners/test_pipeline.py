"""The pipeline runner: stage order, outcomes as values, one renderer, release on every path."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from plano.config.resilience import OverloadConfig
from plano.errors import BadRequest, Forbidden, PlanoError
from plano.listeners.asgi import ClientDisconnected
from plano.listeners.pipeline import (
    DONE,
    Call,
    DecodeJson,
    Outcome,
    Pipeline,
    ReadBody,
    Stage,
    SyncStage,
)
from plano.observability.record import RequestRecord
from plano.upstream.overload import OverloadGate


class Held:
    def __init__(self) -> None:
        self.released = 0

    def release(self) -> None:
        self.released += 1


class Note(SyncStage[Call]):
    def __init__(self, seen: list[str], name: str, outcome: Outcome = None) -> None:
        self.seen, self.name, self.outcome = seen, name, outcome

    def __call__(self, call: Call) -> Outcome:
        self.seen.append(self.name)
        return self.outcome


class Hold(Stage[Call]):
    def __init__(self, held: Held) -> None:
        self.held = held

    async def __call__(self, call: Call) -> Outcome:
        call.held = self.held
        return None


class Raise(Stage[Call]):
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    async def __call__(self, call: Call) -> Outcome:
        raise self.exc


class Answer(Stage[Call]):
    async def __call__(self, call: Call) -> Outcome:
        await call.send({"type": "http.response.start", "status": 200, "headers": []})
        await call.send({"type": "http.response.body", "body": call.doc["echo"].encode()})
        return DONE


def run(
    pipeline: Pipeline[Call], path: str = "/v1/chat/completions", body: bytes = b"{}"
) -> tuple[RequestRecord, list[Any]]:
    record = RequestRecord("l", "model", "POST", path)
    scope: dict[str, Any] = {"path": path, "headers": [], "plano.record": record}
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(pipeline.handler(scope, receive, send))
    return record, sent


def status_and_body(sent: list[Any]) -> tuple[int, Any]:
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def test_stages_run_in_order_and_none_is_left_out() -> None:
    seen: list[str] = []
    p = Pipeline(Call, [Note(seen, "a"), None, Note(seen, "b"), Note(seen, "c", DONE)])
    assert p.names() == ["Note", "Note", "Note"]
    run(p)
    assert seen == ["a", "b", "c"]


def test_done_stops_the_pipeline() -> None:
    seen: list[str] = []
    run(Pipeline(Call, [Note(seen, "a", DONE), Note(seen, "never")]))
    assert seen == ["a"]


def test_a_returned_error_is_answered_in_the_openai_dialect() -> None:
    seen: list[str] = []
    p = Pipeline(Call, [Note(seen, "a", Forbidden("no")), Note(seen, "never")])
    record, sent = run(p)
    assert seen == ["a"]
    status, body = status_and_body(sent)
    assert status == 403
    assert body["error"]["message"] == "no"
    assert record.error_kind == "client"


def test_a_raised_error_is_answered_in_the_anthropic_dialect() -> None:
    _, sent = run(Pipeline(Call, [Raise(BadRequest("bad"))]), path="/v1/messages")
    status, body = status_and_body(sent)
    assert status == 400
    assert body == {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}


def test_an_error_with_its_own_body_is_sent_as_it_is() -> None:
    class Own(PlanoError):
        status = 409

        def own_body(self) -> bytes:
            return b'{"mine": true}'

    _, sent = run(Pipeline(Call, [Raise(Own("x"))]))
    assert status_and_body(sent) == (409, {"mine": True})


def test_what_a_call_holds_is_released_on_every_path() -> None:
    for last in (None, DONE, Forbidden("no")):
        held = Held()
        run(Pipeline(Call, [Hold(held), Note([], "x", last)]))
        assert held.released == 1
    held = Held()
    with pytest.raises(RuntimeError):
        run(Pipeline(Call, [Hold(held), Raise(RuntimeError("bug"))]))
    assert held.released == 1


def test_a_client_that_left_is_noted_and_not_answered() -> None:
    record, sent = run(Pipeline(Call, [Raise(ClientDisconnected())]))
    assert sent == []
    assert record.error_kind == "client_gone"


def test_decode_stages_read_the_body_and_refuse_what_is_not_an_object() -> None:
    p = Pipeline(Call, [ReadBody(1024), DecodeJson(), Answer()])
    record, sent = run(p, body=b'{"echo": "hi"}')
    assert sent[1]["body"] == b"hi"
    assert record.bytes_in == len(b'{"echo": "hi"}')
    _, sent = run(p, body=b"[1]")
    assert status_and_body(sent)[0] == 400
    _, sent = run(Pipeline(Call, [ReadBody(4), DecodeJson()]), body=b'{"echo": "hi"}')
    assert status_and_body(sent)[0] == 413


def test_a_full_gate_answers_503_and_a_slot_is_given_back() -> None:
    gate = OverloadGate(OverloadConfig(max_concurrent_requests=1))
    seen: list[str] = []
    p = Pipeline(Call, [Note(seen, "a", DONE)], gate=gate)
    run(p)
    assert gate.active == 0 and seen == ["a"]
    gate.active = 1  # another request holds the only slot
    record, sent = run(p)
    assert status_and_body(sent)[0] == 503
    assert record.error_kind == "overloaded"
    assert seen == ["a"]
