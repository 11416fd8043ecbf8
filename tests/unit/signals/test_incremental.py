"""Continuing from a cached prefix state gives exactly the from-scratch report."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.signals import analyse
from plano.signals.analyse import clear_state_cache
from plano.signals.observations import scan
from plano.signals.report import SignalReport
from plano.signals.taxonomy import LEAF_TYPES
from plano.signals.utterance import assistant_features, user_features
from tests.compiled_marks import patches
from tests.unit.signals.conv import a, call, obs, u

analyse_module = importlib.import_module(
    "plano.signals.analyse"
)  # the package exports the function
DATA = Path(__file__).parents[2] / "data" / "signals"


def cold(messages: list[dict[str, Any]], shape: Any = "openai") -> SignalReport:
    clear_state_cache()
    user_features.cache_clear()
    assistant_features.cache_clear()
    scan.cache_clear()
    report = analyse(messages, shape=shape)
    clear_state_cache()
    return report


def test_every_prefix_of_the_corpus_matches_a_cold_analysis() -> None:
    lines = (DATA / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    for line in lines[::3]:
        record = json.loads(line)
        messages, shape = record["messages"], record["shape"]
        warm = []
        clear_state_cache()
        for n in range(1, len(messages) + 1):
            warm.append(analyse(messages[:n], shape=shape))  # each continues the previous
        for n, report in enumerate(warm, start=1):
            assert report == cold(messages[:n], shape), (record["id"], n)


def test_a_changed_history_is_not_taken_from_the_cache() -> None:
    first = [u("Book a table for two"), a("Booked for four."), u("No, I meant two")]
    analyse(first)
    edited = [u("Book a table for two"), a("Booked for two."), u("Thanks, that worked")]
    assert analyse(edited) == cold(edited)
    assert "interaction.misalignment.correction" not in analyse(edited).types()


pieces = st.sampled_from(
    [
        u("No, I meant the other file"),
        u("please reset my home router now"),
        u("WHY IS THIS STILL BROKEN"),
        u("thanks, that worked"),
        a("Restart the router and wait two minutes please."),
        call("search", q="x"),
        call("search", q="y"),
        call("fetch"),
        obs("HTTP 429 Too Many Requests"),
        obs("ok"),
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(pieces, max_size=16))
def test_random_conversations_grow_like_cold_ones(messages: list[dict[str, Any]]) -> None:
    clear_state_cache()
    warm = [analyse(messages[:n]) for n in range(len(messages) + 1)]
    for n, report in enumerate(warm):
        assert report == cold(messages[:n])


@patches(analyse_module)
def test_a_new_turn_only_folds_the_new_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    history = [u("Find flights to Oslo"), call("search", q="OSL"), obs("2 results"), a("Two.")]
    clear_state_cache()
    analyse(history)
    steps: list[int] = []
    real_step = analyse_module._step

    def counting_step(state: Any, pos: int, row: Any) -> Any:
        steps.append(pos)
        return real_step(state, pos, row)

    monkeypatch.setattr(analyse_module, "_step", counting_step)
    analyse([*history, u("And to Bergen?")])
    assert steps == [4]
    analyse([*history, u("And to Bergen?")])  # the same request again: nothing to fold
    assert steps == [4]


def test_a_sibling_request_continues_from_the_state_before_the_last_message() -> None:
    history = [u("Book a table for two"), a("Booked for four."), u("No, I meant two"),
               a("Fixed: two people at 8.")]  # fmt: skip
    clear_state_cache()
    analyse([*history, u("Thanks, that worked")])
    keys = analyse_module._keys(history, "openai")
    assert keys is not None
    state, done, report = analyse_module._cache.longest_prefix(keys)
    # kept, without a report of its own
    assert (state.rows, done, report) == (len(history), len(history), None)
    sibling = [*history, u("Actually make it three, THIS IS WRONG!!")]
    assert analyse(sibling) == cold(sibling)
    assert analyse(history) == cold(history)  # the history alone gets its own report


texts = st.sampled_from(["hi", "No, I meant two", "x" * 3000, "é ü \u2019", ""])
json_messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": texts}),
    max_size=20,
)


@settings(max_examples=200, deadline=None)
@given(json_messages, json_messages)
def test_a_prefix_key_depends_on_that_prefix_only(
    first: list[dict[str, Any]], more: list[dict[str, Any]]
) -> None:
    """The key of k messages is the same whatever follows them (keys are cut out of the whole
    request's JSON, around anchors every LOOK_BACK messages), and names those k messages."""
    whole = analyse_module._keys([*first, *more], "openai")
    alone = analyse_module._keys(first, "openai")
    assert whole is not None and alone is not None
    for k in range(1, len(first) + 1):
        assert whole.of(k) == alone.of(k)
    for k in range(len(first) + 1, len(first) + len(more) + 1):
        other = analyse_module._keys([*first, *more][:k], "openai")
        assert other is not None and whole.of(k) == other.of(k)
        if first:
            assert whole.of(k) != alone.of(len(first))  # more messages: another key
    sharegpt = analyse_module._keys(first, "sharegpt")
    if first and sharegpt is not None:
        assert alone.of(len(first)) != sharegpt.of(len(first))


def test_signals_stay_in_report_order_without_a_final_sort() -> None:
    """The fold keeps signals sorted by message index then taxonomy order as they are found
    (the report no longer sorts them all), on every prefix of both corpora."""
    order = {leaf: n for n, leaf in enumerate(LEAF_TYPES)}
    for name in ("corpus.jsonl", "corpus_holdout.jsonl"):
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            messages, shape = record["messages"], record["shape"]
            clear_state_cache()
            for n in range(1, len(messages) + 1):
                found = analyse(messages[:n], shape=shape).signals
                ranked = sorted(found, key=lambda s: (s.message_index, order[s.type]))
                assert list(found) == ranked, (record["id"], n)


def test_one_message_with_an_escalation_and_profanity_is_in_report_order() -> None:
    """The disengagement analyser finds escalation before the profanity stance; the report
    lists the stance first (taxonomy order), as a full sort did."""
    clear_state_cache()
    found = analyse([u("I want to talk to a human, this is bullshit")]).signals
    kinds = [s.type for s in found]
    assert kinds == sorted(kinds, key=LEAF_TYPES.index)
    assert "interaction.disengagement.escalation" in kinds
    assert "interaction.disengagement.negative_stance" in kinds
