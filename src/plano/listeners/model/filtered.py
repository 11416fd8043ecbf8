"""Model-listener filter chains at the two points they act: request body in, response out.

Output filters see each raw upstream chunk as it arrives (an SSE chunk of a stream, or the whole
JSON body otherwise), as the original; the filter's answer replaces the chunk. A filter failure in
a stream is not skipped: it ends the stream with an error event in the client's dialect (raised
to the caller, which owns the dialect).
"""

from __future__ import annotations

import time
from typing import Final

import aiohttp

from plano.filters.chain import Chain, passed_headers
from plano.listeners.asgi import Send
from plano.observability.record import RequestRecord
from plano.observability.usage import StreamUsage

_TRACE: Final = frozenset({"traceparent", "tracestate"})


def filter_headers(record: RequestRecord) -> list[tuple[str, str]]:
    """The client's headers as a filter receives them, with our trace context when tracing."""
    headers = passed_headers(record.request_headers)
    if record.traceparent is not None:
        headers = [(k, v) for k, v in headers if k.lower() not in _TRACE]
        headers.append(("traceparent", record.traceparent))
    return headers


async def relay_filtered(
    chain: Chain, resp: aiohttp.ClientResponse, send: Send, path: str, record: RequestRecord
) -> None:
    """Relay an event stream, each chunk passed through the output chain first."""
    headers = filter_headers(record)
    usage = StreamUsage()
    async for chunk in resp.content.iter_any():
        if not record.upstream_first_chunk:
            record.upstream_first_chunk = time.perf_counter_ns()
        usage.feed(chunk)
        out = await chain.run(chunk, path, headers)
        if out:
            await send({"type": "http.response.body", "body": out, "more_body": True})
    record.upstream_done = time.perf_counter_ns()
    await send({"type": "http.response.body", "body": b""})
    if (u := usage.usage) is not None:
        record.note_usage(u.prompt, u.completion, u.cached)
