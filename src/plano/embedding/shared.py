"""The worker's one embedder: loaded lazily, at most once, whoever asks first (guard, router,
agent selection); every user of the process shares it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Final

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
