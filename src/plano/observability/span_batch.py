"""Batching spans off the request path, the way the SDK's `BatchSpanProcessor` does.

Spans arrive with their service, either encoded (bytes) or as a tuple of plain values that
`render` encodes; neither is an object the garbage collector keeps scanning, unlike queued span
objects. Every `RENDER_CHUNK` spans the caller (the event loop) encodes the pending ones in a
single run; every `max_batch` encoded spans become one OTLP request (`OtlpEncoder.encode_batch`),
which a thread sends. Doing that work in runs on the loop costs half of what it costs in the
export thread, which runs it interleaved with the loop (each switch of the GIL evicts the other's
data from the processor's caches); runs of 128 spans keep each pause of the loop under a
millisecond. Every `delay` seconds the thread also encodes and sends what is pending. Spans held
(pending, encoded or in a request not yet sent) never exceed `max_queue`: beyond it new spans are
dropped, counted and logged once. The `OTEL_BSP_*` variables set the sizes and the delay.
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
# The delay when the receiver is on this machine (`plano trace listen`, `plano obs`): spans show
# up about half a second after the request instead of five. `OTEL_BSP_SCHEDULE_DELAY` wins.
LOCAL_DELAY_MS: Final = 500
DEFAULT_MAX_QUEUE: Final = 2048
DEFAULT_MAX_BATCH: Final = 512
RENDER_CHUNK: Final = 128  # spans encoded in one run on the loop


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
    """Pending spans, encoded spans, requests, and the thread that sends them with
    `send(request)`."""

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
        self._chunk = min(RENDER_CHUNK, self._max_batch)
        self._pending: deque[tuple[str | None, Any]] = deque()
        self._encoded: list[tuple[str | None, bytes]] = []  # under `_encode_lock`
        self._encode_lock = threading.Lock()
        self._ready: deque[tuple[bytes, int]] = deque()  # (request, its span count)
        self._ready_spans = 0  # spans in `_ready` (changed under `_ready_lock`)
        self._ready_lock = threading.Lock()
        self._export_lock = threading.Lock()  # one sender at a time
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
        *,
        default_delay_ms: int = DEFAULT_DELAY_MS,
    ) -> SpanBatcher:
        return cls(
            send,
            resource,
            scope,
            render=render,
            delay=_env_int(env, "OTEL_BSP_SCHEDULE_DELAY", default_delay_ms) / 1000,
            max_queue=_env_int(env, "OTEL_BSP_MAX_QUEUE_SIZE", DEFAULT_MAX_QUEUE),
            max_batch=_env_int(env, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", DEFAULT_MAX_BATCH),
        )

    def add(self, service: str | None, span: Any) -> None:
        """Take one span, encoded or for `render` (on the event loop: a deque append, and every
        `RENDER_CHUNK` spans a run of encoding)."""
        pending = self._pending
        held = len(pending) + len(self._encoded) + self._ready_spans
        if self._stopping or held >= self._max_queue:
            self._drop(1)
            return
        pending.append((service, span))
        if len(pending) >= self._chunk:
            self._encode(everything=False)

    def _drop(self, count: int) -> None:
        if not self.dropped:
            log.warning("span export queue full (%d): dropping spans", self._max_queue)
        self.dropped += count

    def _encode(self, *, everything: bool) -> None:
        """Encode the pending spans; make a request of every `max_batch` encoded ones (and,
        when `everything`, of the rest too) for the export thread."""
        pending = self._pending
        render = self._render
        with self._encode_lock:
            encoded = self._encoded
            try:
                while True:  # until none is pending (`popleft` raises IndexError)
                    service, span = pending.popleft()
                    encoded.append((service, render(span)))
            except IndexError:
                pass
            except Exception:
                log.exception("span encoding failed: a span dropped")
                self.dropped += 1
            size = self._max_batch
            while len(encoded) >= size or (everything and encoded):
                batch = encoded[:size]
                del encoded[:size]
                self._request(batch)

    def _request(self, batch: list[tuple[str | None, bytes]]) -> None:
        try:
            # An encoder per request: this runs on the loop or in the export thread.
            request = OtlpEncoder().encode_batch(self._resource, self._scope, batch)
        except Exception:
            log.exception("span encoding failed: %d spans dropped", len(batch))
            self.dropped += len(batch)
            return
        with self._ready_lock:
            self._ready.append((request, len(batch)))
            self._ready_spans += len(batch)
        self._wake.set()

    def _run(self) -> None:
        due = time.monotonic() + self._delay
        while not self._stopping:
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            if self._stopping:
                break
            if time.monotonic() >= due:  # every `delay`: what is pending goes too
                due = time.monotonic() + self._delay
                self._encode(everything=True)
            self._send_ready()

    def _send_ready(self) -> None:
        with self._export_lock:
            while self._ready:
                with self._ready_lock:
                    request, count = self._ready.popleft()
                try:
                    self._send(request)
                except Exception:
                    log.exception("span export failed")
                finally:
                    with self._ready_lock:
                        self._ready_spans -= count

    def force_flush(self) -> None:
        """Encode and send everything pending now, from the calling thread."""
        self._encode(everything=True)
        self._send_ready()

    def shutdown(self, timeout: float) -> bool:
        """Stop the thread, then send what is left; False if the thread did not stop in time
        (an export still retrying)."""
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            return False
        self.force_flush()
        return True
