"""Delays and faults, planned as data: a reply becomes a list of steps the server plays.

A step is a :class:`Write` (wait ``delay`` seconds, or just yield to the loop when ``delay`` is
0, then write), :data:`CLOSE` (close the connection: the client sees EOF) or :data:`HANG` (never
answer; the connection stays open until the client or :meth:`MockLLM.stop` closes it).

Streamed replies: the head and the first event go out after ``first_byte_delay_ms``, each later
event after ``chunk_delay_ms``. ``fault_after_chunks`` (default 2) counts SSE events, the first
``delta.role`` chunk included.

============================ ============================================================
fault                        what the client sees
============================ ============================================================
disconnect_before_response   the request is read, then the connection closes (no status)
disconnect_mid_stream        streamed: the head and ``fault_after_chunks`` events, then EOF
                             without the last chunk; not streamed: the head and half the body
malformed_chunk              streamed: an event whose data is not JSON, inserted at position
                             ``fault_after_chunks``, then the rest of the stream; not streamed:
                             a complete response whose body is the first half of the JSON
hang                         nothing, ever
slow_drip                    the body one byte per write (one HTTP chunk each when streamed),
                             ``chunk_delay_ms`` apart (default: just a turn of the event loop)
error_event                  streamed: ``fault_after_chunks`` events, then the API's in-stream
                             error event (``Reply.stream_error``), then the stream ends cleanly;
                             not streamed: the API's error envelope with status 500
stall_mid_stream             streamed: the head and ``fault_after_chunks`` events, then
                             nothing more; the connection stays open (like ``hang``)
no_done                      streamed: every event but the final ``data: [DONE]``, then the
                             body ends cleanly (the last HTTP chunk)
reject_prefill               a request whose last message is the assistant's (a prefill)
                             gets the API's 400 error; any other request is answered normally
============================ ============================================================
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from plano.codec.sse import DONE
from plano.mock.response import LAST_CHUNK, Reply, chunk, head
from plano.mock.script import Fault, ReplySpec

DEFAULT_FAULT_AFTER_CHUNKS: Final = 2
MALFORMED_EVENT: Final = b'data: {"id": "chatcmpl-malformed", "choices": [\n\n'


@dataclass(frozen=True, slots=True)
class Write:
    delay: float | None  # seconds to wait first; 0 = yield to the loop; None = write at once
    data: bytes


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CLOSE: Final = _Marker("CLOSE")
HANG: Final = _Marker("HANG")
Step = Write | _Marker


def plan(reply: Reply, spec: ReplySpec, *, keep_alive: bool) -> list[Step]:
    """The steps that send ``reply`` with the delays and fault of ``spec``."""
    first = (spec.first_byte_delay_ms or 0) / 1000 or None
    fault = spec.fault
    if fault is Fault.HANG:
        return [HANG]
    if fault is Fault.DISCONNECT_BEFORE_RESPONSE:
        return [Write(first, b""), CLOSE]
    after = spec.fault_after_chunks
    after = DEFAULT_FAULT_AFTER_CHUNKS if after is None else after
    gap = (spec.chunk_delay_ms or 0) / 1000
    if reply.events is None:
        return _plan_body(reply, fault, first=first, gap=gap, keep_alive=keep_alive)
    top = head(reply, keep_alive=keep_alive)
    events = reply.events
    if fault is Fault.ERROR_EVENT and reply.stream_error is not None:
        events = [*events[:after], reply.stream_error]
    return _plan_stream(top, events, fault, after=after, first=first, gap=gap)


def _plan_body(
    reply: Reply, fault: Fault | None, *, first: float | None, gap: float, keep_alive: bool
) -> list[Step]:
    body = reply.body
    if fault is Fault.MALFORMED_CHUNK:
        reply = replace(reply, body=body[: len(body) // 2] or b"{")
    top = head(reply, keep_alive=keep_alive)
    if fault is Fault.DISCONNECT_MID_STREAM:
        return [Write(first, top + body[: len(body) // 2]), CLOSE]
    if fault is Fault.SLOW_DRIP:
        return [Write(first, top), *(Write(gap, body[i : i + 1]) for i in range(len(body)))]
    return [Write(first, top + reply.body)]


def _plan_stream(
    top: bytes,
    events: list[bytes],
    fault: Fault | None,
    *,
    after: int,
    first: float | None,
    gap: float,
) -> list[Step]:
    if fault is Fault.SLOW_DRIP:
        payload = b"".join(events)
        drip = [Write(gap, chunk(payload[i : i + 1])) for i in range(len(payload))]
        return [Write(first, top), *drip, Write(None, LAST_CHUNK)]
    if fault is Fault.MALFORMED_CHUNK:
        events = [*events[:after], MALFORMED_EVENT, *events[after:]]
    cut = fault is Fault.DISCONNECT_MID_STREAM
    stall = fault is Fault.STALL_MID_STREAM
    if cut or stall:
        events = events[:after]
    elif fault is Fault.NO_DONE and events and events[-1] == DONE:
        events = events[:-1]
    steps: list[Step] = [Write(first, top + (chunk(events[0]) if events else b""))]
    steps.extend(Write(gap or None, chunk(ev)) for ev in events[1:])
    steps.append(CLOSE if cut else HANG if stall else Write(None, LAST_CHUNK))
    return steps


def rejects_prefill(spec: ReplySpec, body: object) -> bool:
    """``reject_prefill``: the request ends with an assistant message (a prefill)."""
    if spec.fault is not Fault.REJECT_PREFILL or not isinstance(body, dict):
        return False
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    return isinstance(last, dict) and last.get("role") == "assistant"
