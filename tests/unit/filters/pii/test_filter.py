"""The filter as a chain runs it: one config entry on the input and the output of a request,
sharing the request's FilterContext; config validation; telemetry counts (never values)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from pydantic import TypeAdapter, ValidationError

from plano.config.guards import PiiFilterConfig
from plano.config.sections import AnyFilterConfig
from plano.filters.pii.filter import PiiFilter
from plano.filters.pii.request import PiiBlocked
from plano.filters.types import FilterContext
from plano.observability.record import RequestRecord
from tests.unit.filters.pii.streams import chat_events, streamed_text

CONFIG = {
    "id": "pii",
    "type": "pii",
    "entities": {"email": "redact", "phone": "redact", "card": "mask", "secret": "block"},
    "names": ["Alice Martin"],
}


def make(**over: Any) -> PiiFilter:
    return PiiFilter(PiiFilterConfig.model_validate({**CONFIG, **over}))


def run(f: PiiFilter, body: bytes, ctx: FilterContext) -> bytes:
    return asyncio.run(f.apply(body, "/v1/chat/completions", [], ctx))


def request(text: str) -> bytes:
    return orjson.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})


def test_input_then_output_of_one_request() -> None:
    f = make()
    record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    ctx = FilterContext(record)
    sent = run(f, request("I am Alice Martin, alice@example.com, card 4111 1111 1111 1111"), ctx)
    text = orjson.loads(sent)["messages"][0]["content"]
    assert text == "I am <NAME_1>, <EMAIL_1>, card ****1111"
    answer = {"choices": [{"index": 0, "message": {"role": "assistant", "content": f"Hi {text}"}}]}
    back = orjson.loads(run(f, orjson.dumps(answer), ctx))
    content = back["choices"][0]["message"]["content"]
    assert content == "Hi I am Alice Martin, alice@example.com, card ****1111"
    assert record.pii_found == {
        ("pii", "name", "redact"): 1,
        ("pii", "email", "redact"): 1,
        ("pii", "card", "mask"): 1,
    }


def test_stream_output_uses_the_same_context() -> None:
    f = make()
    ctx = FilterContext()
    run(f, request("mail alice@example.com"), ctx)
    out = b"".join(run(f, ev, ctx) for ev in chat_events(["ok <EMA", "IL_1>", "!"]))
    assert streamed_text("chat", out) == "ok alice@example.com!"


def test_nothing_found_passes_bodies_untouched() -> None:
    f = make()
    ctx = FilterContext()
    body = request("nothing personal, version 1.2.3")
    assert run(f, body, ctx) is body
    answer = b'{"choices":[{"message":{"content":"<EMAIL_1>"}}]}'
    assert run(f, answer, ctx) is answer  # no placeholder given: nothing to restore
    event = chat_events(["<EMAIL_1>"])[1]
    assert run(f, event, FilterContext()) is event  # output of a request the filter never saw


def test_restore_false_leaves_placeholders() -> None:
    f = make(restore=False)
    ctx = FilterContext()
    run(f, request("mail alice@example.com"), ctx)
    answer = b'{"choices":[{"message":{"content":"<EMAIL_1>"}}]}'
    assert run(f, answer, ctx) is answer


def test_block_raises_a_400_and_counts() -> None:
    f = make()
    record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    key = "AKIAIOSFODNN7EXAMPLE"
    with pytest.raises(PiiBlocked) as err:
        run(f, request(f"my key is {key}"), FilterContext(record))
    assert err.value.status == 400 and key not in str(err.value)
    assert record.pii_found == {("pii", "secret", "block"): 1}


def test_defaults_and_names() -> None:
    config = PiiFilterConfig.model_validate({"id": "p", "type": "pii"})
    assert config.restore is True
    assert config.actions() == {
        "email": "redact", "phone": "redact", "card": "redact", "iban": "redact",
        "ip": "redact", "secret": "redact",
    }  # fmt: skip
    named = PiiFilterConfig.model_validate({"id": "p", "type": "pii", "names": ["Bob"]})
    assert named.actions()["name"] == "redact"


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ({"entities": {"passport": "redact"}}, "passport"),
        ({"entities": {"email": "shred"}}, "email"),
        ({"names": ["Bob", " "]}, "names"),
        ({"restore": "maybe"}, "restore"),
        ({"url": "http://x"}, "url"),
    ],
)
def test_bad_config_says_where(entry: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as err:
        TypeAdapter(AnyFilterConfig).validate_python({"id": "p", "type": "pii", **entry})
    assert where in str(err.value)
