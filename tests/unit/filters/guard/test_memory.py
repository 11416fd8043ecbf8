"""The head's memory term (`plano.filters.guard.memory`): sign codes of the training rows, the
nearest row of each class, and the head file's `memory` entry (written by the trainer, decoded at
load with its shapes checked)."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.embedding.model import DIMENSIONS, EmbedderUnavailable
from plano.filters.guard.head import head_of
from plano.filters.guard.memory import memory_doc, memory_of, sign_codes


def unit_rows(n: int, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    x = np.random.default_rng(seed).normal(size=(n, DIMENSIONS)).astype(np.float32)
    out: np.ndarray[Any, np.dtype[np.float32]] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def test_a_training_row_is_nearest_to_its_own_class() -> None:
    x = unit_rows(300, 0)
    y = np.arange(300) % 2
    mem = memory_of(memory_doc(x, y, (1.0, -1.0), 0.0), DIMENSIONS)
    sims = mem.similarities(x)
    own = np.where(y == 1, sims[:, 0], sims[:, 1])
    other_class = np.where(y == 1, sims[:, 1], sims[:, 0])
    assert (own == 1.0).all() and (other_class < 1.0).all()  # the row itself is in the memory
    centre = np.asarray(memory_doc(x, y, (1.0, -1.0), 0.0)["centre"], dtype=np.float32)
    codes = np.unpackbits(np.frombuffer(sign_codes(x, centre), np.uint8)).reshape(300, -1)
    ham = (codes[:, None, :] != codes[None, :, :]).sum(2)
    other = np.where(y[None, :] != y[:, None], ham, DIMENSIONS).min(1)  # to the other class
    assert np.allclose(other_class, 1 - 2 * other / DIMENSIONS)
    assert np.allclose(mem.logits(x), sims[:, 0] - sims[:, 1])


def test_the_memory_adds_its_weighted_similarity_to_the_logit() -> None:
    x = unit_rows(40, 1)
    y = np.arange(40) % 2
    flat = {"weights": [0.0] * DIMENSIONS, "bias": 0.0, "threshold": 0.5}
    head = head_of({**flat, "memory": memory_doc(x, y, (4.0, -3.0), -1.0)})
    assert head.memory is not None
    sims = head.memory.similarities(x[:4])
    expected = 1 / (1 + np.exp(-(-1.0 + 4.0 * sims[:, 0] - 3.0 * sims[:, 1])))
    assert np.allclose(head.scores(x[:4]), expected)
    assert head_of(flat).scores(x[:1]) == [0.5]  # no memory: no term


def test_a_bad_memory_entry_is_refused() -> None:
    x = unit_rows(10, 2)
    good = memory_doc(x, np.arange(10) % 2, (1.0, -1.0), 0.0)
    flat = {"weights": [0.0] * DIMENSIONS, "bias": 0.0, "threshold": 0.5}
    bad = [
        {**good, "centre": good["centre"][:-1]},
        {**good, "attacks": base64.b64encode(b"abc").decode()},
        {**good, "benign": ""},
        {**good, "attacks": "not base64!"},
        {k: v for k, v in good.items() if k != "weights"},
        {**good, "weights": [1.0]},
        {**good, "weights": [1.0, float("inf")]},
    ]
    for entry in bad:
        with pytest.raises(EmbedderUnavailable, match="head"):
            head_of({**flat, "memory": entry})


@settings(max_examples=200, deadline=None)
@given(
    attacks=st.one_of(st.binary(max_size=200), st.binary(min_size=48, max_size=48), st.text()),
    benign=st.one_of(st.binary(max_size=200), st.binary(min_size=96, max_size=96), st.text()),
    centre=st.one_of(
        st.lists(st.floats(-1, 1, width=32), max_size=400), st.just([0.0] * DIMENSIONS)
    ),
    weight=st.one_of(
        st.lists(st.floats(-100, 100), min_size=2, max_size=2),
        st.lists(st.sampled_from(["x", "", "2", "inf", "nan"]), max_size=3),
        st.floats(-100, 100),
    ),
)
def test_any_memory_entry_loads_or_is_refused(
    attacks: bytes | str, benign: bytes | str, centre: list[float], weight: Any
) -> None:
    entry = {
        "centre": centre,
        "attacks": base64.b64encode(attacks).decode() if isinstance(attacks, bytes) else attacks,
        "benign": base64.b64encode(benign).decode() if isinstance(benign, bytes) else benign,
        "weights": weight,
        "bias": 0.0,
    }
    flat = {"weights": [0.0] * DIMENSIONS, "bias": 0.0, "threshold": 0.5}
    try:
        head = head_of({**flat, "memory": entry})
    except EmbedderUnavailable:
        return
    scores = head.scores(unit_rows(2, 3))
    assert len(scores) == 2
