"""The mock's routing, spec resolution, control API and recording, without sockets."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from plano.mock.app import MockApp, MockOptions
from plano.mock.request import MockRequest
from plano.mock.response import Reply
from plano.mock.script import Fault, ReplySpec


def req(
    method: str, target: str, body: Any = None, headers: dict[str, str] | None = None
) -> MockRequest:
    raw = body if isinstance(body, bytes) else b"" if body is None else orjson.dumps(body)
    return MockRequest.parse(method, target.encode(), headers or {}, raw, 1)


def chat(model: str = "gpt-4o", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


def answer(app: MockApp, request: MockRequest) -> tuple[Reply, Any]:
    reply, _ = app.handle(request)
    return reply, orjson.loads(reply.body) if reply.body else None


def content(app: MockApp, **kw: Any) -> str:
    headers = kw.pop("headers", None)
    _, obj = answer(app, req("POST", "/v1/chat/completions", chat(**kw), headers))
    return str(obj["choices"][0]["message"]["content"])


def test_health_and_models() -> None:
    app = MockApp(MockOptions(models=("configured",)))
    reply, _ = app.handle(req("GET", "/healthz"))
    assert (reply.status, reply.body) == (200, b"")
    content(app, model="seen")
    _, models = answer(app, req("GET", "/v1/models"))
    assert [m["id"] for m in models["data"]] == ["configured", "seen"]
    assert app.recorded[-1].path == "/v1/models"
    assert all(r.path != "/healthz" for r in app.recorded)


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat/completions",
        "/openai/v1/chat/completions",
        "/v1beta/openai/chat/completions",
        "/openai/deployments/dep-1/chat/completions?api-version=2024-10-21",
    ],
)
def test_chat_paths(path: str) -> None:
    reply, obj = answer(MockApp(MockOptions()), req("POST", path, chat()))
    assert reply.status == 200
    assert obj["object"] == "chat.completion"


def test_unknown_path_method_and_bad_json() -> None:
    app = MockApp(MockOptions())
    reply, obj = answer(app, req("POST", "/v1/audio/speech", {}))
    assert reply.status == 404
    assert obj["error"]["message"] == "Unsupported endpoint: POST /v1/audio/speech"
    reply, obj = answer(app, req("GET", "/v1/chat/completions"))
    assert reply.status == 405
    reply, obj = answer(app, req("POST", "/v1/chat/completions", b"{not json"))
    assert reply.status == 400
    assert obj["error"]["type"] == "invalid_request_error"
    reply, obj = answer(app, req("POST", "/v1/chat/completions", chat(), {"x-mock-status": "x"}))
    assert reply.status == 400
    assert "x-mock-status" in obj["error"]["message"]


def test_precedence_script_over_headers_over_defaults() -> None:
    app = MockApp(MockOptions(default_text="server default"))
    assert content(app) == "server default"
    assert content(app, headers={"x-mock-text": "from header"}) == "from header"
    app.script([{"text": "scripted"}])
    assert content(app, headers={"x-mock-text": "from header"}) == "scripted"
    assert content(app, headers={"x-mock-text": "from header"}) == "from header"


def test_scripted_status_body_headers_retry_after() -> None:
    app = MockApp(MockOptions())
    app.script(
        [
            {"status": 429, "retry_after": 3, "message": "slow down"},
            {"status": 201, "body": "raw text", "headers": {"x-extra": "1"}},
            {"status": 202, "text": "accepted"},
        ]
    )
    reply, obj = answer(app, req("POST", "/v1/chat/completions", chat()))
    assert reply.status == 429
    assert ("retry-after", "3") in reply.headers
    assert obj["error"]["message"] == "slow down"
    reply, _ = app.handle(req("POST", "/v1/chat/completions", chat()))
    assert (reply.status, reply.body, reply.headers) == (201, b"raw text", (("x-extra", "1"),))
    reply, obj = answer(app, req("POST", "/v1/chat/completions", chat()))
    assert reply.status == 202
    assert obj["choices"][0]["message"]["content"] == "accepted"


def test_spec_returned_only_when_async_work() -> None:
    app = MockApp(MockOptions())
    assert app.handle(req("POST", "/v1/chat/completions", chat()))[1] is None
    app.script([ReplySpec(fault=Fault.HANG)])
    _, spec = app.handle(req("POST", "/v1/chat/completions", chat()))
    assert spec is not None
    assert spec.fault is Fault.HANG
    slow = MockApp(MockOptions(chunk_delay_ms=5))
    assert slow.handle(req("POST", "/v1/chat/completions", chat()))[1] is not None


def test_control_api() -> None:
    app = MockApp(MockOptions())
    reply, obj = answer(
        app, req("POST", "/_mock/script", [{"text": "a"}, {"model": "m", "times": 0}])
    )
    assert obj == {"queued": 2, "pending": 2}
    _, pending = answer(app, req("GET", "/_mock/script"))
    assert pending == [{"text": "a"}, {"model": "m", "times": 0}]
    reply, obj = answer(app, req("POST", "/_mock/script", {"status": "bad"}))
    assert reply.status == 400
    assert obj["error"]["message"].startswith("spec 0: status")
    reply, _ = app.handle(req("POST", "/_mock/script", b"nope"))
    assert reply.status == 400
    content(app, text="recorded")
    _, recorded = answer(app, req("GET", "/_mock/requests"))
    assert [r["path"] for r in recorded] == ["/v1/chat/completions"]
    assert recorded[0]["body"]["messages"][0]["content"] == "recorded"
    assert set(recorded[0]) == {
        "method",
        "path",
        "query",
        "headers",
        "body",
        "raw_body_len",
        "connection",
    }
    assert answer(app, req("DELETE", "/_mock/requests"))[1] == {"cleared": 1}
    assert answer(app, req("DELETE", "/_mock/script/"))[1] == {"cleared": 1}
    assert answer(app, req("PUT", "/_mock/script"))[0].status == 405
    assert answer(app, req("GET", "/_mock/nothing"))[0].status == 404
    assert not app.recorded  # control requests are not recorded


def test_recording_is_bounded() -> None:
    app = MockApp(MockOptions(max_recorded=3))
    for i in range(5):
        content(app, text=f"m{i}")
    assert [r.body["messages"][0]["content"] for r in app.recorded] == ["m2", "m3", "m4"]
    assert app.recorded[0].query == ""


def test_script_accepts_objects_and_mappings() -> None:
    app = MockApp(MockOptions())
    app.script([ReplySpec(text="obj"), {"text": "map"}])
    assert [content(app), content(app)] == ["obj", "map"]
    app.script([{"text": "x"}])
    app.clear()
    assert len(app.queue) == 0
    assert not app.recorded
