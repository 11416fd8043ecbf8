"""The guard head's memory part: the nearest training row of each class, found on sign codes.

Every training row's embedding is kept as one bit per dimension (above or below the training
mean of that dimension: 384 bits, 48 bytes a row), attacks and benign rows apart. A text's term
is `bias + w_attack × s_attack + w_benign × s_benign`, where `s` is the similarity of the text's
code to the closest code of that class (1 − 2 × Hamming distance / bits). Near-copies of a
training attack (templates reworded a little) land closer to an attack than to any benign row.

The codes are stored word-major (`(words, rows)` of uint64), so a query's distances to all rows
are a few vector operations (xor, popcount, adds) over contiguous arrays.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


def sign_codes(vectors: npt.NDArray[np.float32], centre: npt.NDArray[np.float32]) -> bytes:
    """The packed sign codes of the rows of `vectors` (bit set: at or above `centre`), row after
    row, `dims / 8` bytes each."""
    import numpy as np

    return bytes(np.packbits(vectors >= centre, axis=1).tobytes())


def _word_major(packed: bytes, dims: int) -> npt.NDArray[np.uint64]:
    import numpy as np

    rows = np.frombuffer(packed, dtype=np.uint8).reshape(-1, dims // 8)
    return np.ascontiguousarray(rows.view(np.uint64).T)


@dataclass(frozen=True, slots=True)
class Memory:
    centre: npt.NDArray[np.float32]  # (dims,): the training mean, each bit's cut
    attacks: npt.NDArray[np.uint64]  # (dims / 64, attack rows)
    benign: npt.NDArray[np.uint64]  # (dims / 64, benign rows)
    weights: tuple[float, float]  # of the closest attack's and the closest benign row's similarity
    bias: float

    def similarities(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row of `vectors`: the similarity of the closest attack and of the closest benign
        row, (n, 2)."""
        import numpy as np

        dims = self.centre.shape[0]
        queries = _word_major(sign_codes(vectors, self.centre), dims)  # (words, n)
        out = np.empty((vectors.shape[0], 2), dtype=np.float64)
        for i in range(vectors.shape[0]):
            q = queries[:, i : i + 1]
            for j, codes in enumerate((self.attacks, self.benign)):
                out[i, j] = 1.0 - 2.0 * _closest(codes, q) / dims
        return out

    def logits(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        import numpy as np

        out: npt.NDArray[np.float64] = self.bias + self.similarities(vectors) @ np.array(
            self.weights
        )
        return out


def _closest(codes: npt.NDArray[np.uint64], query: npt.NDArray[np.uint64]) -> int:
    """The smallest Hamming distance between `query` (words, 1) and the columns of `codes`."""
    import numpy as np

    counts = np.bitwise_count(codes ^ query)
    total = counts[0].astype(np.uint16)
    for row in counts[1:]:
        total += row
    return int(total.min())


def memory_doc(
    vectors: npt.NDArray[np.float32], labels: Any, weights: tuple[float, float], bias: float
) -> dict[str, Any]:
    """The head file's `memory` entry for training rows `vectors` (unit, float32) and their
    0/1 `labels`; `weights` of the attack and the benign similarity."""
    import numpy as np

    kept = [round(float(v), 6) for v in vectors.mean(0)]
    centre = np.asarray(kept, dtype=np.float32)  # the codes use the centre the file keeps
    y = np.asarray(labels)
    return {
        "centre": kept,
        "attacks": base64.b64encode(sign_codes(vectors[y == 1], centre)).decode(),
        "benign": base64.b64encode(sign_codes(vectors[y == 0], centre)).decode(),
        "weights": [round(w, 6) for w in weights],
        "bias": round(bias, 6),
    }


def memory_of(doc: dict[str, Any], dims: int) -> Memory:
    """A memory from its head-file entry (shapes checked; ValueError when they do not fit)."""
    import numpy as np

    centre = np.asarray(doc["centre"], dtype=np.float32)
    if centre.shape != (dims,) or dims % 64:
        raise ValueError(f"memory: expected {dims} centre values")
    attacks, benign = (base64.b64decode(doc[k], validate=True) for k in ("attacks", "benign"))
    if not attacks or not benign or len(attacks) % (dims // 8) or len(benign) % (dims // 8):
        raise ValueError("memory: the codes are not whole rows")
    pair = doc["weights"]
    if not isinstance(pair, list) or len(pair) != 2:
        raise ValueError("memory: expected two weights")
    weights, bias = (float(pair[0]), float(pair[1])), float(doc["bias"])
    if not all(map(math.isfinite, (*weights, bias))) or not np.isfinite(centre).all():
        raise ValueError("memory: the weights, bias and centre must be finite numbers")
    return Memory(centre, _word_major(attacks, dims), _word_major(benign, dims), weights, bias)
