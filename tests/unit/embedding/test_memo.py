"""One request's embeddings: each distinct text is embedded once, in one batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from plano.embedding.memo import EmbeddingMemo
from plano.embedding.shared import SharedModel


class CountingModel:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.batches.append(list(texts))
        return np.array([[float(len(t)), 1.0] for t in texts], dtype=np.float32)


def test_each_text_is_embedded_once_across_users() -> None:
    model = CountingModel()
    memo = EmbeddingMemo(SharedModel(lambda: model))  # type: ignore[arg-type,return-value]
    assert memo.get("hello") is None
    first = memo.embed_sync(["hello", "hi", "hello"])
    again = memo.embed_sync(["hi", "there"])
    assert model.batches == [["hello", "hi"], ["there"]]
    assert first[0] is first[2] and first[1] is again[0]
    assert memo.get("there") is not None and float(again[1][0]) == 5.0
