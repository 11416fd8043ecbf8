"""`type: mcp` filters: a `tools/call` over MCP streamable HTTP, through the official `mcp` SDK.

The MCP endpoint is `/mcp` at the root of the filter's `url` (as in the original). Each filter
keeps one long-lived `ClientSession` per worker, opened lazily on first use by a background task
that owns the SDK's transport; when the server forgets the session ("Session terminated", e.g. it
restarted) or the transport dies, the session is opened again and the call retried once.

The tool (default: the filter id) is called with `{"body": <request JSON>, "path": <api path>}`.
Its result is the new body: `structuredContent.result` when present, else the JSON text of the
first content block. A tool error (`isError`, e.g. the server's `ToolError`) rejects the request
with 400 and the tool's message; anything else that goes wrong is a fatal `FilterFailed`.

The session is shared by every request of the worker, so per-request HTTP headers cannot carry
the trace context: the request's `traceparent` / `tracestate` travel in the `tools/call`
request's `params._meta` (`{"traceparent": ..., "tracestate": ...}`), where a server reads them
from its request context (FastMCP: `ctx.request_context.meta`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import orjson

from plano.config.sections import FilterConfig
from plano.filters.types import (
    FilterContext,
    FilterFailed,
    FilterRejected,
    Headers,
    trace_context,
)
from plano.observability import names as n

if TYPE_CHECKING:
    from mcp.client.session import ClientSession

_CLIENT_NAME = "plano"


class McpFilter:
    def __init__(self, config: FilterConfig, *, timeout: float) -> None:
        self.id = config.id
        self.tool = config.tool or config.id
        self.span_name = n.SPAN_MCP_FILTER.format(config.id)
        parts = urlsplit(str(config.url))
        self.endpoint = f"{parts.scheme}://{parts.netloc}/mcp"
        self._timeout = timeout
        self._session: asyncio.Future[ClientSession] | None = None
        self._stop: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    async def apply(self, body: bytes, path: str, headers: Headers, ctx: FilterContext) -> bytes:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FilterFailed(self.id, f"body is not JSON: {exc}") from None
        arguments = {"body": doc, "path": path}
        meta = trace_context(headers) or None
        try:
            result = await self._call(arguments, meta)
        except _SessionLost:
            await self._reset()
            try:
                result = await self._call(arguments, meta)
            except _SessionLost as exc:
                await self._reset()
                raise FilterFailed(self.id, str(exc)) from None
        return self._new_body(result)

    async def _call(self, arguments: dict[str, Any], meta: dict[str, str] | None) -> Any:
        from mcp.shared.exceptions import MCPError

        session = await self._open()
        try:
            return await asyncio.wait_for(
                session.call_tool(self.tool, arguments, meta=meta),  # type: ignore[arg-type]
                timeout=self._timeout,
            )
        except TimeoutError:
            raise FilterFailed(self.id, f"no answer within {self._timeout:g}s") from None
        except MCPError as exc:
            if "session" in exc.message.lower():
                raise _SessionLost(f"MCP session lost: {exc.message}") from None
            raise FilterFailed(self.id, f"MCP error {exc.code}: {exc.message}") from None
        except Exception as exc:  # the transport task died (connection refused, reset)
            raise _SessionLost(f"MCP transport failed: {type(exc).__name__}: {exc}") from None

    def _new_body(self, result: Any) -> bytes:
        texts = [getattr(block, "text", None) for block in result.content]
        text = next((t for t in texts if isinstance(t, str)), "")
        if result.is_error:
            raise FilterRejected(self.id, 400, text.encode())
        structured = result.structured_content
        if isinstance(structured, dict) and "result" in structured:
            return orjson.dumps(structured["result"])
        if not text:
            raise FilterFailed(self.id, "the tool returned no content")
        try:
            return orjson.dumps(orjson.loads(text))
        except orjson.JSONDecodeError:
            raise FilterFailed(self.id, "the tool's content is not JSON") from None

    async def _open(self) -> ClientSession:
        if self._session is None:
            loop = asyncio.get_running_loop()
            self._session = loop.create_future()
            self._stop = asyncio.Event()
            self._task = loop.create_task(self._hold(self._session, self._stop))
        try:
            return await asyncio.wait_for(asyncio.shield(self._session), timeout=self._timeout)
        except TimeoutError:
            await self._reset()
            raise FilterFailed(self.id, "MCP initialize timed out") from None
        except FilterFailed:
            raise
        except Exception as exc:
            await self._reset()
            raise FilterFailed(
                self.id, f"MCP session could not be opened: {type(exc).__name__}: {exc}"
            ) from None

    async def _hold(self, ready: asyncio.Future[ClientSession], stop: asyncio.Event) -> None:
        """Own the SDK transport and session for as long as this filter keeps them."""
        from mcp.client.session import ClientSession
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client
        from mcp_types import Implementation

        info = Implementation(name=_CLIENT_NAME, version="1.0.0")
        fixed = {"x-arch-upstream": self.id, "x-envoy-max-retries": "3"}
        try:
            async with (
                create_mcp_http_client(headers=fixed) as http,
                streamable_http_client(self.endpoint, http_client=http) as (read, write),
                ClientSession(read, write, client_info=info) as session,
            ):
                await session.initialize()
                ready.set_result(session)
                await stop.wait()
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(str(exc)))
            if isinstance(exc, asyncio.CancelledError):
                raise

    async def _reset(self) -> None:
        task, stop, session = self._task, self._stop, self._session
        self._task = self._stop = self._session = None
        if session is not None and not session.done():
            session.cancel()
        if stop is not None:
            stop.set()
        if task is not None:
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(task, timeout=5.0)

    async def close(self) -> None:
        await self._reset()


class _SessionLost(Exception):
    pass
