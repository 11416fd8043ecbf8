"""Batching spans off the request path, the way the SDK's `BatchSpanProcessor` does.

Spans arrive with their service, either encoded (bytes) or as a tuple of plain values that
`render` encodes; neither is an object the garbage collector keeps scanning, unlike queued span
objects. A thread renders and sends them in batches of `max_batch` (OTLP requests built by
`OtlpEncoder.encode_batch`), when that many are queued or every `delay` seconds; it lets the
event loop take the GIL between chunks of `RENDER_CHUNK` spans. A full queue drops new spans and
says so once. The `OTEL_BSP_*` variables set the sizes and the delay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Final

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from plano.observability.otlp_encoding import OtlpEncoder

log = logging.getLogger("plano.tracing")

DEFAULT_DELAY_MS: Final = 5000
DEFAULT_MAX_QUEUE: Final = 2048
DEFAULT_MAX_BATCH: Final = 512
# Spans rendered between two chances for the event loop to take the GIL (~0.1 ms of work).
RENDER_CHUNK: Final = 64


def _as_is(span: Any) -> bytes:
    return span  # type: ignore[no-any-return]


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        value = int(env.get(name, "").strip() or default)
    except ValueError:
        log.warning("%s must be an integer; using %d", name, default)
        return default
    return value if value > 0 else default


class SpanBatcher:
    """Queue of encoded spans and the thread that exports them with `send(request) -> ok`."""

    def __init__(
        self,
        send: Callable[[bytes], bool],
        resource: Resource,
        scope: InstrumentationScope,
        *,
        render: Callable[[Any], bytes] = _as_is,
        delay: float = DEFAULT_DELAY_MS / 1000,
        max_queue: int = DEFAULT_MAX_QUEUE,
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> None:
        self._send = send
        self._render = render
        self._resource = resource
        self._scope = scope
        self._delay = delay
        self._max_queue = max_queue
        self._max_batch = min(max_batch, max_queue)
        self._queue: deque[tuple[str | None, Any]] = deque()
        self._encoder = OtlpEncoder()  # used under _export_lock only
        self._export_lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self.dropped = 0
        self._thread = threading.Thread(target=self._run, name="plano-span-export", daemon=True)
        self._thread.start()

    @classmethod
    def from_env(
        cls,
        send: Callable[[bytes], bool],
        resource: Resource,
        scope: InstrumentationScope,
        env: Mapping[str, str],
        render: Callable[[Any], bytes] = _as_is,
    ) -> SpanBatcher:
        return cls(
            send,
            resource,
            scope,
            render=render,
            delay=_env_int(env, "OTEL_BSP_SCHEDULE_DELAY", DEFAULT_DELAY_MS) / 1000,
            max_queue=_env_int(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE),
            max_batch=_env_int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_BATCH),
        )

    def add(self, service: str | None, span: Any) -> None:
        """Queue one span, encoded or for `render` (called on the event loop: a deque append)."""
        queue = self._queue
        if len(queue) >= self._max_queue or self._stopping:
            if not self.dropped:
                log.warning("span export queue full (%d): dropping spans", self._max_queue)
            self.dropped += 1
            return
        queue.append((service, span))
        if len(queue) >= self._max_batch and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._delay)
            self._wake.clear()
            if not self._stopping:
                self._export(everything=False)

    def _export(self, *, everything: bool) -> None:
        """Send full batches (and, every `delay` or when `everything`, the rest too)."""
        with self._export_lock:
            queue = self._queue
            first = True
            while queue and (everything or first or len(queue) >= self._max_batch):
                first = False
                count = min(self._max_batch, len(queue))
                batch = [queue.popleft() for _ in range(count)]
                try:
                    request = self._encoder.encode_batch(
                        self._resource, self._scope, self._rendered(batch)
                    )
                    self._send(request)
                except Exception:
                    log.exception("span export failed")

    def _rendered(self, batch: list[tuple[str | None, Any]]) -> list[tuple[str | None, bytes]]:
        render = self._render
        out: list[tuple[str | None, bytes]] = []
        for first in range(0, len(batch), RENDER_CHUNK):
            if first:
                time.sleep(0)  # lets the event loop thread take the GIL if it waits for it
            chunk = batch[first : first + RENDER_CHUNK]
            out += [(service, render(span)) for service, span in chunk]
        return out

    def force_flush(self) -> None:
        """Send everything queued now, from the calling thread."""
        self._export(everything=True)

    def shutdown(self, timeout: float) -> bool:
        """Stop the thread, then send what is left; False if the thread did not stop in time
        (an export still retrying)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self._export(everything=True)
        return True
