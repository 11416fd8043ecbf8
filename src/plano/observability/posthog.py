"""PostHog LLM analytics: every sampled LLM request becomes a `$ai_generation` event.

`tracing.exporters: [{type: posthog, url, api_key, distinct_id_header, capture_messages}]`
(reference §9.1). `PosthogExporter` is a `RecordSink` of `Telemetry`: `write` runs on the event
loop for each finished request and only copies a few fields of a sampled model-listener request
into a bounded queue (a tuple and a deque append). A daemon thread turns them into events
(`posthog_events`, which describes them), encodes them with orjson and POSTs them in batches to
`{url}/batch/`, the PostHog capture API: `{"api_key": "phc_...", "batch": [<event>, ...]}`.

Tracing decides which requests are exported: the exporter is built only when tracing is on (as
`build_tracing` decides) and sends only requests whose span is sampled. The api key is sent in
the body and never logged.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from plano.observability.posthog_events import Item, build_event, encode_event
from plano.observability.record import RequestRecord

log = logging.getLogger("plano.posthog")

FLUSH_SECONDS: Final = 3.0  # send what is queued at least this often
MAX_BATCH: Final = 100  # events per POST (also: wake the thread when this many are queued)
MAX_BATCH_BYTES: Final = 4 * 1024 * 1024  # a POST body stays under this (PostHog takes 20 MB)
MAX_QUEUE: Final = 10_000  # events waiting; beyond this new ones are dropped and counted
MAX_INPUT_BYTES: Final = 512 * 1024  # request bodies above this are not captured
MAX_QUEUED_INPUT_BYTES: Final = 64 * 1024 * 1024  # captured bodies waiting, all together
ATTEMPTS: Final = 3  # per batch, for connection errors, timeouts, 408, 429 and 5xx
BACKOFF_SECONDS: Final = 1.0  # before the 2nd attempt; doubles after each failure
REQUEST_TIMEOUT: Final = 10.0
CLOSE_SECONDS: Final = 3.0
REPORT_EVERY_SECONDS: Final = 60.0  # a failing exporter logs at most this often

_LLM_HANDLER: Final = "llm_chat"
_COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"  # not a generation
_RETRY_STATUS: Final = frozenset({408, 429})

# (url, body, timeout) -> HTTP status; raises OSError when no answer came.
Transport = Callable[[str, bytes, float], int]


class PosthogSettings(Protocol):
    """One `tracing.exporters` entry (`plano.config.PosthogExporterConfig`)."""

    @property
    def url(self) -> object: ...

    @property
    def api_key(self) -> str: ...

    @property
    def distinct_id_header(self) -> str | None: ...

    @property
    def capture_messages(self) -> bool: ...


class ExportersSettings(Protocol):
    """What the exporter reads from the `tracing` section (`plano.config.TracingConfig`)."""

    @property
    def random_sampling(self) -> int: ...

    @property
    def exporters(self) -> Sequence[PosthogSettings]: ...


class Counter(Protocol):
    """`plano_posthog_events_total`: a prometheus-client counter labelled by outcome."""

    def labels(self, outcome: str) -> Any: ...


def _tracing_on(settings: ExportersSettings | None, env: Mapping[str, str]) -> bool:
    """The rule of `tracing.build_tracing`: a section with random_sampling > 0, and the SDK not
    disabled by `OTEL_SDK_DISABLED=true`."""
    if settings is None or settings.random_sampling <= 0:
        return False
    return env.get("OTEL_SDK_DISABLED", "").strip().lower() != "true"


def captures_messages(settings: ExportersSettings | None, env: Mapping[str, str]) -> bool:
    """Whether the model listener must keep request bodies for `$ai_input`."""
    if settings is None or not _tracing_on(settings, env):
        return False
    return any(e.capture_messages for e in settings.exporters)


def build_posthog(
    settings: ExportersSettings | None,
    env: Mapping[str, str] | None = None,
    *,
    counter: Counter | None = None,
    transport: Transport | None = None,
) -> PosthogExporter | None:
    """The worker's PostHog sink, or None when tracing is off or no exporter is configured."""
    env = os.environ if env is None else env
    if settings is None or not settings.exporters or not _tracing_on(settings, env):
        return None
    destinations = tuple(
        Destination(str(e.url), e.api_key, e.distinct_id_header, e.capture_messages)
        for e in settings.exporters
    )
    return PosthogExporter(destinations, counter=counter, transport=transport)


class Destination:
    """One configured PostHog project. Its api key is never part of a log line or a repr."""

    __slots__ = ("_api_key", "capture", "header", "last_report", "reports_held", "url", "where")

    def __init__(self, url: str, api_key: str, header: str | None, capture: bool) -> None:
        parts = urlsplit(url)
        self.url = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/batch/"))
        host = parts.hostname or "?"
        self.where = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
        self._api_key = api_key
        self.header = header.strip().lower().encode("latin-1") if header else None
        self.capture = capture
        self.last_report = -REPORT_EVERY_SECONDS
        self.reports_held = 0

    def __repr__(self) -> str:
        return f"Destination({self.where})"

    def body(self, events: Sequence[bytes]) -> bytes:
        prefix = b'{"api_key":' + orjson.dumps(self._api_key) + b',"batch":['
        return prefix + b",".join(events) + b"]}"


def urllib_transport(url: str, body: bytes, timeout: float) -> int:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)


class PosthogExporter:
    """The `RecordSink`: queue on the event loop, build, encode and send in a daemon thread.

    Counters (plain ints, also pushed to `plano_posthog_events_total` when a counter is given):
    `sent`, `failed` (given up on after the retries, or refused by PostHog) and `dropped` (the
    queue was full, or the exporter was closed).
    """

    def __init__(
        self,
        destinations: Sequence[Destination],
        *,
        counter: Counter | None = None,
        transport: Transport | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        max_queue: int = MAX_QUEUE,
        max_batch: int = MAX_BATCH,
        backoff: float = BACKOFF_SECONDS,
    ) -> None:
        self.destinations = tuple(destinations)
        self._capture = any(d.capture for d in self.destinations)
        self._counter = counter
        self._transport = transport or urllib_transport
        self._flush_seconds = flush_seconds
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._backoff = backoff
        self._queue: deque[Item] = deque()
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._deadline = 0.0
        self.sent = self.failed = self.dropped = 0
        self._pushed = {"sent": 0, "failed": 0, "dropped": 0}
        self._input_added = 0  # bytes of captured bodies queued (event loop)
        self._input_released = 0  # ... and taken off the queue (thread)
        self._dropped_reported = 0
        self._last_drop_report = -REPORT_EVERY_SECONDS
        self._thread = threading.Thread(target=self._run, name="plano-posthog", daemon=True)
        self._thread.start()

    # -- the event loop side ----------------------------------------------------------------

    def write(self, record: RequestRecord) -> None:
        r = record
        tp = r.traceparent
        if r.model is None or tp is None or tp[-1] != "1" or r.handler != _LLM_HANDLER:
            return  # not an LLM call, or not sampled (tracing's `-01` flag)
        if r.path == _COUNT_TOKENS_PATH:
            return
        queue = self._queue
        if len(queue) >= self._max_queue or self._closed.is_set():
            self.dropped += 1
            return
        body = r.request_body if self._capture else None
        if body is not None:
            size = len(body)
            if (
                size > MAX_INPUT_BYTES
                or self._input_added - self._input_released + size > MAX_QUEUED_INPUT_BYTES
            ):
                body = None
            else:
                self._input_added += size
        queue.append(
            (
                tp,
                r.model,
                r.upstream_model,
                r.provider,
                r.stream,
                r.status,
                r.upstream_status,
                r.error_kind,
                r.prompt_tokens,
                r.completion_tokens,
                r.start,
                r.end,
                r.downstream_first_chunk,
                r.wall_start,
                r.request_headers,
                body,
                r.cost,
                r.signals,
            )
        )
        if len(queue) == self._max_batch:
            self._wake.set()

    def close(self, timeout: float = CLOSE_SECONDS) -> None:
        """Send what is queued (one attempt per batch, no retries) and stop, within about
        `timeout` seconds; what is not sent by then is lost. Blocking; idempotent."""
        if self._closed.is_set():
            return
        self._deadline = time.monotonic() + timeout
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout + 0.5)

    # -- the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closed.is_set():
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            self._cycle()
        self._cycle()

    def _cycle(self) -> None:
        try:
            self._send_queued()
        except Exception:  # a bug must not kill the thread: keep counting and sending
            log.exception("PostHog export failed")
        self._report_drops()
        self._push_counts()

    def _send_queued(self) -> None:
        queue = self._queue
        while queue:
            items = [queue.popleft() for _ in range(min(self._max_batch, len(queue)))]
            events = [build_event(item) for item in items]
            released = sum(len(item[15] or b"") for item in items)
            for dest in self.destinations:
                encoded = [encode_event(e, dest.header, dest.capture) for e in events]
                self._send(dest, encoded)
            self._input_released += released

    def _send(self, dest: Destination, events: list[bytes]) -> None:
        """POST `events` in as many bodies as the byte limit needs."""
        start = 0
        while start < len(events):
            size = 0
            end = start
            while end < len(events) and (end == start or size + len(events[end]) < MAX_BATCH_BYTES):
                size += len(events[end]) + 1
                end += 1
            self._post(dest, dest.body(events[start:end]), end - start)
            start = end

    def _post(self, dest: Destination, body: bytes, count: int) -> None:
        error = ""
        for attempt in range(ATTEMPTS):
            closing = self._closed.is_set()
            if attempt and (closing or self._closed.wait(self._backoff * 2 ** (attempt - 1))):
                break  # shutting down: no more retries
            timeout = REQUEST_TIMEOUT
            if closing:
                timeout = min(timeout, self._deadline - time.monotonic())
                if timeout <= 0:
                    error = "shutdown timeout"
                    break
            try:
                status = self._transport(dest.url, body, timeout)
            except (OSError, ValueError) as exc:  # no answer (ValueError: a bad URL)
                error = _describe(exc)
                continue
            if 200 <= status < 300:
                self.sent += count
                return
            error = f"HTTP {status}"
            if status not in _RETRY_STATUS and status < 500:
                break  # refused (400 bad event, 401 bad key...): retrying will not help
        self.failed += count
        self._report_failure(dest, error, count)

    def _report_failure(self, dest: Destination, error: str, count: int) -> None:
        now = time.monotonic()
        if now - dest.last_report < REPORT_EVERY_SECONDS:
            dest.reports_held += 1
            return
        held = dest.reports_held
        dest.last_report, dest.reports_held = now, 0
        log.warning(
            "PostHog export to %s/batch/ failed (%s): %d event%s lost%s",
            dest.where,
            error,
            count,
            "" if count == 1 else "s",
            f"; {held} more failed batches since the last report" if held else "",
        )

    def _report_drops(self) -> None:
        dropped = self.dropped
        now = time.monotonic()
        if dropped > self._dropped_reported and now - self._last_drop_report >= (
            REPORT_EVERY_SECONDS
        ):
            log.warning(
                "PostHog export queue full (%d events): %d events dropped",
                self._max_queue,
                dropped - self._dropped_reported,
            )
            self._dropped_reported = dropped
            self._last_drop_report = now

    def _push_counts(self) -> None:
        counter = self._counter
        if counter is None:
            return
        counts = (("sent", self.sent), ("failed", self.failed), ("dropped", self.dropped))
        for outcome, value in counts:
            delta = value - self._pushed[outcome]
            if delta > 0:
                counter.labels(outcome).inc(delta)
                self._pushed[outcome] = value


def _describe(exc: BaseException) -> str:
    """A failure without its URL or anything else from the request."""
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return reason if isinstance(reason, str) else type(reason).__name__ + f": {reason}"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__
