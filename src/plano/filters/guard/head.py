"""The guard's classifier head: logistic regression over a MiniLM sentence embedding.

The head (384 weights, a bias and its default threshold) is a small JSON data file rebuilt by
`bench/train_guard.py`; it is checked against the sha256 pinned here before use, like the
embedder's own files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Final

import orjson

from plano.embedding.model import DIMENSIONS, EmbedderUnavailable, verified_bytes

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

HEAD_PATH: Final = Path(__file__).parents[2] / "embedding" / "assets" / "guard_head.json"
HEAD_SHA256: Final = "63d67c37a10612265ab498ad6c291e283f6145bc5903f1d123da4a414166a9fe"


@dataclass(frozen=True, slots=True)
class Head:
    weights: npt.NDArray[np.float32]
    bias: float
    threshold: float  # the default, chosen at training for FPR ≤ 2 % on validation

    def scores(self, vectors: npt.NDArray[np.float32]) -> list[float]:
        """P(attack) of each row of unit vectors."""
        import numpy as np

        logits = vectors @ self.weights + self.bias
        return [float(p) for p in 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))]


def load_head(path: Path = HEAD_PATH, sha256: str = HEAD_SHA256) -> Head:
    """The shipped head, verified (an error naming the file when it was replaced)."""
    import numpy as np

    doc = orjson.loads(verified_bytes(path, sha256))
    weights = np.asarray(doc["weights"], dtype=np.float32)
    if weights.shape != (DIMENSIONS,):
        raise EmbedderUnavailable(f"{path.name}: expected {DIMENSIONS} weights")
    return Head(weights, float(doc["bias"]), float(doc["threshold"]))
