"""Errors the gateway makes itself, as the access log (text and JSON) and `/metrics` see them:
with their status, never as status 0 / `other`; and the text log's escaping of what a client
controls. Driven through the ASGI app with `MockTransport` (no sockets)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import orjson
import pytest

from plano.config import load_config_text
from plano.errors import UpstreamConnectFailed
from plano.listeners.app import Gateway, build_app
from plano.observability.access_log import AccessLog
from plano.observability.metrics import PrometheusMetrics
from plano.observability.telemetry import Telemetry
from plano.upstream.mock_transport import MockReply, MockRequest, MockTransport

CONFIG = """
version: v0.4.0
listeners:
  - {name: llm, type: model, address: 127.0.0.1, port: 12000}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream
    base_url: http://a.test
    default: true
"""
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}


class Rig:
    """A gateway whose upstream answers with `fail` (an exception) or 200; one access log of
    each format and the Prometheus metrics."""

    def __init__(self, fail: BaseException | None) -> None:
        self._fail = fail
        self.text, self.json = io.StringIO(), io.StringIO()
        self.logs = [AccessLog("text", self.text), AccessLog("json", self.json)]
        self.metrics = PrometheusMetrics()
        config = load_config_text(CONFIG, env={})
        telemetry = Telemetry(metrics=self.metrics, records=self.logs)
        state = build_app(config, telemetry=telemetry, transport=MockTransport(self._answer))
        self.app = Gateway(state, {12000: state.listeners[0]})

    async def _answer(self, request: MockRequest) -> MockReply:
        if self._fail is not None:
            raise self._fail
        body = orjson.dumps(
            {
                "id": "c",
                "object": "chat.completion",
                "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}],
            }
        )
        return MockReply(200, (("content-type", "application/json"),), body)

    def post(self, path: str, doc: Any, headers: list[tuple[bytes, bytes]] | None = None) -> int:
        body = orjson.dumps(doc)
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": [(b"content-type", b"application/json"), *(headers or [])],
            "server": ("127.0.0.1", 12000),
        }
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            if not sent:
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        self.answer = b"".join(m.get("body", b"") for m in sent[1:])
        return int(sent[0]["status"])

    def lines(self) -> tuple[str, dict[str, Any]]:
        for log in self.logs:
            log.close()
        (text,) = self.text.getvalue().removesuffix("\n").split("\n")
        (line,) = self.json.getvalue().removesuffix("\n").split("\n")
        return text, orjson.loads(line)

    def requests_counted(self, status_class: str) -> float:
        self.metrics.flush()
        value = self.metrics.registry.get_sample_value(
            "brightstaff_http_requests_total",
            {
                "listener": "llm",
                "handler": "llm_chat",
                "method": "POST",
                "status_class": status_class,
            },
        )
        return value or 0.0


@pytest.mark.parametrize(
    ("fail", "status", "error"),
    [
        (RuntimeError("a bug in the gateway"), 500, "internal"),
        (UpstreamConnectFailed("connection refused"), 502, "connect"),
    ],
)
def test_a_gateway_made_5xx_is_logged_and_counted_with_its_status(
    fail: BaseException, status: int, error: str, caplog: pytest.LogCaptureFixture
) -> None:
    rig = Rig(fail)
    assert rig.post("/v1/chat/completions", CHAT) == status
    text, doc = rig.lines()
    assert f'"POST /v1/chat/completions" {status} llm ' in text
    assert f"error={error} " in text
    assert doc["status"] == status and doc["error"] == error
    assert rig.requests_counted("5xx") == 1.0
    assert rig.requests_counted("other") == 0.0
    if status == 500:  # in the client's dialect, and the bug is logged for the operator
        assert orjson.loads(rig.answer)["error"]["type"] == "server_error"
        assert "a bug in the gateway" in caplog.text


def test_an_anthropic_client_gets_its_own_500_envelope() -> None:
    rig = Rig(RuntimeError("bug"))
    doc = {"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert rig.post("/v1/messages", doc) == 500
    assert orjson.loads(rig.answer)["type"] == "error"
    rig.lines()


def test_attempts_are_in_both_formats() -> None:
    rig = Rig(None)
    assert rig.post("/v1/chat/completions", CHAT) == 200
    text, doc = rig.lines()
    assert " attempts=1 " in text
    assert doc["attempts"] == 1


def test_client_controlled_values_are_escaped_in_the_text_line() -> None:
    rig = Rig(None)
    path = '/v1/chat/completions\n[2026-01-01T00:00:00.000Z] "GET /forged" 200 \x1b[31m\\'
    rid = 'id" \r\nforged\x00\u2028'
    assert rig.post(path, CHAT, [(b"x-request-id", rid.encode())]) == 404
    text, doc = rig.lines()
    assert "\n" not in text and "\r" not in text and "\x1b" not in text and "\x00" not in text
    assert "\u2028" not in text
    assert '/v1/chat/completions\\x0a[2026-01-01T00:00:00.000Z] \\"GET /forged\\" 200 ' in text
    assert "\\x1b[31m\\\\" in text
    assert doc["path"] == path  # JSON keeps the value, escaped by the encoder


def test_the_clients_request_id_is_escaped_in_the_text_line() -> None:
    rig = Rig(None)
    rid = b'id" \r\nforged\x00\x85'  # header values are bytes (latin-1): \x85 is NEL
    assert rig.post("/v1/chat/completions", CHAT, [(b"x-request-id", rid)]) == 200
    text, doc = rig.lines()
    assert text.endswith(' request_id=id\\" \\x0d\\x0aforged\\x00\\u0085')
    assert doc["request_id"] == rid.decode("latin-1")
