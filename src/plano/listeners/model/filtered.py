"""The headers a model-listener filter receives: the client's, with our trace context.

Input filters run on the request body (`stages.InputFilters`); output filters on each raw upstream
chunk of a stream, or the whole body, as the original (`relay`).
"""

from __future__ import annotations

from typing import Final

from plano.filters.chain import passed_headers
from plano.observability.record import RequestRecord

_TRACE: Final = frozenset({"traceparent", "tracestate"})


def filter_headers(record: RequestRecord) -> list[tuple[str, str]]:
    """The client's headers as a filter receives them, with our trace context when tracing."""
    headers = passed_headers(record.request_headers)
    if record.traceparent is not None:
        headers = [(k, v) for k, v in headers if k.lower() not in _TRACE]
        headers.append(("traceparent", record.traceparent))
    return headers
