"""How routes become vectors: seeds, topic claims, the shipped bank, and the index's scores."""

from __future__ import annotations

import numpy as np
import pytest

from plano.embedding.shared import PROCESS_MODEL
from plano.routing.no_route import RouterSettings, decide
from plano.routing.preferences import Preference, PreferenceSet
from plano.routing.route_vectors import RouteIndex, build_index, claim_topics, route_seeds
from plano.routing.topic_bank import PROCESS_BANK, BankVectors, Topic, load_topics


def test_seeds_are_name_description_clauses_and_examples() -> None:
    seeds = route_seeds(
        "code_generation", "writing new code, scripts or functions", ["a Go parser"]
    )
    assert seeds == [
        "code generation",
        "writing new code, scripts or functions",
        "code generation: writing new code, scripts or functions",
        "writing new code",
        "scripts",
        "functions",
        "a Go parser",
    ]
    assert route_seeds("math", "math", []) == ["math", "math: math"]


def unit(*xs: float) -> np.ndarray:
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def bank(*topics: tuple[str | None, np.ndarray]) -> BankVectors:
    return BankVectors(
        tuple(Topic((f"t{i}",), ("e",), group) for i, (group, _) in enumerate(topics)),
        tuple(np.stack([v]) for _, v in topics),
        tuple(np.stack([v]) for _, v in topics),
    )


def test_claims_go_to_the_closest_route_then_spread_in_the_group() -> None:
    b = bank(("soft", unit(1, 0, 0)), ("soft", unit(0.6, 0.8, 0)), ("chat", unit(0, 0, 1)))
    code = np.stack([unit(1, 0.05, 0)])
    other = np.stack([unit(0, 0.3, 1)])
    # t0 is close to `code`; t1 (same group) is close to nobody: it follows t0's claimant.
    assert claim_topics(b, [code, other], 0.9) == [0, 0, 1]
    # A route closer to t1 takes it directly.
    debug = np.stack([unit(0.6, 0.8, 0.01)])
    assert claim_topics(b, [code, debug, other], 0.9) == [0, 1, 2]
    # Nobody close to anything: every topic stays "other".
    assert claim_topics(b, [np.stack([unit(-1, 0, 0)])], 0.9) == [None, None, None]


def test_index_scores_by_nearest_vector_per_route() -> None:
    vectors = np.stack([unit(1, 0), unit(0, 1), unit(1, 1), unit(-1, 0)])
    index = RouteIndex(vectors, np.array([0, 2, 3], dtype=np.intp), ((), ()))
    routes, other = index.scores(unit(1, 0.1))
    assert routes.shape == (2,) and routes[0] > routes[1]
    assert other < 0  # the "other" row points away
    prefs = PreferenceSet.of([Preference("a", "a", ("m",)), Preference("b", "b", ("m",))])
    assert decide(prefs, index, unit(1, 0.1), RouterSettings(threshold=0.5)).route == "a"
    assert decide(prefs, index, unit(-1, 0.05), RouterSettings(threshold=0.5)).route is None


def test_shipped_bank_loads_and_every_topic_has_examples() -> None:
    topics = load_topics()
    assert len(topics) >= 25
    assert all(t.labels and t.examples for t in topics)
    texts = [e for t in topics for e in t.examples]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize(
    ("description", "claimed"),
    [("code generation", "debugging"), ("customer support", "billing")],
)
def test_a_route_claims_its_topic_group(description: str, claimed: str) -> None:
    model = PROCESS_MODEL.get()
    prefs = PreferenceSet.of(
        [Preference("r", description, ("m",)), Preference("t", "translation", ("m",))]
    )
    index = build_index(model, prefs, RouterSettings().index, PROCESS_BANK.vectors(model))
    assert claimed in index.claimed[0]
    assert "translation" in index.claimed[1]


def test_config_defaults_are_the_routers() -> None:
    from plano.config.sections import PreferenceRouterConfig

    assert RouterSettings.of(PreferenceRouterConfig()) == RouterSettings()
