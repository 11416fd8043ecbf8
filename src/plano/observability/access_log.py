"""One line per request, written by a background thread so the event loop never blocks on I/O.

Text lines look like Envoy's; JSON lines carry the same fields. No bodies and no header values
are logged (so no credentials): only method, path, status, model, provider, timings, usage,
sizes, upstream attempts, the request id and, for requests analysed for agentic signals, their
quality and flag (JSON: the compact `signals` field, with counts and types, never a snippet).
Values a client controls (the path, the model it named, its `x-request-id`) are escaped in text
lines (`escape`): control and other non-printable characters, `"` and `\\`, so a request cannot
forge or split a line. JSON escapes them itself.
"""

from __future__ import annotations

import asyncio
import queue
import sys
import threading
import time
from typing import Final, Literal, TextIO

import orjson

from plano.observability.record import RequestRecord

Format = Literal["text", "json"]

_BATCH: Final = 256
_STOP: Final = None


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


class Clock:
    """ISO-8601 UTC timestamps, the seconds part formatted once per second."""

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def iso(self, wall_ns: int) -> str:
        second, ms = divmod(wall_ns // 1_000_000, 1000)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{ms:03d}Z"


_ESCAPES: Final = {
    **{i: f"\\x{i:02x}" for i in range(0x20)},
    0x7F: "\\x7f",
    ord('"'): '\\"',
    ord("\\"): "\\\\",
}


def escape(value: str) -> str:
    """`value` safe inside a text line: control characters as `\\xHH`, other non-printable
    ones as `\\uHHHH`/`\\UHHHHHHHH`, `"` and `\\` backslash-escaped; printable text as is."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return value
    out = value.translate(_ESCAPES)
    if out.isprintable():
        return out
    return "".join(c if c.isprintable() else _unicode_escape(c) for c in out)


def _unicode_escape(c: str) -> str:
    code = ord(c)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _text(value: str | None) -> str:
    return escape(value) if value else "-"


def fields(r: RequestRecord, clock: Clock) -> dict[str, object]:
    upstream_ms = _ms(r.upstream_done - r.upstream_sent) if r.upstream_done else None
    out: dict[str, object] = {
        "time": clock.iso(r.wall_start),
        "listener": r.listener,
        "method": r.method,
        "path": r.path,
        "status": r.status,
        "model": r.model,
        "requested_model": r.requested_model,
        "provider": r.provider,
        "stream": r.stream,
        "duration_ms": _ms(r.end - r.start),
        "upstream_ms": upstream_ms,
        "overhead_ms": _ms(r.overhead_ns()),
        "upstream_status": r.upstream_status or None,
        "attempts": r.attempts,
        "error": r.error_kind,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "cached_tokens": r.cached_tokens,
        "cost_usd": r.cost_usd,
        "key": r.key_name,
        "team": r.team,
        "bytes_in": r.bytes_in,
        "bytes_out": r.bytes_out,
        "request_id": r.request_id,
        "continued": r.continued,
        "guard": _guard(r),
    }
    if r.signals is not None:  # analysed for agentic signals: the compact report
        out["signals"] = r.signals.log_field()
    return out


def _guard(r: RequestRecord) -> str | None:
    """The guard verdicts as `filter:verdict`, comma-separated (None: no guard ran)."""
    if not r.guards:
        return None
    return ",".join(f"{g.filter}:{g.verdict}" for g in r.guards)


def text_line(r: RequestRecord, clock: Clock) -> str:
    upstream = _ms(r.upstream_done - r.upstream_sent) if r.upstream_done else "-"
    return (
        f'[{clock.iso(r.wall_start)}] "{escape(r.method)} {escape(r.path)}" {r.status} '
        f"{escape(r.listener)} model={_text(r.model)} provider={_text(r.provider)} "
        f"stream={str(r.stream).lower()} duration_ms={_ms(r.end - r.start)} "
        f"upstream_ms={upstream} overhead_ms={_ms(r.overhead_ns())} "
        f"tokens={r.prompt_tokens or 0}/{r.completion_tokens or 0} attempts={r.attempts} "
        f"error={r.error_kind or '-'}"
        + (_signals_text(r) if r.signals is not None else "")
        + f" request_id={_text(r.request_id)}"
        + (" continued=true" if r.continued else "")
        + (f" guard={escape(_guard(r) or '')}" if r.guards else "")
    )


def _signals_text(r: RequestRecord) -> str:
    note = r.signals
    assert note is not None
    return f" signals={note.quality}" + (" flagged=true" if note.flagged else "")


class AccessLog:
    """A `RecordSink`: formats in the caller (cheap), collects lines on the event loop, and
    hands them to a writer thread in batches (at most every `FLUSH_SECONDS`, or every `_BATCH`
    lines), so the thread wakes a few times a second, not once per request."""

    FLUSH_SECONDS: Final = 0.05

    def __init__(self, fmt: Format = "text", stream: TextIO | None = None) -> None:
        self._fmt = fmt
        self._clock = Clock()
        self._stream = stream or sys.stdout
        self._pending: list[str] = []
        self._timer: asyncio.TimerHandle | None = None
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="plano-access-log", daemon=True)
        self._thread.start()

    def write(self, record: RequestRecord) -> None:
        if self._fmt == "json":
            line = orjson.dumps(fields(record, self._clock)).decode()
        else:
            line = text_line(record, self._clock)
        pending = self._pending
        pending.append(line)
        if len(pending) >= _BATCH:
            self.flush()
        elif self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no event loop (direct use): write through
                self.flush()
                return
            self._timer = loop.call_later(self.FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        """Hand the collected lines to the writer thread."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            self._queue.put(self._pending)
            self._pending = []

    def close(self) -> None:
        """Flush what is collected and stop the writer."""
        self.flush()
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is _STOP:
                return
            self._stream.write("\n".join(batch) + "\n")
            self._stream.flush()
