"""The worker's one embedder: loaded lazily, at most once, whoever asks first (guard, router,
agent selection); every user of the process shares it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, Final

from plano.embedding.model import MiniLM


class SharedModel:
    """A lazily loaded embedder, loaded at most once even when asked from many threads."""

    def __init__(self, factory: Callable[[], MiniLM] = MiniLM) -> None:
        self._factory = factory
        self._model: MiniLM | None = None
        self._lock = threading.Lock()

    def get(self) -> MiniLM:
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._factory()
                model = self._model
        return model

    @property
    def loaded(self) -> bool:
        return self._model is not None


PROCESS_MODEL: Final = SharedModel()


STARTUP_WAIT_S: Final = 4.0
"""How long a worker's startup waits for its embedding warm-up (model load, first inference,
route vectors) before it reports ready (3.7 s for guard + router, model load included, with
the 2-core machine at load 8). The warm-up is then over before the first request (or, on a
reload, before the old generation retires); on a machine too busy for that, startup goes on
and the warm-up finishes in the background (a request arriving meanwhile waits for it rather
than repeating it). The guard's and the router's warm-ups each wait at most this, one after
the other: 8 s at worst, well inside the time a test harness or the supervisor gives a
gateway to start."""


async def settle(warmup: asyncio.Future[Any]) -> None:
    """Wait for `warmup` up to `STARTUP_WAIT_S`; it is not cancelled when that runs out."""
    await asyncio.wait({warmup}, timeout=STARTUP_WAIT_S)
