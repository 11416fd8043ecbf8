"""PostHog LLM analytics: every sampled LLM request becomes a `$ai_generation` event.

`tracing.exporters: [{type: posthog, url, api_key, distinct_id_header, capture_messages}]`
(reference §9.1). `PosthogExporter` is a `RecordSink` of `Telemetry`: `write` runs on the event
loop for each finished request and only copies a few fields of a sampled model-listener request
into a bounded queue (a tuple and a deque append). A daemon thread turns them into events, encodes
them with orjson and POSTs them in batches to `{url}/batch/`, the PostHog capture API:

    {"api_key": "phc_...", "batch": [{"event": "$ai_generation", "distinct_id": "...",
      "timestamp": "2025-01-01T12:00:00.123Z", "uuid": "...", "properties": {...}}]}

Properties: `$ai_trace_id` / `$ai_span_id` (the request span's W3C ids, hex), `$ai_parent_id`
(the client's span, when it sent a `traceparent`), `$ai_model`, `$ai_provider`, `$ai_latency`
and `$ai_time_to_first_token` (seconds), `$ai_stream`, `$ai_input_tokens`, `$ai_output_tokens`,
`$ai_http_status`, `$ai_is_error` (+ `$ai_error`, the error kind) and, with `capture_messages`,
`$ai_input`. `distinct_id` is the value of the `distinct_id_header` request header, else the trace
id with `$process_person_profile: false` (an anonymous event: PostHog makes no person for it).

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
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson

from plano.observability.record import RequestRecord

log = logging.getLogger("plano.posthog")

EVENT: Final = "$ai_generation"
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
MAX_DISTINCT_ID: Final = 200  # characters kept of a distinct-id header value

_LLM_HANDLER: Final = "llm_chat"
_COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"  # not a generation
_RETRY_STATUS: Final = frozenset({408, 429})

# What `write` keeps of a record (one tuple, unpacked in the thread).
_Item = tuple[
    str,  # traceparent (ours: 00-<trace id>-<span id>-01)
    str,  # canonical model (provider/model)
    str | None,  # model id sent upstream
    str | None,  # provider
    bool,  # stream
    int,  # status to the client
    int,  # upstream status
    str | None,  # error kind
    int | None,  # prompt tokens
    int | None,  # completion tokens
    int,  # start (perf_counter_ns)
    int,  # end
    int,  # first body bytes to the client
    int,  # wall-clock start (time_ns)
    Sequence[tuple[bytes, bytes]],  # the client's request headers
    bytes | None,  # the request body, when captured
]

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
        self._queue: deque[_Item] = deque()
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
            events = [_event(item) for item in items]
            released = sum(len(item[15] or b"") for item in items)
            for dest in self.destinations:
                self._send(dest, [_encode(e, dest) for e in events])
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


class _Event:
    """An item turned into what every destination shares, plus what differs per destination."""

    __slots__ = ("body", "headers", "properties", "timestamp", "trace_id", "uuid")

    def __init__(
        self,
        properties: dict[str, Any],
        trace_id: str,
        timestamp: str,
        headers: Sequence[tuple[bytes, bytes]],
        body: bytes | None,
    ) -> None:
        self.properties = properties
        self.trace_id = trace_id
        self.timestamp = timestamp
        self.headers = headers
        self.body = body
        self.uuid = str(uuid.uuid4())


def _event(item: _Item) -> _Event:
    (
        tp,
        model,
        upstream_model,
        provider,
        stream,
        status,
        upstream_status,
        error_kind,
        prompt,
        completion,
        start,
        end,
        first_chunk,
        wall_start,
        headers,
        body,
    ) = item
    trace_id, span_id = tp[3:35], tp[36:52]
    status = status or upstream_status
    failed = status >= 400 or (error_kind is not None and error_kind != "client_gone")
    props: dict[str, Any] = {
        "$ai_trace_id": trace_id,
        "$ai_span_id": span_id,
        "$ai_model": upstream_model or model,
        "$ai_provider": provider,
        "$ai_latency": max(end - start, 0) / 1e9,
        "$ai_stream": stream,
        "$ai_http_status": status,
        "$ai_is_error": failed,
    }
    parent = _client_parent(headers, trace_id)
    if parent is not None:
        props["$ai_parent_id"] = parent
    if stream and first_chunk:
        props["$ai_time_to_first_token"] = max(first_chunk - start, 0) / 1e9
    if prompt is not None:
        props["$ai_input_tokens"] = prompt
    if completion is not None:
        props["$ai_output_tokens"] = completion
    if failed and error_kind is not None:
        props["$ai_error"] = error_kind
    return _Event(props, trace_id, _iso(wall_start + max(end - start, 0)), headers, body)


def _encode(event: _Event, dest: Destination) -> bytes:
    props = dict(event.properties)
    distinct = _header(event.headers, dest.header) if dest.header else None
    if not distinct:
        distinct = event.trace_id
        props["$process_person_profile"] = False
    if dest.capture and event.body is not None:
        messages = input_messages(event.body)
        if messages is not None:
            props["$ai_input"] = messages
    return orjson.dumps(
        {
            "event": EVENT,
            "distinct_id": distinct,
            "timestamp": event.timestamp,
            "uuid": event.uuid,
            "properties": props,
        }
    )


def _iso(wall_ns: int) -> str:
    """ISO 8601 UTC with milliseconds: 2025-01-01T12:00:00.123Z."""
    moment = datetime.fromtimestamp(wall_ns // 1_000_000 / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _header(headers: Sequence[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            try:
                text = value.decode()
            except UnicodeDecodeError:
                text = value.decode("latin-1")
            return text.strip()[:MAX_DISTINCT_ID] or None
    return None


def _client_parent(headers: Sequence[tuple[bytes, bytes]], trace_id: str) -> str | None:
    """The client's span id from its `traceparent`, if the request span continued its trace."""
    header = _header(headers, b"traceparent")
    if header is None:
        return None
    from plano.observability.otel_spans import parse_traceparent

    parsed = parse_traceparent(header)
    if parsed is None or f"{parsed[0]:032x}" != trace_id:
        return None
    return f"{parsed[1]:016x}"


def input_messages(body: bytes) -> list[Any] | None:
    """`$ai_input` of a request body: chat `messages` (Anthropic: `system` first, as a system
    message), or Responses `input` (a string becomes one user message; `instructions` first, as a
    system message). None when the body has neither."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict):
        return None
    messages = doc.get("messages")
    if isinstance(messages, list):
        system = doc.get("system")
        if isinstance(system, str | list) and system:
            return [{"role": "system", "content": system}, *messages]
        return messages
    given = doc.get("input")
    if isinstance(given, str):
        out: list[Any] = [{"role": "user", "content": given}]
    elif isinstance(given, list):
        out = given
    else:
        return None
    instructions = doc.get("instructions")
    if isinstance(instructions, str) and instructions:
        return [{"role": "system", "content": instructions}, *out]
    return out
