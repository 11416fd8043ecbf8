"""What the mock answers, independent of sockets: routing, spec resolution, recording."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from plano.mock import control
from plano.mock.anthropic_messages import AnthropicMessages
from plano.mock.bedrock_converse import BedrockConverse
from plano.mock.dialect import Dialect
from plano.mock.embeddings import BedrockEmbeddings, GeminiEmbeddings, OpenAIEmbeddings
from plano.mock.faults import rejects_prefill
from plano.mock.function_calling import learned
from plano.mock.gemini import Gemini
from plano.mock.openai_chat import DEFAULT_CHUNKS, OpenAIChat, models_list
from plano.mock.openai_responses import OpenAIResponses
from plano.mock.request import MockRequest
from plano.mock.response import Reply, default_message
from plano.mock.script import Fault, ReplySpec, ScriptQueue, SpecError

MAX_MODELS: Final = 1000


@dataclass(frozen=True, slots=True)
class MockOptions:
    """Server defaults (the lowest level of reply-spec precedence) and limits."""

    default_text: str | None = None  # None: "mock reply to: <last user message>"
    chunks: int = DEFAULT_CHUNKS
    chunk_delay_ms: float = 0.0
    first_byte_delay_ms: float = 0.0
    models: tuple[str, ...] = ()  # listed by GET /v1/models, with every model seen
    max_recorded: int = 1000  # recorded requests kept (the most recent)
    max_body_bytes: int = 64 * 1024 * 1024  # larger request bodies get 413

    def __post_init__(self) -> None:
        if self.chunks < 1:
            raise ValueError(f"chunks must be >= 1, got {self.chunks}")
        if self.chunk_delay_ms < 0 or self.first_byte_delay_ms < 0:
            raise ValueError("delays must be >= 0 ms")
        if self.max_recorded < 0 or self.max_body_bytes < 1:
            raise ValueError("max_recorded must be >= 0 and max_body_bytes >= 1")

    def defaults(self) -> ReplySpec:
        return ReplySpec(
            text=self.default_text,
            chunks=self.chunks,
            chunk_delay_ms=self.chunk_delay_ms or None,
            first_byte_delay_ms=self.first_byte_delay_ms or None,
        )


def default_dialects() -> tuple[Dialect, ...]:
    """Every API the mock speaks, one instance each (ids are numbered per instance)."""
    return (
        OpenAIChat(),
        AnthropicMessages(),
        OpenAIResponses(),
        Gemini(),
        BedrockConverse(),
        OpenAIEmbeddings(),
        GeminiEmbeddings(),
        BedrockEmbeddings(),
    )


class MockApp:
    """Routes a request to the control API, ``/healthz``, ``/v1/models`` or a dialect."""

    def __init__(self, options: MockOptions, dialects: Iterable[Dialect] = ()) -> None:
        self.options = options
        self.defaults = options.defaults()
        self.queue = ScriptQueue()
        self.recorded: deque[MockRequest] = deque(maxlen=max(0, options.max_recorded))
        self.recorded_total = 0  # requests recorded since start or the last clear_requests()
        self.on_record: Callable[[], None] | None = None  # called after recording, when set
        self.models: dict[str, None] = dict.fromkeys(options.models)
        self.dialects: tuple[Dialect, ...] = tuple(dialects) or default_dialects()
        self.connections_accepted = 0

    def connection_opened(self) -> int:
        """Count a new connection; return its serial number."""
        self.connections_accepted += 1
        return self.connections_accepted

    def script(self, specs: Iterable[ReplySpec | Mapping[str, Any]]) -> int:
        """Append specs to the queue; mappings are parsed as JSON specs."""
        parsed = [s if isinstance(s, ReplySpec) else ReplySpec.from_json(s) for s in specs]
        return self.queue.extend(parsed)

    def clear(self) -> None:
        """Empty the script queue and the recorded requests."""
        self.queue.clear()
        self.clear_requests()

    def clear_requests(self) -> int:
        """Forget the recorded requests; return how many there were."""
        n = len(self.recorded)
        self.recorded.clear()
        self.recorded_total = 0
        return n

    def handle(self, req: MockRequest) -> tuple[Reply, ReplySpec | None]:
        """The reply, and the resolved spec when it has delays or faults to play."""
        path = req.path
        if path.startswith("/_mock/"):
            return control.handle(self, req), None
        if path == "/healthz":
            return Reply(content_type="text/plain"), None
        self.recorded.append(req)
        self.recorded_total += 1
        if self.on_record is not None:
            self.on_record()
        for dialect in self.dialects:
            if dialect.matches(path):
                return self._dialect(dialect, req)
        if path.endswith("/models"):
            if req.method != "GET":
                return control.error_reply(405, f"Method {req.method} not allowed on {path}"), None
            return Reply(body=models_list(list(self.models))), None
        return control.error_reply(404, f"Unsupported endpoint: {req.method} {path}"), None

    def _dialect(self, dialect: Dialect, req: MockRequest) -> tuple[Reply, ReplySpec | None]:
        if req.method != "POST":
            return dialect.error(405, f"Method {req.method} not allowed on {req.path}"), None
        model = dialect.model(req)
        if model is not None and model not in self.models and len(self.models) < MAX_MODELS:
            self.models[model] = None
        try:
            from_headers = ReplySpec.from_headers(req.headers)
        except SpecError as exc:
            return dialect.error(400, f"mock directive header {exc}"), None
        scripted = self.queue.take(model) if self.queue else None
        spec = self.defaults
        if from_headers is not None:
            spec = from_headers.over(spec)
        if scripted is not None:
            spec = scripted.over(spec)
        spec = learned(req.body, spec)
        reply = self._build(dialect, req, spec)
        return reply, spec if spec.needs_async else None

    def _build(self, dialect: Dialect, req: MockRequest, spec: ReplySpec) -> Reply:
        status = spec.status
        if spec.body is not None:
            reply = Reply(status=status or 200, body=spec.body)
        elif status is not None and not 200 <= status < 300:
            reply = dialect.error(status, spec.message or default_message(status))
        elif not isinstance(req.body, dict):
            reply = dialect.error(400, "We could not parse the JSON body of your request.")
        elif rejects_prefill(spec, req.body):
            reply = dialect.error(400, "This model does not support assistant message prefill.")
        else:
            reply = dialect.reply(req, spec)
            if status is not None:
                reply.status = status
            if spec.fault is Fault.ERROR_EVENT and reply.events is None and reply.status < 300:
                reply = dialect.error(500, spec.message or default_message(500))
        extra = spec.headers or ()
        if spec.retry_after is not None:
            extra = (*extra, ("retry-after", spec.retry_after))
        if extra:
            reply.headers = (*reply.headers, *extra)
        return reply
