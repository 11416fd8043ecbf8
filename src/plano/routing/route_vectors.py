"""How the embedded router represents routes: several vectors per route, built at config load.

A route's own vectors ("seeds") are its name (underscores and dashes read as spaces), its
description, each clause of a description of several clauses, `name: description`, and each of
the `examples:` the user wrote. From the built-in topic bank (`topic_bank`), a route then claims
every topic whose labels resemble one of its seeds (cosine at least `topic_threshold`, and more
than any other route's); the claimed topics' example requests become more vectors of the route.
The examples of topics no route claims nor comes near (`topic_near`), and the user's
`other_anchors`, are the "other" vectors: requests about something else. (A topic near a route
but not claimed, e.g. "travel" for a route about flight bookings, is evidence neither way.)

A request scores each route by its best cosine with the route's vectors (nearest neighbour);
`no_route.decide` turns the scores into a route or none. Everything here runs once per route set
(at startup for configured preferences); a request costs one matrix-vector product.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from plano.routing.preferences import PreferenceSet
from plano.routing.topic_bank import BankVectors

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from plano.embedding.model import MiniLM

_CLAUSE: Final = re.compile(r"[.;:\n]+|,\s+|\s+(?:or|and)\s+|/")
_NAME_SEP: Final = re.compile(r"[_\-.]+")


@dataclass(frozen=True, slots=True)
class IndexSettings:
    topic_threshold: float  # a route claims a bank topic at this label cosine or above
    use_bank: bool
    other_anchors: tuple[str, ...]  # extra "something else" texts
    topic_near: float = 1.0  # an unclaimed topic this close to a route is not "other" either


@dataclass(frozen=True, slots=True)
class RouteIndex:
    """All vectors of one route set: the routes' (grouped by route, in route order), then the
    "other" ones. `starts[i]` is the first row of route i; rows from `starts[-1]` are "other"."""

    vectors: npt.NDArray[np.float32]
    starts: npt.NDArray[np.intp]
    claimed: tuple[tuple[str, ...], ...]  # per route, the first label of each claimed topic

    def scores(self, query: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.float32], float]:
        """Per route its best cosine with `query`, and the best cosine of the "other" rows."""
        import numpy as np

        sims = self.vectors @ query
        other_start = int(self.starts[-1])
        routes = np.maximum.reduceat(sims[:other_start], self.starts[:-1])
        other = float(sims[other_start:].max()) if other_start < len(sims) else -1.0
        return routes, other


def route_seeds(name: str, description: str, examples: Sequence[str]) -> list[str]:
    """A route's own texts, in order, without repeats."""
    spoken = _NAME_SEP.sub(" ", name).strip()
    texts = [spoken, description.strip(), f"{spoken}: {description.strip()}"]
    clauses = [c.strip() for c in _CLAUSE.split(description) if len(c.strip()) > 2]
    if len(clauses) > 1:
        texts.extend(clauses)
    texts.extend(e.strip() for e in examples)
    return [t for t in dict.fromkeys(texts) if t]


def build_index(
    model: MiniLM, prefs: PreferenceSet, settings: IndexSettings, bank: BankVectors | None
) -> RouteIndex:
    """The index of `prefs` (blocking CPU work: embeds the routes' seeds once)."""
    import numpy as np

    seeds = [route_seeds(r.name, r.description, r.examples) for r in prefs.routes]
    flat = [t for s in seeds for t in s] + list(settings.other_anchors)
    rows = model.embed(flat)
    groups: list[list[npt.NDArray[np.float32]]] = []
    at = 0
    for s in seeds:
        groups.append([rows[i] for i in range(at, at + len(s))])
        at += len(s)
    other: list[npt.NDArray[np.float32]] = [rows[i] for i in range(at, len(flat))]
    claimed: list[list[str]] = [[] for _ in seeds]
    if settings.use_bank and bank is not None:
        seed_mats = [np.stack(g) for g in groups]
        owners = claim_topics(bank, seed_mats, settings.topic_threshold)
        for topic, labels, examples, owner in zip(
            bank.topics, bank.labels, bank.examples, owners, strict=True
        ):
            if owner is None:
                near = max(float((labels @ s.T).max()) for s in seed_mats)
                if near < settings.topic_near:
                    other.extend(examples)
            else:
                groups[owner].extend(examples)
                claimed[owner].append(topic.labels[0])
    starts = np.cumsum([0, *(len(g) for g in groups)]).astype(np.intp)
    matrix = np.stack([v for g in groups for v in g] + other).astype(np.float32)
    return RouteIndex(matrix, starts, tuple(tuple(c) for c in claimed))


def claim_topics(
    bank: BankVectors, seed_mats: Sequence[npt.NDArray[np.float32]], threshold: float
) -> list[int | None]:
    """Per bank topic, the route that claims it (None: no route).

    A topic goes to the route whose seeds come closest to its labels, at `threshold` or above.
    A topic left over goes to the closest of the routes that claimed a topic of its group."""
    affinity = [[float((labels @ s.T).max()) for s in seed_mats] for labels in bank.labels]
    owners: list[int | None] = []
    for row in affinity:
        best = max(range(len(row)), key=row.__getitem__)
        owners.append(best if row[best] >= threshold else None)
    in_group: dict[str, set[int]] = {}
    for topic, owner in zip(bank.topics, owners, strict=True):
        if topic.group is not None and owner is not None:
            in_group.setdefault(topic.group, set()).add(owner)
    for i, topic in enumerate(bank.topics):
        candidates = in_group.get(topic.group or "", set())
        if owners[i] is None and candidates:
            owners[i] = max(candidates, key=affinity[i].__getitem__)
    return owners
