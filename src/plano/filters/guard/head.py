"""The guard's classifier head over a MiniLM sentence embedding: logistic regression, or one
hidden ReLU layer before it (`kind: mlp`), optionally plus a word n-gram term (`ngrams`, see
`ngrams.py`) and a nearest-training-row term (`memory`, see `memory.py`) added to the logit.

The head (its weights, biases and default threshold) is a small JSON data file rebuilt by
`bench/train_guard.py`; it is checked against the sha256 pinned here before use, like the
embedder's own files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import orjson

from plano.embedding.model import DIMENSIONS, EmbedderUnavailable, verified_bytes
from plano.filters.guard.memory import Memory, memory_of
from plano.filters.guard.ngrams import term

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

HEAD_PATH: Final = Path(__file__).parents[2] / "embedding" / "assets" / "guard_head.json"
HEAD_SHA256: Final = "653fe1a1646f559c695c39d71607ad85d63dd6691b3e6d77688444f63af8708a"


@dataclass(frozen=True, slots=True)
class Head:
    weights: npt.NDArray[np.float32]  # the output layer: (hidden width,), or (384,) without one
    bias: float
    threshold: float  # the default, chosen at training for FPR ≤ 2 % on validation
    hidden: npt.NDArray[np.float32] | None = None  # (384, width): ReLU(x @ hidden + hidden_bias)
    hidden_bias: npt.NDArray[np.float32] | None = None
    ngrams: Mapping[str, float] = field(default_factory=dict)  # word n-gram → logit weight
    ngram_bias: float = 0.0
    memory: Memory | None = None  # the nearest attack and benign training rows

    def scores(
        self, vectors: npt.NDArray[np.float32], texts: Sequence[str] | None = None
    ) -> list[float]:
        """P(attack) of each row of unit vectors; `texts` (the embedded texts, in order) add
        the n-gram term when the head has one."""
        import numpy as np

        x = vectors
        if self.hidden is not None and self.hidden_bias is not None:
            x = np.maximum(vectors @ self.hidden + self.hidden_bias, 0.0)
        logits = (x @ self.weights + self.bias).astype(np.float64)
        if self.ngrams and texts is not None:
            logits += np.array([term(t, self.ngrams, self.ngram_bias) for t in texts])
        if self.memory is not None:
            logits += self.memory.logits(vectors)
        return [float(p) for p in 1.0 / (1.0 + np.exp(-logits))]


def load_head(path: Path = HEAD_PATH, sha256: str = HEAD_SHA256) -> Head:
    """The shipped head, verified (an error naming the file when it was replaced)."""
    doc = orjson.loads(verified_bytes(path, sha256))
    return head_of(doc, path.name)


def head_of(doc: dict[str, Any], name: str = "head") -> Head:
    """A head from its JSON document (shapes checked)."""
    import numpy as np

    weights = np.asarray(doc["weights"], dtype=np.float32)
    threshold, bias = float(doc["threshold"]), float(doc["bias"])
    table = doc.get("ngrams") or {}
    if not isinstance(table, dict) or not all(isinstance(v, float | int) for v in table.values()):
        raise EmbedderUnavailable(f"{name}: 'ngrams' must map features to numbers")
    ngrams = {str(k): float(v) for k, v in table.items()}
    ngram_bias = float(doc.get("ngram_bias", 0.0))
    memory = None
    if doc.get("memory") is not None:
        try:
            memory = memory_of(doc["memory"], DIMENSIONS)
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbedderUnavailable(f"{name}: {exc}") from exc
    if doc.get("kind") != "mlp":
        if weights.shape != (DIMENSIONS,):
            raise EmbedderUnavailable(f"{name}: expected {DIMENSIONS} weights")
        return Head(weights, bias, threshold, ngrams=ngrams, ngram_bias=ngram_bias, memory=memory)
    hidden = np.asarray(doc["hidden"], dtype=np.float32)
    hidden_bias = np.asarray(doc["hidden_bias"], dtype=np.float32)
    width = weights.shape[0] if weights.ndim == 1 else -1
    if hidden.shape != (DIMENSIONS, width) or hidden_bias.shape != (width,):
        raise EmbedderUnavailable(f"{name}: the hidden layer's shapes do not match")
    return Head(weights, bias, threshold, hidden, hidden_bias, ngrams, ngram_bias, memory)
