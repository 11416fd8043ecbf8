"""``plano mock-llm`` on 127.0.0.1, driven by the official OpenAI SDK and by raw sockets."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httptools
import openai
import orjson
import pytest
from openai import OpenAI, Stream
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from plano.mock import MockLLM
from plano.mock.testing import MockHandle, run_mock_in_thread

pytestmark = pytest.mark.integration

HELLO: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "Hello from the integration test"}
]
HELLO_REPLY = "mock reply to: Hello from the integration test"


@pytest.fixture(scope="module")
def server() -> Iterator[MockHandle]:
    with run_mock_in_thread(models=["configured-model"]) as handle:
        yield handle


@pytest.fixture
def mock(server: MockHandle) -> MockHandle:
    server.clear()
    return server


@pytest.fixture
def client(mock: MockHandle) -> Iterator[OpenAI]:
    with OpenAI(base_url=mock.base_url + "/v1", api_key="x", max_retries=0) as c:
        yield c


def stream_text(client: OpenAI, **kw: Any) -> tuple[str, list[ChatCompletionChunk]]:
    stream: Stream[ChatCompletionChunk] = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, stream=True, **kw
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


# --- replies ------------------------------------------------------------------------------------


def test_non_stream(client: OpenAI) -> None:
    r = client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert r.id.startswith("chatcmpl-")
    assert r.object == "chat.completion"
    assert r.model == "gpt-4o-mini"
    assert r.choices[0].message.content == HELLO_REPLY
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens > 0


def test_stream_content_concatenates(client: OpenAI) -> None:
    text, chunks = stream_text(client)
    assert text == HELLO_REPLY
    assert chunks[0].choices[0].delta.role == "assistant"
    content_chunks = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content_chunks) == 5
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_usage_chunk(client: OpenAI) -> None:
    _, chunks = stream_text(client, stream_options={"include_usage": True})
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == (len(HELLO_REPLY) + 3) // 4


def test_parallel_tool_calls(mock: MockHandle, client: OpenAI) -> None:
    calls = [
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_time", "arguments": '{"tz": "CET"}'},
    ]
    mock.script({"tool_calls": calls})
    r = client.chat.completions.create(model="gpt-4o", messages=HELLO)
    msg = r.choices[0].message
    assert r.choices[0].finish_reason == "tool_calls"
    assert msg.content is None
    assert msg.tool_calls is not None
    got = [(c.function.name, json.loads(c.function.arguments)) for c in msg.tool_calls]  # type: ignore[union-attr]
    assert got == [("get_weather", {"city": "Paris"}), ("get_time", {"tz": "CET"})]


def test_streamed_tool_calls(mock: MockHandle, client: OpenAI) -> None:
    mock.script({"tool_calls": [{"name": "a", "arguments": {"x": [1, 2, 3]}}, {"name": "b"}]})
    _, chunks = stream_text(client)
    acc: dict[int, list[str]] = {}
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or []:
            if call.id:
                assert call.function is not None
                acc[call.index] = [call.function.name or "", ""]
            elif call.function and call.function.arguments:
                acc[call.index][1] += call.function.arguments
    assert {i: (n, json.loads(a)) for i, (n, a) in acc.items()} == {
        0: ("a", {"x": [1, 2, 3]}),
        1: ("b", {}),
    }
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("status", "exc"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (422, openai.UnprocessableEntityError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_error_status(
    mock: MockHandle, client: OpenAI, status: int, exc: type[openai.APIStatusError]
) -> None:
    mock.script({"status": status, "message": f"scripted {status}", "retry_after": "5"})
    with pytest.raises(exc) as info:
        client.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert info.value.status_code == status
    assert isinstance(info.value.body, dict)
    assert info.value.body["message"] == f"scripted {status}"
    assert info.value.response.headers["retry-after"] == "5"


def test_sdk_retries_through_scripted_errors(mock: MockHandle) -> None:
    fast_retry = {"retry-after-ms": "1"}
    mock.script({"status": 503, "headers": fast_retry}, {"status": 429, "headers": fast_retry})
    with OpenAI(base_url=mock.base_url + "/v1", api_key="x", max_retries=2) as c:
        r = c.chat.completions.create(model="gpt-4o", messages=HELLO)
    assert r.choices[0].message.content == HELLO_REPLY
    assert len(mock.requests) == 3


# --- script queue and header directives ----------------------------------------------------------


def ask(client: OpenAI, model: str = "gpt-4o", **kw: Any) -> str | None:
    r: ChatCompletion = client.chat.completions.create(model=model, messages=HELLO, **kw)
    return r.choices[0].message.content


def test_script_fifo_and_model_match(mock: MockHandle, client: OpenAI) -> None:
    mock.script({"model": "claude", "text": "for claude"}, {"text": "first"}, {"text": "second"})
    assert ask(client, "gpt-4o") == "first"
    assert ask(client, "claude") == "for claude"
    assert ask(client, "claude") == "second"
    assert ask(client, "gpt-4o") == HELLO_REPLY


def test_script_over_http_control_api(mock: MockHandle, client: OpenAI) -> None:
    post = urllib.request.Request(
        mock.base_url + "/_mock/script",
        data=orjson.dumps([{"text": "via http", "times": 2}]),
        method="POST",
    )
    with urllib.request.urlopen(post) as resp:
        assert orjson.loads(resp.read()) == {"queued": 1, "pending": 1}
    assert [ask(client), ask(client), ask(client)] == ["via http", "via http", HELLO_REPLY]
    mock.script({"text": "never used"})
    delete = urllib.request.Request(mock.base_url + "/_mock/script", method="DELETE")
    with urllib.request.urlopen(delete) as resp:
        assert orjson.loads(resp.read()) == {"cleared": 1}
    assert ask(client) == HELLO_REPLY


def test_header_directives(mock: MockHandle, client: OpenAI) -> None:
    headers = {"x-mock-text": "header text", "x-mock-chunks": "2"}
    text, chunks = stream_text(client, extra_headers=headers)
    assert text == "header text"
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 2
    mock.script({"text": "scripted wins"})
    assert ask(client, extra_headers=headers) == "scripted wins"
    with pytest.raises(openai.InternalServerError) as info:
        ask(client, extra_headers={"x-mock-status": "502", "x-mock-error-message": "bad gw"})
    assert info.value.status_code == 502
    calls = '[{"name": "lookup", "arguments": {"q": 1}}]'
    r = client.chat.completions.create(
        model="gpt-4o", messages=HELLO, extra_headers={"x-mock-tool-calls": calls}
    )
    assert r.choices[0].message.tool_calls is not None
    assert r.choices[0].message.tool_calls[0].function.name == "lookup"  # type: ignore[union-attr]


def test_server_defaults_are_lowest_precedence() -> None:
    with (
        run_mock_in_thread(default_text="server text", chunks=1) as m,
        OpenAI(base_url=m.base_url + "/v1", api_key="x", max_retries=0) as c,
    ):
        assert ask(c) == "server text"
        assert ask(c, extra_headers={"x-mock-text": "header"}) == "header"
        _, chunks = stream_text(c)
        assert sum(1 for ch in chunks if ch.choices and ch.choices[0].delta.content) == 1


# --- recording, models, health --------------------------------------------------------------------


def test_recorded_requests(mock: MockHandle) -> None:
    with OpenAI(
        base_url=mock.base_url + "/openai/deployments/my-dep",
        api_key="secret",
        default_query={"api-version": "2024-10-21"},
        max_retries=0,
    ) as azure:
        azure.chat.completions.create(
            model="gpt-4o", messages=HELLO, extra_headers={"X-Trace": "t1"}
        )
    (rec,) = mock.requests
    assert rec.method == "POST"
    assert rec.path == "/openai/deployments/my-dep/chat/completions"
    assert rec.query == "api-version=2024-10-21"
    assert rec.headers["x-trace"] == "t1"
    assert rec.headers["authorization"] == "Bearer secret"
    assert rec.body == {"model": "gpt-4o", "messages": HELLO}
    assert rec.raw_body_len == int(rec.headers["content-length"])
    with urllib.request.urlopen(mock.base_url + "/_mock/requests") as resp:
        listed = orjson.loads(resp.read())
    assert listed == [rec.to_json()]
    delete = urllib.request.Request(mock.base_url + "/_mock/requests", method="DELETE")
    with urllib.request.urlopen(delete) as resp:
        assert orjson.loads(resp.read()) == {"cleared": 1}
    assert mock.requests == []


def test_models_and_health(mock: MockHandle, client: OpenAI) -> None:
    ask(client, "seen-model")
    ids = [m.id for m in client.models.list()]
    assert ids[0] == "configured-model"
    assert "seen-model" in ids
    with urllib.request.urlopen(mock.base_url + "/healthz") as resp:
        assert resp.status == 200


# --- faults ---------------------------------------------------------------------------------------


def test_disconnect_before_response(mock: MockHandle, client: OpenAI) -> None:
    mock.script({"fault": "disconnect_before_response"})
    with pytest.raises(openai.APIConnectionError):
        ask(client)
    assert len(mock.requests) == 1  # the request was read before the connection closed


def test_disconnect_mid_stream(mock: MockHandle, client: OpenAI) -> None:
    mock.script({"fault": "disconnect_mid_stream", "fault_after_chunks": 3})
    seen = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True):
            seen.append(chunk)
    assert len(seen) == 3


def test_malformed_chunk(mock: MockHandle, client: OpenAI) -> None:
    mock.script({"fault": "malformed_chunk"})
    seen = []
    with pytest.raises(json.JSONDecodeError):
        for chunk in client.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True):
            seen.append(chunk)
    assert len(seen) == 2


def test_hang_times_out(mock: MockHandle, client: OpenAI) -> None:
    mock.script({"fault": "hang"})
    with pytest.raises(openai.APITimeoutError):
        client.with_options(timeout=0.3).chat.completions.create(model="gpt-4o", messages=HELLO)


def test_slow_drip_and_delays_still_parse(mock: MockHandle, client: OpenAI) -> None:
    mock.script(
        {"fault": "slow_drip"},
        {"first_byte_delay_ms": 5, "chunk_delay_ms": 1},
        {"fault": "slow_drip", "chunk_delay_ms": 0.1},
    )
    assert stream_text(client)[0] == HELLO_REPLY
    assert stream_text(client)[0] == HELLO_REPLY
    assert ask(client) == HELLO_REPLY


# --- HTTP/1.1: keep-alive, pipelining, chunked request bodies ------------------------------------


def test_sdk_reuses_the_connection(mock: MockHandle, client: OpenAI) -> None:
    # (The sync SDK closes a stream's response at [DONE] without reading the last HTTP chunk,
    # so httpx drops that connection: streams are left out here.)
    for _ in range(3):
        ask(client)
    assert len({r.connection for r in mock.requests}) == 1


class _Responses:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._body = b""

    def on_body(self, body: bytes) -> None:
        self._body += body

    def on_message_complete(self) -> None:
        self.bodies.append(self._body)
        self._body = b""


def _read_responses(sock: socket.socket, n: int) -> list[Any]:
    sink = _Responses()
    parser = httptools.HttpResponseParser(sink)
    while len(sink.bodies) < n:
        data = sock.recv(65536)
        assert data, "connection closed early"
        parser.feed_data(data)
    return [orjson.loads(b) for b in sink.bodies]


def _post(path: str, body: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def test_pipelined_requests_answered_in_order(mock: MockHandle) -> None:
    body = orjson.dumps({"model": "m", "messages": HELLO})
    chunked = b"%x\r\n%b\r\n%x\r\n%b\r\n0\r\n\r\n" % (10, body[:10], len(body) - 10, body[10:])
    slow = "x-mock-first-byte-delay-ms: 20\r\nx-mock-text: slow first\r\n"
    batch = (
        _post("/v1/chat/completions", body, slow)
        + b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + chunked
        + _post("/v1/chat/completions", body, "x-mock-text: third\r\n")
    )
    with socket.create_connection(("127.0.0.1", mock.port)) as sock:
        sock.sendall(batch)
        replies = _read_responses(sock, 3)
    texts = [r["choices"][0]["message"]["content"] for r in replies]
    assert texts == ["slow first", HELLO_REPLY, "third"]
    recorded = mock.requests
    assert [r.raw_body_len for r in recorded] == [len(body)] * 3
    assert recorded[1].body == {"model": "m", "messages": HELLO}
    assert len({r.connection for r in recorded}) == 1


def test_half_close_still_gets_every_reply(mock: MockHandle) -> None:
    body = orjson.dumps({"model": "m", "messages": HELLO})
    delayed = "x-mock-first-byte-delay-ms: 10\r\nx-mock-text: delayed\r\n"
    with socket.create_connection(("127.0.0.1", mock.port)) as sock:
        models = b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n"
        sock.sendall(_post("/v1/chat/completions", body, delayed) + models)
        sock.shutdown(socket.SHUT_WR)
        replies = _read_responses(sock, 2)
        assert sock.recv(100) == b""  # then the mock closes
    assert replies[0]["choices"][0]["message"]["content"] == "delayed"
    assert replies[1]["object"] == "list"


def test_body_too_large_gets_413() -> None:
    with run_mock_in_thread(max_body_bytes=100) as m:
        with socket.create_connection(("127.0.0.1", m.port)) as sock:
            sock.sendall(_post("/v1/chat/completions", b"x" * 101))
            (reply,) = _read_responses(sock, 1)
            assert sock.recv(100) == b""
        assert reply["error"]["message"] == "request body too large"
        assert m.requests == []


def test_malformed_http_gets_400(mock: MockHandle) -> None:
    with socket.create_connection(("127.0.0.1", mock.port)) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 400 ")


# --- lifecycle ------------------------------------------------------------------------------------


def test_stop_closes_hung_connections() -> None:
    async def scenario() -> bytes:
        mock = MockLLM(script=[{"fault": "hang"}])
        port = await mock.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(_post("/v1/chat/completions", b'{"model":"m","messages":[]}'))
        await writer.drain()
        await mock.wait_for_requests(1)  # the hang is now being played
        await mock.stop()
        data = await reader.read()  # EOF: stop() closed the hung connection
        writer.close()
        await writer.wait_closed()
        return data

    assert asyncio.run(scenario()) == b""


def test_leaving_the_thread_context_closes_open_connections() -> None:
    with run_mock_in_thread(script=[{"fault": "hang"}]) as m:
        sock = socket.create_connection(("127.0.0.1", m.port))
        sock.sendall(_post("/v1/chat/completions", b'{"model":"m","messages":[]}'))
        m.wait_for_requests(1)
    with sock:
        assert sock.recv(100) == b""


def test_async_context_manager() -> None:
    async def scenario() -> int:
        async with MockLLM() as mock:
            reader, writer = await asyncio.open_connection("127.0.0.1", mock.port)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            return int(data.split(b" ", 2)[1])

    assert asyncio.run(scenario()) == 200


def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    script = tmp_path / "script.yaml"
    script.write_text("- text: from the script file\n")
    code = f"from plano.mock.cli import run; run('127.0.0.1', 0, script_file={str(script)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("mock-llm listening on http://127.0.0.1:")
        base_url = line.rsplit(" ", 1)[1]
        with OpenAI(base_url=base_url + "/v1", api_key="x", max_retries=0) as c:
            assert ask(c) == "from the script file"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
