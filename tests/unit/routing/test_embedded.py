"""The embedded router with the real MiniLM model (offline): accuracy on the labelled route sets
(tests/data/routing, >= 300 prompts over >= 8 route sets), the issue-17 prompts, the memo,
`examples:` and `other_anchors`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from plano.embedding.memo import EmbeddingMemo
from plano.embedding.model import EmbedderUnavailable, MiniLM, model_file, verified_bytes
from plano.embedding.shared import SharedModel
from plano.routing.conversation import Conversation, Turn
from plano.routing.embedded import EmbeddedRouter, RouterSettings
from plano.routing.preferences import Preference, PreferenceSet

DATA = Path(__file__).parents[2] / "data" / "routing"
# The bar of issue 17: accuracy >= 0.90 over the labelled set (dev + held-out), with the route
# descriptions as a user would write them. Measured 2026-12-04: dev 195/213, held-out 92/101.
ACCURACY_BAR = 0.90
NO_ROUTE_RECALL_FLOOR = 0.85  # off-topic prompts sent to the default model (measured 0.94)


def labelled_sets() -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = []
    for part in ("dev", "heldout"):
        sets.extend(json.loads((DATA / f"{part}.json").read_text())["sets"])
    return sets


def prefs_of(routes: list[dict[str, Any]]) -> PreferenceSet:
    return PreferenceSet.of(
        [
            Preference(
                r["name"],
                r["description"],
                (f"m/{r['name']}",),
                "none",
                tuple(r.get("examples", ())),
            )
            for r in routes
        ]
    )


@pytest.fixture(scope="module")
def router() -> EmbeddedRouter:
    return EmbeddedRouter()


@pytest.fixture(scope="module")
def complaint() -> PreferenceSet:
    return prefs_of(
        [
            {"name": "code_generation", "description": "code generation"},
            {"name": "summarization", "description": "summarization"},
            {"name": "translation", "description": "translation"},
        ]
    )


def test_accuracy_on_labelled_set(router: EmbeddedRouter) -> None:
    sets = labelled_sets()
    results = [
        (router.select_sync(prefs_of(s["routes"]), text).route, label)
        for s in sets
        for text, label in s["prompts"]
    ]
    assert len(sets) >= 8 and len(results) >= 300
    accuracy = sum(got == want for got, want in results) / len(results)
    off_topic = [got for got, want in results if want is None]
    recall = sum(got is None for got in off_topic) / len(off_topic)
    assert accuracy >= ACCURACY_BAR, accuracy
    assert recall >= NO_ROUTE_RECALL_FLOOR, recall


@pytest.mark.parametrize(
    "text",
    [
        "Write a Python function that checks whether a string is a palindrome",
        "Implement quicksort in Rust",
        "My Flask app throws TypeError: 'NoneType' object is not subscriptable",
    ],
)
def test_the_complaint_prompts_route_to_code(
    router: EmbeddedRouter, complaint: PreferenceSet, text: str
) -> None:
    assert router.select_sync(complaint, text).route == "code_generation"


def test_off_topic_goes_to_the_default(router: EmbeddedRouter, complaint: PreferenceSet) -> None:
    choice = router.select_sync(complaint, "what's a good name for a cat?")
    assert choice.route is None, choice


def test_select_runs_off_the_loop_and_uses_last_user_text(complaint: PreferenceSet) -> None:
    conv = Conversation(
        (
            Turn("user", "translate 'good morning' into Spanish"),
            Turn("assistant", "Buenos días"),
            Turn("user", "now write a Java class that implements a linked list"),
        ),
        "",
        "",
    )
    choice = asyncio.run(EmbeddedRouter().select(complaint, conv))
    assert choice.route == "code_generation"
    assert choice.score is not None and choice.score > RouterSettings().threshold


def test_no_user_text_is_no_route(complaint: PreferenceSet) -> None:
    conv = Conversation((Turn("assistant", "hello"),), "", "")
    assert asyncio.run(EmbeddedRouter().select(complaint, conv)).route is None


def test_high_threshold_means_no_match(complaint: PreferenceSet) -> None:
    choice = EmbeddedRouter(RouterSettings(threshold=0.99)).select_sync(
        complaint, "write python code"
    )
    assert choice.route is None and choice.reason == "embedded:below_threshold"


class CountingMiniLM(MiniLM):
    """The real model, counting the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Any:
        self.texts.extend(texts)
        return super().embed(texts)


def test_request_text_embedded_once_with_the_memo(complaint: PreferenceSet) -> None:
    """The guard filled the request's memo: routing computes nothing more, same answer."""
    model = CountingMiniLM()
    shared = SharedModel(lambda: model)
    router = EmbeddedRouter(model=shared)
    asyncio.run(router.warm_up(complaint))  # route vectors at startup
    text = "Implement quicksort in Rust"
    memo = EmbeddingMemo(shared)
    memo.embed_sync([text])  # what the guard does first
    before = len(model.texts)
    conv = Conversation((Turn("user", text),), "", "")
    with_memo = asyncio.run(router.select(complaint, conv, memo=memo))
    assert len(model.texts) == before  # nothing embedded again
    without = router.select_sync(complaint, text)
    assert model.texts[before:] == [text]
    assert with_memo.route == without.route == "code_generation"
    assert with_memo.score == pytest.approx(without.score)


def test_route_examples_are_used(router: EmbeddedRouter) -> None:
    """A route about something the bank does not know, taught by its `examples:`."""
    plain = {"name": "tool_b", "description": "internal tool"}
    taught = {**plain, "examples": ["reconcile the Zorbex ledger for branch 12"]}
    other = {"name": "translation", "description": "translation"}
    text = "please reconcile the zorbex ledger of branch 40"
    assert router.select_sync(prefs_of([plain, other]), text).route is None
    assert router.select_sync(prefs_of([taught, other]), text).route == "tool_b"


def test_other_anchors_send_a_topic_to_the_default(complaint: PreferenceSet) -> None:
    text = "write a Python function that reverses a list"
    assert EmbeddedRouter().select_sync(complaint, text).route == "code_generation"
    settings = RouterSettings(other_anchors=("write a Python function",))
    assert EmbeddedRouter(settings).select_sync(complaint, text).route is None


def test_model_is_loaded_once() -> None:
    loads = []

    def factory() -> MiniLM:
        loads.append(1)
        return MiniLM()

    shared = SharedModel(factory)
    assert shared.get() is shared.get()
    assert loads == [1]


def test_embeddings_are_unit_length() -> None:
    vectors = MiniLM().embed(["a", "a much longer sentence about routing requests"])
    norms = (vectors**2).sum(axis=1)
    assert vectors.shape == (2, 384)
    assert all(abs(n - 1.0) < 1e-4 for n in norms)


def test_changed_model_file_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.onnx"
    fake.write_bytes(model_file().read_bytes()[:-1] + b"\x00")
    with pytest.raises(EmbedderUnavailable, match="sha256"):
        MiniLM(model=fake)


def test_changed_tokenizer_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "tokenizer.json"
    fake.write_text("{}")
    with pytest.raises(EmbedderUnavailable, match="sha256"):
        verified_bytes(fake, "0" * 64)
