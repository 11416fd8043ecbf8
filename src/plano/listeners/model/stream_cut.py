"""How a started stream ends when it cannot finish: the dialect's error event, after a whole
event, and the request recorded as failed with the status the client read in that event.

Three causes, each with its `error_kind` in the record (access log, metrics, span):

- ``stream``: the upstream broke (reset, stalled past `idle`, a malformed or error event) and
  no fallback continued the answer;
- ``deadline``: a `total` limit ran out mid-stream (the listener's `timeout`, the whole
  request's deadline, or the provider's per-attempt `total`);
- ``drained``: the gateway cancelled the request (server drain at its deadline, shutdown); the
  event goes out without waiting long for a slow client (`CUT_SEND_WAIT`), then the
  cancellation goes on.

The record's `status` becomes the error's (502, 504, 503 for a drained stream): the response
head said 200, but the client's SDK raises that error, and that is what is logged and counted.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from plano.errors import PlanoError, UpstreamTimeout
from plano.listeners.types import Send
from plano.observability.record import RequestRecord

CUT_SEND_WAIT: Final = 0.5  # seconds a cancelled stream's error event may wait for the socket


class StreamDrained(PlanoError):
    """The gateway cut the stream (drain or shutdown): 503, as a refused request would be."""

    status = 503
    code = "gateway_shutting_down"
    kind = "drained"


DRAINED: Final = "the gateway is shutting down and cut the stream; retry the request"


def cut_kind(err: PlanoError) -> str:
    """The record's `error_kind` for a stream ended by `err`."""
    if isinstance(err, StreamDrained):
        return "drained"
    if isinstance(err, UpstreamTimeout) and err.phase == "total":
        return "deadline"
    return "stream"


def note_cut(record: RequestRecord, err: PlanoError) -> None:
    """The request ended in `err` mid-stream (unless the client had left first)."""
    if not record.upstream_done:
        record.upstream_done = time.perf_counter_ns()
    if record.error_kind == "client_gone":
        return
    record.error_kind = cut_kind(err)
    record.status = err.status


async def end_with(send: Send, record: RequestRecord, event: bytes, err: PlanoError) -> None:
    """Record the cut and send its error event as the body's last bytes."""
    note_cut(record, err)
    await send({"type": "http.response.body", "body": event})


async def end_cancelled(send: Send, record: RequestRecord, event: bytes) -> None:
    """The request task was cancelled mid-stream: the error event, bounded, never raising (the
    caller re-raises the cancellation)."""
    note_cut(record, StreamDrained(DRAINED))
    try:
        async with asyncio.timeout(CUT_SEND_WAIT):
            await send({"type": "http.response.body", "body": event})
    except (TimeoutError, OSError, RuntimeError):
        pass  # the client stopped reading, or the connection is already gone
