"""The built-in topic bank: short labels and example requests for common topics.

The bank (`assets/topic_bank.json`, written for this project) gives the embedded router example
requests a user did not write. At config load each route claims the topics its own texts resemble
(see `route_vectors`), and the other topics of the same group when no route claims them more
directly (a route about code takes the debugging examples unless a debugging route exists); the
examples of a claimed topic become extra vectors of that route, and
the examples of unclaimed topics stand for "something else" in the no-route decision. The bank is
read and embedded once per worker process, whoever asks first.
"""

from __future__ import annotations

import importlib.resources
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import orjson

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from plano.embedding.model import MiniLM

BANK_FILE: Final = "topic_bank.json"


@dataclass(frozen=True, slots=True)
class Topic:
    labels: tuple[str, ...]
    examples: tuple[str, ...]
    group: str | None = None  # topics of a group go to a route that claims one of them


@dataclass(frozen=True, slots=True)
class BankVectors:
    """The bank embedded: per topic, the rows of its labels and of its examples."""

    topics: tuple[Topic, ...]
    labels: tuple[npt.NDArray[np.float32], ...]
    examples: tuple[npt.NDArray[np.float32], ...]


def load_topics(raw: bytes | None = None) -> tuple[Topic, ...]:
    """The topics of the shipped bank (or of `raw`, the same JSON shape)."""
    if raw is None:
        raw = importlib.resources.files("plano.routing").joinpath("assets", BANK_FILE).read_bytes()
    doc = orjson.loads(raw)
    return tuple(
        Topic(tuple(t["labels"]), tuple(t["examples"]), t.get("group"))
        for t in doc["topics"]
        if t["labels"] and t["examples"]
    )


class TopicBank:
    """The bank's vectors, computed at most once per model (thread-safe)."""

    def __init__(self, topics: tuple[Topic, ...] | None = None) -> None:
        self._topics = topics
        self._lock = threading.Lock()
        self._vectors: tuple[MiniLM, BankVectors] | None = None

    def vectors(self, model: MiniLM) -> BankVectors:
        done = self._vectors
        if done is not None and done[0] is model:
            return done[1]
        with self._lock:
            if self._vectors is None or self._vectors[0] is not model:
                self._vectors = (model, _embed(model, self._topics or load_topics()))
            return self._vectors[1]


def _embed(model: MiniLM, topics: tuple[Topic, ...]) -> BankVectors:
    texts = [s for t in topics for s in (*t.labels, *t.examples)]
    rows: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(texts), 32):  # short batches: little padding per batch
        rows.extend(model.embed(texts[start : start + 32]))
    labels, examples = [], []
    at = 0
    import numpy as np

    for t in topics:
        n_labels, n_examples = len(t.labels), len(t.examples)
        labels.append(np.stack(rows[at : at + n_labels]))
        examples.append(np.stack(rows[at + n_labels : at + n_labels + n_examples]))
        at += n_labels + n_examples
    return BankVectors(topics, tuple(labels), tuple(examples))


PROCESS_BANK: Final = TopicBank()
