"""Delays and faults planned as write steps, and the HTTP framing they use."""

from __future__ import annotations

import httptools
import orjson
import pytest

from plano.mock.faults import CLOSE, HANG, MALFORMED_EVENT, Step, Write, plan
from plano.mock.response import LAST_CHUNK, Reply, chunk, encode, head
from plano.mock.script import Fault, ReplySpec

EVENTS = [b'data: {"n":%d}\n\n' % i for i in range(5)]
STREAM = Reply(events=EVENTS, content_type="text/event-stream; charset=utf-8")
BODY = Reply(body=b'{"hello":"world"}')


def written(steps: list[Step]) -> bytes:
    return b"".join(s.data for s in steps if isinstance(s, Write))


class _Collect:
    """An httptools response callback sink."""

    def __init__(self) -> None:
        self.body = b""
        self.headers: dict[bytes, bytes] = {}
        self.complete = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete = True


def parse(raw: bytes) -> tuple[int, _Collect]:
    sink = _Collect()
    parser = httptools.HttpResponseParser(sink)
    parser.feed_data(raw)
    return parser.get_status_code(), sink


def test_no_fault_is_one_write() -> None:
    steps = plan(STREAM, ReplySpec(), keep_alive=True)
    assert len(steps) == 6
    status, sink = parse(written(steps))
    assert status == 200
    assert sink.complete
    assert sink.body == b"".join(EVENTS)
    assert written(steps) == encode(STREAM, keep_alive=True)


def test_delays() -> None:
    steps = plan(STREAM, ReplySpec(first_byte_delay_ms=100, chunk_delay_ms=10), keep_alive=True)
    assert [s.delay for s in steps if isinstance(s, Write)] == [0.1, 0.01, 0.01, 0.01, 0.01, None]
    assert steps[0] == Write(0.1, head(STREAM, keep_alive=True) + chunk(EVENTS[0]))
    body = plan(BODY, ReplySpec(first_byte_delay_ms=5), keep_alive=True)
    assert body == [Write(0.005, encode(BODY, keep_alive=True))]


def test_hang_and_disconnect_before_response() -> None:
    assert plan(STREAM, ReplySpec(fault=Fault.HANG), keep_alive=True) == [HANG]
    steps = plan(BODY, ReplySpec(fault=Fault.DISCONNECT_BEFORE_RESPONSE), keep_alive=True)
    assert steps == [Write(None, b""), CLOSE]


@pytest.mark.parametrize("after", [None, 0, 3])
def test_disconnect_mid_stream(after: int | None) -> None:
    spec = ReplySpec(fault=Fault.DISCONNECT_MID_STREAM, fault_after_chunks=after)
    steps = plan(STREAM, spec, keep_alive=True)
    assert steps[-1] is CLOSE
    n = 2 if after is None else after
    _, sink = parse(written(steps))
    assert not sink.complete  # no last chunk
    assert sink.body == b"".join(EVENTS[:n])


def test_disconnect_mid_body() -> None:
    steps = plan(BODY, ReplySpec(fault=Fault.DISCONNECT_MID_STREAM), keep_alive=True)
    assert steps[-1] is CLOSE
    _, sink = parse(written(steps))
    assert not sink.complete
    assert sink.body == BODY.body[: len(BODY.body) // 2]


def test_malformed_chunk() -> None:
    spec = ReplySpec(fault=Fault.MALFORMED_CHUNK, fault_after_chunks=1)
    _, sink = parse(written(plan(STREAM, spec, keep_alive=True)))
    assert sink.complete
    assert sink.body == EVENTS[0] + MALFORMED_EVENT + b"".join(EVENTS[1:])
    _, sink = parse(written(plan(BODY, ReplySpec(fault=Fault.MALFORMED_CHUNK), keep_alive=True)))
    assert sink.complete
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(sink.body)


def test_slow_drip_one_byte_per_write() -> None:
    steps = plan(STREAM, ReplySpec(fault=Fault.SLOW_DRIP), keep_alive=True)
    payload = b"".join(EVENTS)
    writes = [s for s in steps if isinstance(s, Write)]
    assert len(writes) == len(payload) + 2  # head, one chunk per byte, last chunk
    assert all(w.delay == 0 for w in writes[1:-1])  # a turn of the loop between bytes
    assert writes[-1].data == LAST_CHUNK
    _, sink = parse(written(steps))
    assert sink.complete
    assert sink.body == payload
    body_steps = plan(BODY, ReplySpec(fault=Fault.SLOW_DRIP, chunk_delay_ms=2), keep_alive=True)
    assert [len(s.data) for s in body_steps if isinstance(s, Write)][1:] == [1] * len(BODY.body)
    assert parse(written(body_steps))[1].body == BODY.body


def test_head_headers_and_close() -> None:
    reply = Reply(status=429, body=b"{}", headers=(("retry-after", "3"),))
    raw = encode(reply, keep_alive=False)
    assert raw.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    status, sink = parse(raw)
    assert status == 429
    assert sink.headers[b"retry-after"] == b"3"
    assert sink.headers[b"connection"] == b"close"
    assert sink.headers[b"content-type"] == b"application/json"
    custom = Reply(body=b"x", headers=(("Content-Type", "text/plain"),))
    assert encode(custom, keep_alive=True).count(b"ontent-") == 2  # type once, length once
    assert encode(Reply(status=299), keep_alive=True).startswith(b"HTTP/1.1 299 Unknown\r\n")
