"""The cheap paths of the analysis agree with the plain definitions they replace: ASCII tokens
by byte table, capitals counted in C, repetition ruled out without the new text's trigram set,
prefix states keyed by the messages' JSON (and no caching for what is not plain JSON)."""

from __future__ import annotations

import importlib
import re
import string
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from plano.signals import analyse
from plano.signals.analyse import MAX_MESSAGES, clear_state_cache
from plano.signals.lexicon import lexicon
from plano.signals.stagnation import NEAR_REPEAT, _jaccard_bounded
from plano.signals.text import Text, jaccard, tokens_of
from plano.signals.utterance import CAPS_MIN_LETTERS, CAPS_MIN_RATIO, shouting
from tests.unit.signals.conv import a, call, obs, u

analyse_module = importlib.import_module("plano.signals.analyse")
_WORD = re.compile(r"[^\W_]+")
ascii_text = st.text(alphabet=st.characters(max_codepoint=127))
# few letters, so that texts share many trigrams and reach the repetition threshold
words = st.lists(st.sampled_from(["ab", "abc", "ba", "cab", "bca", "a", "b"]), max_size=30)


@given(ascii_text)
def test_ascii_tokens_are_those_of_the_unicode_pattern(text: str) -> None:
    assert tokens_of(text) == tuple(_WORD.findall(text.lower().replace("'", "")))


@given(st.text(alphabet=string.ascii_letters + " .!?'", max_size=60))
def test_shouting_is_the_same_for_ascii_and_the_generic_count(text: str) -> None:
    stop = lexicon().stopwords
    if sum(map(str.isupper, text)) < CAPS_MIN_LETTERS * CAPS_MIN_RATIO:
        assert shouting(text, stop) is None
    # the same text with one non-ASCII letter (lower case) takes the generic path
    assert shouting(text + " é", stop) == shouting(text + " e", stop)


@given(words, words)
def test_repetition_bounds_never_hide_a_near_repeat(new: list[str], earlier: list[str]) -> None:
    a_text, b_text = Text.of(" ".join(new)), Text.of(" ".join(earlier))
    full = 1.0 if a_text.joined == b_text.joined else jaccard(a_text.trigrams(), b_text.trigrams())
    bounded = _jaccard_bounded(a_text, b_text)
    assert (bounded >= NEAR_REPEAT) == (full >= NEAR_REPEAT)
    if bounded >= NEAR_REPEAT:
        assert bounded == full


def _cold(messages: list[Any]) -> Any:
    clear_state_cache()
    report = analyse(messages)
    clear_state_cache()
    return report


def test_a_conversation_past_the_row_window_grows_like_a_cold_one() -> None:
    messages: list[dict[str, Any]] = []
    clear_state_cache()
    for n in range(MAX_MESSAGES // 2 + 5):  # three rows a turn: well past the window
        messages += [u(f"step {n}: run it again please"), call("run", n=n % 2), obs("ok")]
        warm = analyse(messages)
        assert warm == _cold(messages), n
        clear_state_cache()
        analyse(messages[:-1])  # the next one continues from a cached prefix again


def test_messages_that_are_not_plain_json_are_analysed_without_the_cache() -> None:
    plain = [u("No, I meant the other file"), a("Here it is."), u("THIS IS STILL WRONG!!")]
    wrapped: list[Any] = [MappingProxyType(m) for m in plain]  # a Mapping, not a dict
    assert analyse_module._keys(wrapped, "openai") is None
    clear_state_cache()
    assert analyse(wrapped) == _cold(plain)
    assert analyse_module._cache.held()[0] == 0  # nothing was kept


def test_a_prefix_key_depends_on_the_shape_and_every_message() -> None:
    history = [u("Book a table for two"), a("Booked.")]
    keys = analyse_module._keys(history, "openai")
    other = analyse_module._keys([u("Book a table for three"), a("Booked.")], "openai")
    shaped = analyse_module._keys(history, "sharegpt")
    assert keys is not None and other is not None and shaped is not None
    assert keys.of(1) != other.of(1) and keys.of(2) != other.of(2)
    assert keys.of(2) != shaped.of(2)
    first = analyse_module._keys(history[:1], "openai")
    assert first is not None and keys.of(1) == first.of(1)
