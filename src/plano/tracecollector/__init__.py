"""`plano trace listen`: a local OTLP receiver keeping the last traces in memory, and its query
API, so a developer sees the gateway's traces without running a collector (reference §9.4).

A developer tool at the same layer as `plano.mock`: it imports nothing from the gateway.
"""

from plano.tracecollector.server import Collector, QueryError, parse_query
from plano.tracecollector.store import TraceQuery, TraceStore, spans_from_request

__all__ = [
    "Collector",
    "QueryError",
    "TraceQuery",
    "TraceStore",
    "parse_query",
    "spans_from_request",
]
