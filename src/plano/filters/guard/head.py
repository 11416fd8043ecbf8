"""The guard's classifier head over a MiniLM sentence embedding: logistic regression, or one
hidden ReLU layer before it (`kind: mlp`).

The head (its weights, biases and default threshold) is a small JSON data file rebuilt by
`bench/train_guard.py`; it is checked against the sha256 pinned here before use, like the
embedder's own files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from plano.embedding.model import DIMENSIONS, EmbedderUnavailable, verified_bytes

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

HEAD_PATH: Final = Path(__file__).parents[2] / "embedding" / "assets" / "guard_head.json"
HEAD_SHA256: Final = "a9dff83e14f0d2fe5fe240b32d7fee66d7f684953d2aae328db3b1e27db49e59"


@dataclass(frozen=True, slots=True)
class Head:
    weights: npt.NDArray[np.float32]  # the output layer: (hidden width,), or (384,) without one
    bias: float
    threshold: float  # the default, chosen at training for FPR ≤ 2 % on validation
    hidden: npt.NDArray[np.float32] | None = None  # (384, width): ReLU(x @ hidden + hidden_bias)
    hidden_bias: npt.NDArray[np.float32] | None = None

    def scores(self, vectors: npt.NDArray[np.float32]) -> list[float]:
        """P(attack) of each row of unit vectors."""
        import numpy as np

        x = vectors
        if self.hidden is not None and self.hidden_bias is not None:
            x = np.maximum(vectors @ self.hidden + self.hidden_bias, 0.0)
        logits = x @ self.weights + self.bias
        return [float(p) for p in 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))]


def load_head(path: Path = HEAD_PATH, sha256: str = HEAD_SHA256) -> Head:
    """The shipped head, verified (an error naming the file when it was replaced)."""
    doc = orjson.loads(verified_bytes(path, sha256))
    return head_of(doc, path.name)


def head_of(doc: dict[str, Any], name: str = "head") -> Head:
    """A head from its JSON document (shapes checked)."""
    import numpy as np

    weights = np.asarray(doc["weights"], dtype=np.float32)
    threshold, bias = float(doc["threshold"]), float(doc["bias"])
    if doc.get("kind") != "mlp":
        if weights.shape != (DIMENSIONS,):
            raise EmbedderUnavailable(f"{name}: expected {DIMENSIONS} weights")
        return Head(weights, bias, threshold)
    hidden = np.asarray(doc["hidden"], dtype=np.float32)
    hidden_bias = np.asarray(doc["hidden_bias"], dtype=np.float32)
    width = weights.shape[0] if weights.ndim == 1 else -1
    if hidden.shape != (DIMENSIONS, width) or hidden_bias.shape != (width,):
        raise EmbedderUnavailable(f"{name}: the hidden layer's shapes do not match")
    return Head(weights, bias, threshold, hidden, hidden_bias)
