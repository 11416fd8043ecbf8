"""The indexed phrase matcher equals a brute-force one that scores every phrase of every list.

`reference_match_all` is the matcher's rule written out without any index: per list, the
matching phrase that comes first in the list, where a phrase matches exactly (its tokens in a
row, not right after a guard word of its list), by trigram Jaccard (whole message vs phrase,
same negation, the same size bounds as the matcher's float arithmetic) or by token cosine
(every content word of the phrase, at most one more, the phrase's word order, same negation);
for one phrase, exact beats trigram beats cosine.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from plano.signals.lexicon import lexicon
from plano.signals.matcher import (
    COSINE_THRESHOLD,
    JACCARD_THRESHOLD,
    MAX_EXTRA_CONTENT,
    NEGATIONS,
    Match,
    PhraseBook,
)
from plano.signals.text import Text, jaccard

_NONE: frozenset[str] = frozenset()


def _in_order(needle: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    rest = iter(haystack)
    return all(token in rest for token in needle)


def reference_match_all(
    book: PhraseBook, text: Text, guards: Mapping[str, frozenset[str]] | None = None
) -> dict[str, Match]:
    guards = book._guards if guards is None else guards
    phrases = book._phrases
    tokens = text.tokens
    # (phrase index, layer rank) of the best per list: exact 0, trigram 1, cosine 2
    found: dict[str, tuple[int, int, Match]] = {}

    def offer(i: int, layer: int, match: Match) -> None:
        name = phrases[i].list_name
        if name not in found or (i, layer) < found[name][:2]:
            found[name] = (i, layer, match)

    for i, phrase in enumerate(phrases):
        n = len(phrase.tokens)
        for pos in range(len(tokens) - n + 1):
            if tokens[pos : pos + n] != phrase.tokens:
                continue
            if pos > 0 and tokens[pos - 1] in guards.get(phrase.list_name, _NONE):
                continue
            offer(i, 0, Match(phrase.text, 1.0, "exact", pos))
            break
    if not tokens:
        return {name: m for name, (_, _, m) in found.items()}
    negated = any(t in NEGATIONS for t in tokens)
    largest = max((len(p.grams) for p in phrases), default=0)
    grams = text.trigrams()
    content = frozenset(t for t in tokens if t not in book._stopwords)
    max_content = max((len(p.content) for p in phrases), default=0)
    for i, phrase in enumerate(phrases):
        if not guards.get(phrase.list_name, _NONE).isdisjoint(tokens):
            continue
        if phrase.negated != negated:
            continue
        if len(text.joined) - 2 <= largest / JACCARD_THRESHOLD and (
            len(grams) * JACCARD_THRESHOLD <= len(phrase.grams) <= len(grams) / JACCARD_THRESHOLD
        ):
            score = jaccard(grams, phrase.grams)
            if score >= JACCARD_THRESHOLD:
                offer(i, 1, Match(phrase.text, score, "trigram", -1))
        if (
            len(content) <= max_content + MAX_EXTRA_CONTENT
            and phrase.content <= content
            and len(content) - len(phrase.content) <= MAX_EXTRA_CONTENT
        ):
            dot = sum(text.freq.get(t, 0) * c for t, c in phrase.freq.items())
            score = dot / (text.norm * phrase.norm)
            if score >= COSINE_THRESHOLD and _in_order(phrase.tokens, tokens):
                offer(i, 2, Match(phrase.text, score, "cosine", -1))
    return {name: m for name, (_, _, m) in found.items()}


def _same(a: dict[str, Match], b: dict[str, Match]) -> bool:
    if a.keys() != b.keys():
        return False
    for name, m in a.items():
        n = b[name]
        if (m.phrase, m.method, m.start) != (n.phrase, n.method, n.start):
            return False
        if not math.isclose(m.score, n.score, rel_tol=1e-12):
            return False
    return True


_BOOK = lexicon().book
_PHRASES = [p.text for p in _BOOK._phrases]
_WORDS = sorted({t for p in _BOOK._phrases for t in p.tokens} | {"the", "order", "file", "xyz"})


def _mutate(text: str, rng: random.Random, edits: int) -> str:
    chars = list(text)
    for _ in range(edits):
        op = rng.randrange(4)
        pos = rng.randrange(len(chars) + 1)
        if op == 0 and chars and pos < len(chars):
            del chars[pos]
        elif op == 1:
            chars.insert(pos, rng.choice("abcdefghijklmnopqrstuvwxyz '"))
        elif op == 2 and chars and pos < len(chars):
            chars[pos] = rng.choice("abcdefghijklmnopqrstuvwxyz")
        else:
            word = rng.choice(_WORDS)
            chars[pos:pos] = list(f" {word} ")
    return "".join(chars)


@st.composite
def messages(draw: st.DrawFn) -> str:
    """A phrase of the lexicon with typos or extra words, a few phrases and words run together,
    or words at random: texts near the matcher's thresholds, where an index could miss one."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["typo", "mix", "words"]))
    if kind == "typo":
        return _mutate(rng.choice(_PHRASES), rng, draw(st.integers(0, 4)))
    if kind == "mix":
        parts = [rng.choice(_PHRASES) if rng.random() < 0.5 else rng.choice(_WORDS)]
        parts += [rng.choice(_WORDS) for _ in range(draw(st.integers(0, 3)))]
        rng.shuffle(parts)
        return " ".join(parts)
    return " ".join(rng.choice(_WORDS) for _ in range(draw(st.integers(0, 12))))


@settings(max_examples=600, deadline=None)
@given(messages())
def test_the_lexicon_book_equals_brute_force(message: str) -> None:
    text = Text.of(message)
    assert _same(_BOOK.match_all(text), reference_match_all(_BOOK, text)), message


def test_the_lexicon_book_equals_brute_force_on_every_phrase_with_typos() -> None:
    rng = random.Random(16)
    for phrase in _PHRASES:
        for edits in (0, 1, 2, 3):
            text = Text.of(_mutate(phrase, rng, edits))
            assert _same(_BOOK.match_all(text), reference_match_all(_BOOK, text)), text.raw


_word = st.text(alphabet="abcdeilnost", min_size=1, max_size=6)
_phrase = st.lists(_word, min_size=1, max_size=4).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_phrase, min_size=1, max_size=8), min_size=1, max_size=3),
    st.lists(_word, min_size=0, max_size=8).map(" ".join),
    st.sampled_from([frozenset(), frozenset({"a", "the", "is"}), frozenset({"no", "not"})]),
)
def test_random_books_equal_brute_force(
    lists: list[list[str]], message: str, guard: frozenset[str]
) -> None:
    book = PhraseBook(
        {f"l{n}": phrases for n, phrases in enumerate(lists)},
        stopwords=frozenset({"a", "the", "is", "it"}),
        guards={"l0": guard},
    )
    for text in (Text.of(message), Text.of(lists[0][0]), Text.of(lists[-1][-1] + " it")):
        assert _same(book.match_all(text), reference_match_all(book, text)), text.raw
