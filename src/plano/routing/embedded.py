"""The embedded router: route by sentence-embedding similarity, on CPU, with no network.

Each route is represented by the mean of the embeddings of its name and its description (the
variant that scored best in our offline measurements). A request's latest user text is embedded
and compared by cosine; below `no_match_threshold` nothing matches and the default (requested)
model serves. The model is loaded lazily, once per worker process, and shared by every router of
the process; route vectors are computed once per preference set and cached. Inference (~5–8 ms)
runs in a worker thread so the event loop keeps serving other requests meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from plano.embedding.model import MiniLM
from plano.embedding.shared import PROCESS_MODEL, SharedModel
from plano.routing.conversation import Conversation
from plano.routing.decision import RouteChoice, RouterFailed
from plano.routing.preferences import PreferenceSet

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

log = logging.getLogger("plano.routing")

DEFAULT_THRESHOLD: Final = 0.175
_ROUTE_CACHE_LIMIT: Final = 256  # distinct inline preference sets kept


class EmbeddedRouter:
    kind: Final = "embedded"

    def __init__(
        self, *, threshold: float = DEFAULT_THRESHOLD, model: SharedModel | None = None
    ) -> None:
        self._threshold = threshold
        self._model = model or PROCESS_MODEL
        self._routes: dict[str, npt.NDArray[np.float32]] = {}

    async def select(
        self,
        prefs: PreferenceSet,
        conversation: Conversation,
        headers: Sequence[tuple[str, str]] = (),
    ) -> RouteChoice:
        text = conversation.last_user_text
        if not text.strip() or not prefs:
            return RouteChoice(None, "embedded:no_text")
        try:
            return await asyncio.to_thread(self.select_sync, prefs, text)
        except RouterFailed:
            raise
        except Exception as exc:  # onnxruntime / tokenizer errors
            raise RouterFailed(f"embedded router failed: {type(exc).__name__}") from None

    async def warm_up(self) -> None:
        """Load the model in a worker thread (startup), so the first request does not pay it."""
        try:
            await asyncio.to_thread(self._model.get)
        except Exception as exc:  # reported again, as a routing failure, when a request needs it
            log.warning("embedded router: model not loaded: %s", exc)

    def select_sync(self, prefs: PreferenceSet, text: str) -> RouteChoice:
        """Best route for `text` (blocking; the CPU work)."""
        model = self._model.get()
        routes = self._route_vectors(model, prefs)
        query = model.embed([text])[0]
        scores = routes @ query
        best = int(scores.argmax())
        score = float(scores[best])
        if score < self._threshold:
            return RouteChoice(None, "embedded:below_threshold", score)
        return RouteChoice(prefs.routes[best].name, "embedded", score)

    def _route_vectors(self, model: MiniLM, prefs: PreferenceSet) -> npt.NDArray[np.float32]:
        cached = self._routes.get(prefs.routes_text)
        if cached is not None:
            return cached
        import numpy as np

        names = model.embed([r.name.replace("_", " ").replace("-", " ") for r in prefs.routes])
        descs = model.embed([r.description for r in prefs.routes])
        both = (names + descs) / 2
        mean: npt.NDArray[np.float32] = (
            both / np.maximum(np.linalg.norm(both, axis=1, keepdims=True), 1e-12)
        ).astype(np.float32)
        if len(self._routes) >= _ROUTE_CACHE_LIMIT:
            self._routes.clear()
        self._routes[prefs.routes_text] = mean
        return mean
