"""The embedder itself: the vectors stay those the guard head was trained and the router measured
on, and a batch of texts is one ORT run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from plano.embedding.model import DIMENSIONS, MiniLM, length_groups
from plano.embedding.shared import PROCESS_MODEL

REFERENCE = Path(__file__).parents[2] / "data" / "embedding" / "reference.json"


@pytest.fixture(scope="module")
def model() -> MiniLM:
    return PROCESS_MODEL.get()


def reference() -> tuple[list[str], np.ndarray]:
    doc = json.loads(REFERENCE.read_text("utf-8"))
    rows = [np.frombuffer(base64.b64decode(v), dtype="<f4") for v in doc["vectors"]]
    return doc["texts"], np.stack(rows)


def test_embeddings_match_the_reference_one_by_one_and_in_a_batch(model: MiniLM) -> None:
    """The vectors computed before the latency work (short, long past 128 tokens, code,
    non-Latin, emoji): cosine >= 0.9999 each, whether embedded alone or in one padded batch."""
    texts, expected = reference()
    assert expected.shape == (len(texts), DIMENSIONS)
    single = np.stack([model.embed([t])[0] for t in texts])
    batch = model.embed(texts)
    for got in (single, batch):
        assert got.dtype == np.float32 and got.shape == expected.shape
        assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        cosines = np.sum(got * expected, axis=1) / np.linalg.norm(expected, axis=1)
        assert float(cosines.min()) >= 0.9999, [
            t for t, c in zip(texts, cosines, strict=True) if c < 0.9999
        ]


def test_a_different_text_is_not_the_reference(model: MiniLM) -> None:
    """The check above can fail: a neighbouring text is far below 0.9999."""
    texts, expected = reference()
    other = model.embed([texts[0] + " in Go"])[0]
    assert float(np.dot(other, expected[0])) < 0.99


def test_similar_lengths_share_one_ort_run_a_long_text_gets_its_own(model: MiniLM) -> None:
    before = model.runs
    model.embed(["one text"])
    assert model.runs == before + 1
    model.embed(["a", "batch of", "four short texts", "of similar lengths"])
    assert model.runs == before + 2
    short, long_ = "What is the weather in Paris?", "The report shows growth. " * 40
    rows = model.embed([short, long_, short + "?"])
    assert model.runs == before + 4  # the two short ones together, the long one alone
    assert np.allclose(rows[1], model.embed([long_])[0], atol=1e-5)  # rows keep their order
    assert float(np.dot(rows[0], rows[2])) > 0.95


@pytest.mark.parametrize(
    ("lengths", "groups"),
    [
        ([14, 128], [[0], [1]]),
        ([14, 16, 20], [[0, 1, 2]]),
        ([128, 120, 14, 12], [[3, 2], [1, 0]]),
        ([7], [[0]]),
        ([], []),
    ],
)
def test_length_groups(lengths: list[int], groups: list[list[int]]) -> None:
    assert length_groups(lengths) == groups
