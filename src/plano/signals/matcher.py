"""The phrase matcher: exact token sequence, else char-trigram Jaccard, else token cosine.

The fuzzy layers compare the whole message with the phrase (as the original does), so they only
fire on short messages that are essentially the phrase (a typo, a dropped or added word). All
phrase lists live in one `PhraseBook`, so a message is scanned once for every list: exact
matching looks phrases up by their first token, the Jaccard layer only visits phrases whose
trigram count could reach the threshold, and the cosine layer only visits phrases whose content
words the message has.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from itertools import compress, count
from typing import Final

from plano.signals.text import Text, jaccard, tokens_of, trigrams

JACCARD_THRESHOLD: Final = 0.65
COSINE_THRESHOLD: Final = 0.60
MAX_EXTRA_CONTENT: Final = 1
NEGATIONS: Final = frozenset(
    {"not", "no", "never", "dont", "doesnt", "didnt", "isnt", "wasnt", "arent", "cant", "hardly"}
    | {"wont", "wouldnt", "couldnt", "shouldnt", "nothing", "nor", "without"}
)
# Words that make what follows hypothetical ("if it works", "how it works").
CONDITIONALS: Final = frozenset({"if", "whether", "unless", "how", "until", "once"})
_NO_GUARD: Final[frozenset[str]] = frozenset()


@dataclass(frozen=True, slots=True)
class Match:
    phrase: str
    score: float
    method: str  # exact | trigram | cosine
    start: int  # token offset of an exact match, -1 for fuzzy ones


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str
    list_name: str
    tokens: tuple[str, ...]
    grams: frozenset[str]
    norm: float
    negated: bool
    content: frozenset[str]
    freq: dict[str, int]


# Per list name: (global index of the best phrase so far, score, method, exact start).
_Best = dict[str, tuple[int, float, str, int]]


class PhraseBook:
    """Named, ordered phrase lists; `match_all` reports the earliest matching phrase per list.

    Exact hits right after a list's guard word don't count; a fuzzy hit needs the message and
    the phrase to agree on negation ("that's right" is never "that's not right"), and no fuzzy
    hit is taken for a list from a message containing one of its guard words at all ("explain
    how it works" is not "it works"). Cosine hits need every content word of the phrase, at
    most one content word more, and the phrase's word order (the original has no such guards:
    "got it, thank you" came out as "you got it wrong").
    """

    def __init__(
        self,
        lists: Mapping[str, Iterable[str]],
        *,
        stopwords: frozenset[str] = frozenset(),
        guards: Mapping[str, frozenset[str]] | None = None,
    ) -> None:
        self._stopwords = stopwords
        self._phrases: list[_Phrase] = []
        for name, phrases in lists.items():
            for text in phrases:
                self._add(name, text)
        self.names = tuple(lists)
        self._all_names = frozenset(self.names)
        self._guards: Mapping[str, frozenset[str]] = dict(guards or {})
        self._guard_words: frozenset[str] = frozenset().union(*self._guards.values())
        # first token → second token ("" for one-token phrases) → phrase indexes
        self._by_first: dict[str, dict[str, list[int]]] = {}
        self._by_content: dict[str, list[int]] = defaultdict(list)
        self._no_content: list[int] = []
        for i, phrase in enumerate(self._phrases):
            second = phrase.tokens[1] if len(phrase.tokens) > 1 else ""
            self._by_first.setdefault(phrase.tokens[0], {}).setdefault(second, []).append(i)
            for token in phrase.content:
                self._by_content[token].append(i)
            if not phrase.content:
                self._no_content.append(i)
        self._firsts = frozenset(self._by_first)
        self._max_content = max((len(p.content) for p in self._phrases), default=0)
        self._grams = _GramIndex([p.grams for p in self._phrases])

    def _add(self, name: str, text: str) -> None:
        tokens = tokens_of(text)
        if not tokens:
            return
        counts = Counter(tokens)
        self._phrases.append(
            _Phrase(
                text=text,
                list_name=name,
                tokens=tokens,
                grams=trigrams(" ".join(tokens)),
                norm=math.sqrt(sum(v * v for v in counts.values())),
                negated=any(t in NEGATIONS for t in tokens),
                content=frozenset(t for t in tokens if t not in self._stopwords),
                freq=dict(counts),
            )
        )

    def size(self, name: str) -> int:
        return sum(1 for p in self._phrases if p.list_name == name)

    def match_all(
        self,
        text: Text,
        guards: Mapping[str, frozenset[str]] | None = None,
        content: frozenset[str] | None = None,
    ) -> dict[str, Match]:
        """The earliest matching phrase of each list that has one (`guards`: per list, the
        words that void an exact hit right before it; default: those given at construction;
        `content`: the text's tokens minus the book's stopwords, when the caller has them)."""
        if guards is None:
            guards, guard_words = self._guards, self._guard_words
        else:
            guard_words = frozenset().union(*guards.values())
        best: _Best = {}
        tokens = text.tokens
        self._exact(text, guards, best)
        # The fuzzy layers compare whole messages: a long one cannot reach either threshold.
        grams_fit = len(text.joined) - 2 <= self._grams.largest / JACCARD_THRESHOLD
        if content is None:
            content = frozenset(tokens).difference(self._stopwords)
        content_fits = len(content) <= self._max_content + MAX_EXTRA_CONTENT
        if not tokens or not (grams_fit or content_fits):
            return self._matches(best)
        fuzzy_for = self._all_names
        if not guard_words.isdisjoint(tokens):
            fuzzy_for = frozenset(
                name for name in self.names if guards.get(name, _NO_GUARD).isdisjoint(tokens)
            )
        if fuzzy_for:
            negated = not NEGATIONS.isdisjoint(tokens)
            if grams_fit:
                self._trigram_layer(text, fuzzy_for, negated, best)
            if content_fits:
                self._cosine_layer(text, content, fuzzy_for, negated, best)
        return self._matches(best)

    def _matches(self, best: _Best) -> dict[str, Match]:
        return {
            name: Match(self._phrases[i].text, score, method, start)
            for name, (i, score, method, start) in best.items()
        }

    def _better(self, best: _Best, i: int) -> bool:
        current = best.get(self._phrases[i].list_name)
        return current is None or i < current[0]

    def _exact(self, text: Text, guards: Mapping[str, frozenset[str]], best: _Best) -> None:
        tokens = text.tokens
        by_first = self._by_first
        last = len(tokens) - 1
        # the positions of the words some phrase starts with, found in C
        for pos in compress(count(), map(self._firsts.__contains__, tokens)):
            seconds = by_first[tokens[pos]]
            candidates = seconds.get("", [])
            if pos < last and tokens[pos + 1] in seconds:
                candidates = [*candidates, *seconds[tokens[pos + 1]]]
            for i in candidates:
                phrase = self._phrases[i]
                if (
                    not self._better(best, i)
                    or tokens[pos : pos + len(phrase.tokens)] != phrase.tokens
                ):
                    continue
                if pos > 0 and tokens[pos - 1] in guards.get(phrase.list_name, _NO_GUARD):
                    continue
                best[phrase.list_name] = (i, 1.0, "exact", pos)

    def _trigram_layer(self, text: Text, names: frozenset[str], negated: bool, best: _Best) -> None:
        index = self._grams
        grams = text.trigrams()
        size = len(grams)
        low, high = size * JACCARD_THRESHOLD, size / JACCARD_THRESHOLD
        for i in index.candidates(grams):
            phrase = self._phrases[i]
            if phrase.list_name not in names or phrase.negated != negated:
                continue
            if low <= len(phrase.grams) <= high and self._better(best, i):
                score = jaccard(grams, phrase.grams)
                if score >= JACCARD_THRESHOLD:
                    best[phrase.list_name] = (i, score, "trigram", -1)

    def _cosine_layer(
        self,
        text: Text,
        content: frozenset[str],
        names: frozenset[str],
        negated: bool,
        best: _Best,
    ) -> None:
        hits: dict[int, int] = defaultdict(int)
        for token in content:
            for i in self._by_content.get(token, ()):
                hits[i] += 1
        candidates = [i for i, n in hits.items() if n == len(self._phrases[i].content)]
        if len(content) <= MAX_EXTRA_CONTENT:
            candidates += self._no_content
        for i in candidates:
            phrase = self._phrases[i]
            if phrase.list_name not in names or phrase.negated != negated:
                continue
            if len(content) - len(phrase.content) > MAX_EXTRA_CONTENT or not self._better(best, i):
                continue
            dot = sum(text.freq.get(t, 0) * c for t, c in phrase.freq.items())
            score = dot / (text.norm * phrase.norm)
            if score >= COSINE_THRESHOLD and _in_order(phrase.tokens, text.tokens):
                best[phrase.list_name] = (i, score, "cosine", -1)


# J(A, B) ≥ t needs |A ∩ B| ≥ t · max(|A|, |B|) (as |A ∪ B| ≥ both); t as an exact fraction.
_T: Final = Fraction(JACCARD_THRESHOLD).limit_denominator(1000)


def _min_shared(size: int) -> int:
    """The fewest trigrams a set of `size` shares with any set it is ≥ t Jaccard-similar to."""
    return max(1, -(-_T.numerator * size // _T.denominator))


class _GramIndex:
    """Which phrases can be Jaccard-similar to a message, without scoring every one.

    The prefix filter of set-similarity joins: order all trigrams rarest first (by how many
    phrases have them; trigrams no phrase has come before all others). If two sets share at
    least k elements, the first |A| − k + 1 elements of one and the first |B| − k + 1 of the
    other share one. So each phrase is indexed under its first |B| − m(|B|) + 1 trigrams and a
    message probes with its first |A| − m(|A|) + 1 (m: `_min_shared`); every phrase that reaches
    the threshold is among the candidates (the verification is the same Jaccard as before, so
    the result is exactly that of scoring every phrase). A message whose rarest trigrams no
    phrase has gets no candidates at all.
    """

    __slots__ = ("_postings", "_rank", "largest")

    def __init__(self, sets: list[frozenset[str]]) -> None:
        counts = Counter(g for grams in sets for g in grams)
        order = sorted(counts, key=lambda g: (counts[g], g))
        self._rank: dict[str, int] = {g: n for n, g in enumerate(order)}
        self._postings: dict[str, list[int]] = defaultdict(list)
        for i, grams in enumerate(sets):
            if grams:
                ranked = sorted(grams, key=self._rank.__getitem__)
                for g in ranked[: len(grams) - _min_shared(len(grams)) + 1]:
                    self._postings[g].append(i)
        self.largest = max((len(grams) for grams in sets), default=0)

    def candidates(self, grams: frozenset[str]) -> set[int]:
        prefix = len(grams) - _min_shared(len(grams)) + 1
        rank = self._rank
        known = [g for g in grams if g in rank]
        prefix -= len(grams) - len(known)  # unknown trigrams come first and match nothing
        out: set[int] = set()
        if prefix <= 0 or not grams:
            return out
        known.sort(key=rank.__getitem__)
        postings = self._postings
        for g in known[:prefix]:
            hits = postings.get(g)
            if hits is not None:
                out.update(hits)
        return out


class PhraseList:
    """One ordered list (a book with a single list), for callers that need just one."""

    __slots__ = ("_book",)

    def __init__(self, phrases: Iterable[str], *, stopwords: frozenset[str] = frozenset()) -> None:
        self._book = PhraseBook({"": phrases}, stopwords=stopwords)

    def __len__(self) -> int:
        return self._book.size("")

    def match(self, text: Text, *, guard: frozenset[str] = _NO_GUARD) -> Match | None:
        return self._book.match_all(text, {"": guard}).get("")


def _in_order(needle: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    """`needle` is a subsequence of `haystack` ("i really dont understand" has "i dont
    understand"; "i meant no harm" does not have "no i meant")."""
    rest = iter(haystack)
    return all(token in rest for token in needle)
