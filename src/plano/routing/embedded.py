"""The embedded router: route by sentence-embedding similarity, on CPU, with no network.

Each route is a set of vectors (`route_vectors`: its name, description and its clauses, the
user's `examples:`, and the example requests of the built-in topic bank it claims); a request
scores each route by its nearest vector and `no_route.decide` picks the route or none. The model
is loaded lazily, once per worker process, and shared (guard, router, agent selection); the
vectors of a preference set are computed once (at startup for configured preferences) and cached.
A request's text is embedded once per request through its `EmbeddingMemo` when one is given: if
the guard already embedded it, routing costs a matrix-vector product on the event loop;
otherwise the inference runs in a worker thread so the loop keeps serving, admitted by the
process's embedding gate: when the gate is full the request is not queued, it gets no route
(`OVERLOADED`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from plano.config.extras import install_hint
from plano.embedding.gate import PROCESS_GATE, EmbeddingGate, EmbeddingOverloaded
from plano.embedding.memo import EmbeddingMemo
from plano.embedding.model import MiniLM
from plano.embedding.shared import PROCESS_MODEL, SharedModel
from plano.routing.conversation import Conversation
from plano.routing.decision import RouteChoice, RouterFailed
from plano.routing.no_route import DEFAULT_THRESHOLD, RouterSettings, decide
from plano.routing.preferences import PreferenceSet
from plano.routing.route_vectors import RouteIndex, build_index
from plano.routing.topic_bank import PROCESS_BANK, TopicBank

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["DEFAULT_THRESHOLD", "EmbeddedRouter", "RouterSettings"]

log = logging.getLogger("plano.routing")

_ROUTE_CACHE_LIMIT: Final = 256  # distinct inline preference sets kept
# The choice when the process's embedding gate is full (`embedding/gate.py`): no route, so the
# routing step serves the requested model (counted as `router_error`) and agent selection the
# default agent.
OVERLOADED: Final = "embedded:overloaded"


class EmbeddedRouter:
    kind: Final = "embedded"

    def __init__(
        self,
        settings: RouterSettings | None = None,
        *,
        model: SharedModel | None = None,
        bank: TopicBank | None = None,
        gate: EmbeddingGate | None = None,
    ) -> None:
        self.settings = settings or RouterSettings()
        self._model = model or PROCESS_MODEL
        self._gate = gate or PROCESS_GATE
        self._bank = bank or PROCESS_BANK
        self._indexes: dict[str, RouteIndex] = {}
        # Held while a preference set's vectors are computed: a request arriving during the
        # startup warm-up waits for them instead of computing them a second time.
        self._index_lock = threading.Lock()

    async def select(
        self,
        prefs: PreferenceSet,
        conversation: Conversation,
        headers: Sequence[tuple[str, str]] = (),
        memo: EmbeddingMemo | None = None,
    ) -> RouteChoice:
        text = conversation.last_user_text
        if not text.strip() or not prefs:
            return RouteChoice(None, "embedded:no_text")
        index = self._indexes.get(prefs.key)
        vector = memo.get(text) if memo is not None else None
        try:
            if index is not None and vector is not None:  # nothing to compute: stay on the loop
                return decide(prefs, index, vector, self.settings)
            return await self._gate.run(self.select_sync, prefs, text, memo)
        except EmbeddingOverloaded:  # the worker's embedding work is full: no route, no queue
            return RouteChoice(None, OVERLOADED)
        except RouterFailed:
            raise
        except ImportError as exc:  # a core install: the embedder's packages are an extra
            raise RouterFailed(
                f"the embedded router {install_hint('router')} ({exc.name})"
            ) from None
        except Exception as exc:  # onnxruntime / tokenizer errors
            raise RouterFailed(f"embedded router failed: {type(exc).__name__}") from None

    async def warm_up(self, prefs: PreferenceSet | None = None) -> None:
        """Load the model and compute the vectors of `prefs` in a worker thread (startup), so the
        first request pays neither."""
        try:
            await asyncio.to_thread(self._warm_sync, prefs)
        except Exception as exc:  # reported again, as a routing failure, when a request needs it
            log.warning("embedded router: model not loaded: %s", exc)

    def _warm_sync(self, prefs: PreferenceSet | None) -> None:
        model = self._model.get()
        model.embed(["warm up the inference session"])
        if prefs:
            self.index(model, prefs)

    def select_sync(
        self, prefs: PreferenceSet, text: str, memo: EmbeddingMemo | None = None
    ) -> RouteChoice:
        """Best route for `text` (blocking; the CPU work)."""
        model = self._model.get()
        index = self.index(model, prefs)
        query = self._embed(model, text, memo)
        return decide(prefs, index, query, self.settings)

    def _embed(
        self, model: MiniLM, text: str, memo: EmbeddingMemo | None
    ) -> npt.NDArray[np.float32]:
        if memo is not None:
            return memo.embed_sync([text])[0]
        row: npt.NDArray[np.float32] = model.embed([text])[0]
        return row

    def index(self, model: MiniLM, prefs: PreferenceSet) -> RouteIndex:
        """The vectors of `prefs`, computed on first use (blocking)."""
        cached = self._indexes.get(prefs.key)
        if cached is not None:
            return cached
        with self._index_lock:
            cached = self._indexes.get(prefs.key)
            if cached is not None:  # computed while this thread waited
                return cached
            bank = self._bank.vectors(model) if self.settings.use_bank else None
            index = build_index(model, prefs, self.settings.index, bank)
            if len(self._indexes) >= _ROUTE_CACHE_LIMIT:
                self._indexes.clear()
            self._indexes[prefs.key] = index
        return index
