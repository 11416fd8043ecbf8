"""One request's embeddings, so each text is embedded once whoever needs it.

The guard (input filters), the embedded router and the embedded agent selector all embed the
latest user text of the same request. The pipeline creates one `EmbeddingMemo` per request
(`Call.embeddings`) and hands it to each of them; the first to need a text computes it (in a
worker thread, it is CPU work, admitted by the process's `gate.EmbeddingGate`), the others reuse
the vector. Nothing outlives the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from plano.embedding.gate import PROCESS_GATE, EmbeddingGate
from plano.embedding.shared import PROCESS_MODEL, SharedModel

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


class EmbeddingMemo:
    __slots__ = ("_gate", "_model", "_vectors")

    def __init__(
        self, model: SharedModel = PROCESS_MODEL, gate: EmbeddingGate = PROCESS_GATE
    ) -> None:
        self._model = model
        self._gate = gate
        self._vectors: dict[str, npt.NDArray[np.float32]] = {}

    def get(self, text: str) -> npt.NDArray[np.float32] | None:
        """The vector of `text` if some user of this request already computed it."""
        return self._vectors.get(text)

    async def embed(self, texts: Sequence[str]) -> list[npt.NDArray[np.float32]]:
        """`embed_sync` in a worker thread, through the process's embedding gate: raises
        `EmbeddingOverloaded` at once when the worker has too many embedding jobs (nothing is
        queued); texts already embedded in this request cost nothing and never wait."""
        if all(t in self._vectors for t in texts):
            return [self._vectors[t] for t in texts]
        return await self._gate.run(self.embed_sync, texts)

    def embed_sync(self, texts: Sequence[str]) -> list[npt.NDArray[np.float32]]:
        """One unit vector per text (blocking: call it from a worker thread), computing only the
        texts not seen yet in this request, in one batch."""
        missing = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if missing:
            rows = self._model.get().embed(missing)
            for text, row in zip(missing, rows, strict=True):
                self._vectors[text] = row
        return [self._vectors[t] for t in texts]
