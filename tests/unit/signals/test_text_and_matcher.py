"""Normalisation and the three-layer phrase matcher, at their thresholds."""

from __future__ import annotations

import pytest

from plano.signals.lexicon import lexicon
from plano.signals.matcher import COSINE_THRESHOLD, JACCARD_THRESHOLD, PhraseList
from plano.signals.text import (
    MAX_CHARS,
    Text,
    fold,
    jaccard,
    strip_code,
    tokens_of,
    trigrams,
    truncate,
)


def test_truncate_keeps_head_fifth_and_tail() -> None:
    exact = "x" * MAX_CHARS
    assert truncate(exact) == exact
    text = "H" * 1000 + "m" * 1000 + "T" * 1001
    out = truncate(text)
    assert len(out) == MAX_CHARS
    assert out.startswith("H" * 400 + " ")
    assert out.endswith("T" * 1001) and out[401:].count("m") == 598


def test_fold_and_tokens() -> None:
    assert fold("Don\u2019t  \u201cstop\u201d \u2014 now\u2026\n ok") == 'Don\'t "stop" - now... ok'
    assert tokens_of("Don't stop, NO—I meant it!") == ("dont", "stop", "no", "i", "meant", "it")
    assert Text.of("No,  I MEANT").joined == "no i meant"


def test_strip_code_removes_code_logs_and_quotes() -> None:
    text = 'why?\n```py\nraise Error("x")\n```\n2026-01-01 ERROR down\nsee `err` and "I give up"'
    prose = strip_code(text)
    assert "raise" not in prose and "ERROR" not in prose and "err" not in prose
    assert "give up" not in prose and "why?" in prose


def test_jaccard() -> None:
    assert jaccard(trigrams("abcd"), trigrams("abcd")) == 1.0
    assert jaccard(frozenset(), trigrams("abc")) == 0.0
    assert jaccard(trigrams("abcd"), trigrams("abce")) == pytest.approx(1 / 3)


def test_exact_layer_needs_the_token_sequence() -> None:
    phrases = PhraseList(["no i meant", "let me rephrase"])
    hit = phrases.match(Text.of("No, I meant the other one"))
    assert hit is not None and hit.method == "exact" and hit.phrase == "no i meant"
    assert phrases.match(Text.of("I meant no harm")) is None


def test_earliest_phrase_wins() -> None:
    phrases = PhraseList(["thank you", "thanks"])
    hit = phrases.match(Text.of("thanks, and thank you"))
    assert hit is not None and hit.phrase == "thank you"


def test_trigram_layer_at_threshold() -> None:
    phrases = PhraseList(["talk to a human"])
    # "talk to a humen": one letter off; Jaccard of trigram sets is above 0.65
    near = Text.of("talk to a humen")
    assert jaccard(near.trigrams(), Text.of("talk to a human").trigrams()) >= JACCARD_THRESHOLD
    hit = phrases.match(near)
    assert hit is not None and hit.method in ("trigram", "cosine")
    far = Text.of("walk to a museum")
    assert jaccard(far.trigrams(), Text.of("talk to a human").trigrams()) < JACCARD_THRESHOLD
    assert phrases.match(far) is None


def test_cosine_layer_threshold_and_guards() -> None:
    stop = frozenset({"i", "a", "to", "the", "really"})
    phrases = PhraseList(["i dont understand"], stopwords=stop)
    # cosine 3 / (sqrt(4) * sqrt(3)) = 0.866 and all content words present
    hit = phrases.match(Text.of("I really don't understand"))
    assert hit is not None and hit.method == "cosine"
    assert hit.score >= COSINE_THRESHOLD
    # content guard: two extra content words → no match even though cosine is 0.71
    assert phrases.match(Text.of("i dont really understand quantum gravity")) is None
    # order guard: the phrase's words in another order (cosine 0.87, trigram 0.55)
    assert "correction" not in lexicon().book.match_all(Text.of("I meant no harm"))
    # exactly at the cosine threshold boundary: 2/(sqrt(2)*sqrt(3)) = 0.816 but "dont" missing
    assert phrases.match(Text.of("i understand")) is None


def test_negation_must_agree_for_fuzzy_hits() -> None:
    phrases = PhraseList(["thats not right"])
    assert phrases.match(Text.of("that's right")) is None
    assert phrases.match(Text.of("that's not right!")) is not None


def test_guard_words_block_exact_hits() -> None:
    phrases = PhraseList(["it works"])
    assert phrases.match(Text.of("explain how it works"), guard=frozenset({"how"})) is None
    assert phrases.match(Text.of("yes it works"), guard=frozenset({"how"})) is not None
