"""Types every listener shares: the ASGI subset we serve, a route, request ids.

The hot path stays on the raw ASGI interface (no framework): `Scope`, `Receive` and `Send` are
what `plano.http` hands each request; a listener maps `(method, path)` to a `Route`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
RawHeaders = list[tuple[bytes, bytes]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Route:
    name: str  # handler name for telemetry (llm_chat, list_models, ...)
    handler: Handler


class RequestIds:
    """Request ids: a random prefix per listener and a counter (no syscall per request)."""

    __slots__ = ("_counter", "_prefix")

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"
