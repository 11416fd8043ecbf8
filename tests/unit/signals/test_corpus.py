"""The analysers reproduce the labelled corpus exactly; the held-out corpus is measured."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from plano.signals import analyse

DATA = Path(__file__).parents[2] / "data" / "signals"


def _load(name: str) -> list[dict[str, Any]]:
    lines = (DATA / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


CORPUS = _load("corpus.jsonl")


def test_corpus_is_large_and_covers_every_leaf() -> None:
    from plano.signals import LEAF_TYPES

    assert len(CORPUS) >= 200
    present = {leaf: 0 for leaf in LEAF_TYPES}
    for record in CORPUS:
        for leaf in record["expected"]:
            present[leaf] += 1
    assert all(n >= 2 for n in present.values()), present
    assert all(n <= len(CORPUS) - 100 for n in present.values())  # absent in many too


@pytest.mark.parametrize("record", CORPUS, ids=[r["id"] for r in CORPUS])
def test_expected_leaf_set_and_quality(record: dict[str, Any]) -> None:
    report = analyse(record["messages"], shape=record["shape"])
    assert sorted(report.types()) == record["expected"]
    assert report.quality == record["quality"]


def test_corpus_jsonl_is_built_from_the_source() -> None:
    spec = importlib.util.spec_from_file_location("build_corpus", DATA / "build_corpus.py")
    assert spec is not None and spec.loader is not None
    build_corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_corpus)
    records = build_corpus.parse((DATA / "corpus.txt").read_text(encoding="utf-8"))
    assert records == CORPUS
    holdout = build_corpus.parse((DATA / "holdout.txt").read_text(encoding="utf-8"))
    assert holdout == _load("corpus_holdout.jsonl")


def test_holdout_precision_stays_above_floor() -> None:
    """Measured, not tuned: docs/signals.md reports the numbers; this guards a collapse."""
    tp = fp = 0
    holdout = _load("corpus_holdout.jsonl")
    assert len(holdout) >= 40
    for record in holdout:
        got, want = (
            analyse(record["messages"], shape=record["shape"]).types(),
            set(record["expected"]),
        )
        tp += len(got & want)
        fp += len(got - want)
    assert tp / (tp + fp) >= 0.75
