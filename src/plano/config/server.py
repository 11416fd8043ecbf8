"""Config model for ``server``: connection hygiene and the process lifecycle of each worker.

Not in the original's schema (Envoy's listener and overload settings did this work there); every
key is optional with a default a production gateway can run with, so an original config runs
unchanged. Limits are per worker process.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from plano.config.fieldtypes import Duration, StrictModel

# A client timeout of zero would expire every connection at once.
PositiveDuration = Annotated[Duration, Field(gt=0)]


class ServerConfig(StrictModel):
    """``server``: limits on client connections, and how long draining may take."""

    # Open client connections per worker; beyond it a new connection gets a fast 503 and is
    # closed, established ones are never reset. None: derived from the file-descriptor limit.
    max_connections: Annotated[int, Field(ge=1)] | None = None
    # A request head (request line and headers) must be complete within this, counted from the
    # connection's accept or from the first byte of a request on a kept-alive connection.
    header_timeout: PositiveDuration = 10.0
    # Longest wait for the next piece of a request body.
    body_timeout: PositiveDuration = 30.0
    # An idle kept-alive connection is closed after this.
    keepalive_timeout: PositiveDuration = 75.0
    # SIGTERM / SIGINT: in-flight requests and streams get this long, then streams still open
    # end with an error event in their client's dialect.
    drain_timeout: Duration = 8.0
    # Reload and rolling upgrade: how long the old generation's in-flight requests and streams
    # may keep running while the new generation already serves.
    reload_drain_timeout: Duration = 300.0


__all__ = ["ServerConfig"]
