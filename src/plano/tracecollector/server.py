"""The receiver's servers: OTLP/gRPC (`TraceService/Export`) and one HTTP port serving OTLP/HTTP
(`POST /v1/traces`, protobuf or JSON, optionally gzip) and the query API:

- `GET /api/traces?trace_id=HEX&model=GLOB&status=CODE|error&since=SECONDS&limit=N
  &where=KEY=VALUE...&service=GLOB` -> `{"traces": [...]}`, newest first (see `store.TraceQuery`;
  `since` is seconds back from now; `where` repeats, and a key no stored span has is a 400;
  `flagged=1` keeps traces with a span flagged by agentic signals; `service` keeps traces with a
  span of a matching service);
- `GET /api/health` -> `{"status": "ok", "traces": N, "grpc_port": P, "http_port": P}`.

Both servers run in threads; `Collector.start()` binds (port 0 = any free port) and returns.
`on_spans` (optional) also gets every received batch of spans, on the receiving thread: the
live delivery `plano obs` reads its calls from.
"""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

import grpc
import orjson
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from plano.tracecollector.otlp_json import request_from_json
from plano.tracecollector.render import parse_where
from plano.tracecollector.store import Span, TraceQuery, TraceStore, spans_from_request

MAX_BODY: Final = 16 * 1024 * 1024
GRPC_MAX_MESSAGE: Final = 16 * 1024 * 1024
_EMPTY_RESPONSE: Final = ExportTraceServiceResponse().SerializeToString()


class QueryError(ValueError):
    pass


def parse_query(params: dict[str, list[str]], now_ns: int) -> TraceQuery:
    """`TraceQuery` from the query string of `GET /api/traces`."""

    def one(name: str) -> str | None:
        values = params.get(name)
        return values[-1].strip() if values and values[-1].strip() else None

    trace_id = one("trace_id")
    if trace_id is not None:
        trace_id = trace_id.lower()
        if len(trace_id) > 32 or any(c not in "0123456789abcdef" for c in trace_id):
            raise QueryError("trace_id must be hexadecimal (a prefix of a 32-digit trace id)")
    status = one("status")
    if status is not None and status != "error" and not status.isdigit():
        raise QueryError("status must be an HTTP status code or 'error'")
    try:
        since = one("since")
        since_ns = now_ns - int(float(since) * 1e9) if since is not None else None
        limit = int(one("limit") or 20)
    except ValueError:
        raise QueryError("since must be a number of seconds and limit an integer") from None
    where = tuple(_where(w) for w in params.get("where", ()))
    flagged = (one("flagged") or "").lower() in ("1", "true", "yes")
    return TraceQuery(
        trace_id, one("model"), status, since_ns, limit, where, flagged, one("service")
    )


def _where(text: str) -> tuple[str, str]:
    try:
        return parse_where(text)
    except ValueError as exc:
        raise QueryError(f"where: {exc}") from None


class _TraceService(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receive: Callable[[list[Span]], None]) -> None:
        self._receive = receive

    def Export(self, request: ExportTraceServiceRequest, context: Any) -> Any:
        self._receive(spans_from_request(request))
        return ExportTraceServiceResponse()


class _Handler(BaseHTTPRequestHandler):
    server: _HttpServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a developer tool's terminal is for traces, not access logs."""

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, orjson.dumps({"error": message}))

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        collector = self.server.collector
        if url.path == "/api/health":
            self._send(
                200,
                orjson.dumps(
                    {
                        "status": "ok",
                        "traces": len(collector.store),
                        "grpc_port": collector.grpc_port,
                        "http_port": collector.http_port,
                    }
                ),
            )
        elif url.path == "/api/traces":
            try:
                query = parse_query(parse_qs(url.query), time.time_ns())
            except QueryError as exc:
                self._error(400, str(exc))
                return
            unknown = collector.store.unknown_keys(k for k, _ in query.where)
            if unknown:
                self._error(
                    400, f"unknown where key(s): {', '.join(unknown)} (no stored span has them)"
                )
                return
            self._send(200, orjson.dumps({"traces": collector.store.query(query)}))
        else:
            self._error(404, f"no route for GET {url.path}")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        if url.path != "/v1/traces":
            self._error(404, f"no route for POST {url.path}")
            return
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._error(
                413 if length > 0 else 411, "a body with a valid content-length is required"
            )
            self.close_connection = True
            return
        body = self.rfile.read(length)
        content_type = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
        as_json = content_type == "application/json"
        if content_type not in ("", "application/x-protobuf", "application/protobuf") and (
            not as_json
        ):
            self._error(415, "send application/x-protobuf or application/json (OTLP/HTTP)")
            return
        try:
            request = self._decode(body, as_json)
        except Exception as exc:  # gzip/zlib errors, protobuf's DecodeError/ParseError, JSON
            self._error(400, f"cannot decode the OTLP request: {exc}")
            return
        self.server.collector.receive(spans_from_request(request))
        if as_json:
            self._send(200, b"{}")
        else:
            self._send(200, _EMPTY_RESPONSE, "application/x-protobuf")

    def _decode(self, body: bytes, as_json: bool) -> ExportTraceServiceRequest:
        encoding = (self.headers.get("content-encoding") or "").lower()
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported content-encoding {encoding!r}")
        if as_json:
            return request_from_json(body)
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        return request


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    collector: Collector


class Collector:
    """The OTLP receiver: a `TraceStore` fed by a gRPC server and an HTTP server."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        grpc_port: int = 4317,
        http_port: int = 4318,
        store: TraceStore | None = None,
        on_spans: Callable[[list[Span]], None] | None = None,
    ) -> None:
        self.host = host
        self.store = store or TraceStore()
        self._on_spans = on_spans
        self._want = (grpc_port, http_port)
        self.grpc_port = 0
        self.http_port = 0
        self._grpc: Any = None
        self._http: _HttpServer | None = None
        self._http_thread: threading.Thread | None = None

    def receive(self, spans: list[Span]) -> None:
        """Keep a received batch, and hand it to `on_spans`."""
        self.store.add(spans)
        if self._on_spans is not None:
            self._on_spans(spans)

    def start(self) -> None:
        """Bind both ports and serve in background threads; raises OSError if a port is taken."""
        self._http = _HttpServer((self.host, self._want[1]), _Handler)
        self._http.collector = self
        self.http_port = int(self._http.server_address[1])
        server = grpc.server(
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="plano-trace-grpc"),
            options=[
                ("grpc.max_receive_message_length", GRPC_MAX_MESSAGE),
                ("grpc.so_reuseport", 0),
            ],
        )
        add = trace_service_pb2_grpc.add_TraceServiceServicer_to_server
        add(_TraceService(self.receive), server)  # type: ignore[no-untyped-call]
        try:
            port = server.add_insecure_port(f"{_grpc_host(self.host)}:{self._want[0]}")
        except RuntimeError as exc:
            port = 0
            error: Exception | None = exc
        else:
            error = None
        if not port:
            self._http.server_close()
            raise OSError(f"cannot bind the OTLP/gRPC port {self.host}:{self._want[0]}") from error
        server.start()
        self._grpc = server
        self.grpc_port = int(port)
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},  # how soon stop() is noticed
            name="plano-trace-http",
            daemon=True,
        )
        self._http_thread.start()

    def stop(self, grace: float = 1.0) -> None:
        if self._grpc is not None:
            self._grpc.stop(grace).wait(grace + 1)
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._http_thread is not None:
            self._http_thread.join(grace + 1)
            self._http_thread = None

    def __enter__(self) -> Collector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _grpc_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
