"""`plano trace listen --foreground`: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

from plano.tracecollector.server import Collector
from plano.tracecollector.store import MAX_SPANS_PER_TRACE, TraceStore


def serve(
    host: str,
    grpc_port: int,
    http_port: int,
    capacity: int,
    announce: Callable[[Collector], None],
    stop: threading.Event | None = None,
) -> None:
    """Start the receiver, call `announce` once both ports listen, return after SIGINT/SIGTERM
    (or once `stop` is set). Raises OSError when a port cannot be bound."""
    stop = stop or threading.Event()
    collector = Collector(host, grpc_port, http_port, TraceStore(capacity, MAX_SPANS_PER_TRACE))
    collector.start()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        announce(collector)
        stop.wait()
    finally:
        collector.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
