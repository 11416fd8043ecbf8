"""The phrase matcher: exact token sequence, else char-trigram Jaccard, else token cosine.

The fuzzy layers compare the whole message with the phrase (as the original does), so they only
fire on short messages that are essentially the phrase (a typo, a dropped word). Everything is
indexed when the list is built: exact matching looks phrases up by their first token, the Jaccard
layer only visits phrases whose trigram count could reach the threshold, and the cosine layer only
visits phrases that share a token with the message.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Match:
    phrase: str
    score: float
    method: str  # exact | trigram | cosine
    start: int  # token offset of an exact match, -1 for fuzzy ones


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str
    tokens: tuple[str, ...]
    grams: frozenset[str]
    norm: float
    negated: bool
    content: frozenset[str]


class PhraseList:
    """An ordered phrase list; `match` returns the earliest phrase that matches, if any."""

    __slots__ = ("_by_first", "_by_size", "_index", "_phrases", "_sizes", "_stopwords", "fuzzy")

    def __init__(
        self,
        phrases: Iterable[str],
        *,
        stopwords: frozenset[str] = frozenset(),
        fuzzy: bool = True,
    ) -> None:
        self.fuzzy = fuzzy
        self._stopwords = stopwords
        self._phrases: list[_Phrase] = []
        for text in phrases:
            tokens = tokens_of(text)
            if not tokens:
                continue
            counts = Counter(tokens)
            norm = math.sqrt(sum(v * v for v in counts.values()))
            negated = any(t in NEGATIONS for t in tokens)
            grams = trigrams(" ".join(tokens))
            content = frozenset(t for t in tokens if t not in stopwords)
            self._phrases.append(_Phrase(text, tokens, grams, norm, negated, content))
        self._by_first: dict[str, list[int]] = defaultdict(list)
        self._index: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, phrase in enumerate(self._phrases):
            self._by_first[phrase.tokens[0]].append(i)
            for token, count in Counter(phrase.tokens).items():
                self._index[token].append((i, count))
        order = sorted(range(len(self._phrases)), key=lambda i: len(self._phrases[i].grams))
        self._by_size = order
        self._sizes = [len(self._phrases[i].grams) for i in order]

    def __len__(self) -> int:
        return len(self._phrases)

    def match(self, text: Text, *, guard: frozenset[str] = frozenset()) -> Match | None:
        """The earliest phrase matching `text`; exact hits right after a `guard` word don't count.

        A fuzzy hit also needs the message and the phrase to agree on negation, so "that's right"
        is never taken for "that's not right", and no fuzzy hit is taken from a message that
        contains a `guard` word at all ("explain how it works" is not "it works").
        """
        best = self._exact(text, guard)
        fuzzy_allowed = self.fuzzy and not (guard and guard.intersection(text.tokens))
        if not fuzzy_allowed or (best is not None and best[0] == 0):
            return self._result(best, "exact")
        fuzzy = self._fuzzy(text, best[0] if best else len(self._phrases))
        if fuzzy is not None:
            return Match(self._phrases[fuzzy[0]].text, fuzzy[1], fuzzy[2], -1)
        return self._result(best, "exact")

    def _result(self, best: tuple[int, int] | None, method: str) -> Match | None:
        if best is None:
            return None
        return Match(self._phrases[best[0]].text, 1.0, method, best[1])

    def _exact(self, text: Text, guard: frozenset[str]) -> tuple[int, int] | None:
        tokens = text.tokens
        best: tuple[int, int] | None = None
        for pos, token in enumerate(tokens):
            for i in self._by_first.get(token, ()):
                if best is not None and i >= best[0]:
                    break
                ptoks = self._phrases[i].tokens
                if tokens[pos : pos + len(ptoks)] != ptoks:
                    continue
                if pos > 0 and tokens[pos - 1] in guard:
                    continue
                best = (i, pos)
        return best

    def _fuzzy(self, text: Text, limit: int) -> tuple[int, float, str] | None:
        """The earliest phrase (index < limit) within the Jaccard or cosine threshold."""
        found: tuple[int, float, str] | None = None
        negated = any(t in NEGATIONS for t in text.tokens)
        if text.joined and len(text.joined) < 3 * max(self._sizes or [0]):
            grams = text.trigrams()
            size = len(grams)
            lo = bisect.bisect_left(self._sizes, math.ceil(size * JACCARD_THRESHOLD) - 1)
            hi = bisect.bisect_right(self._sizes, size / JACCARD_THRESHOLD + 1)
            for i in self._by_size[lo:hi]:
                if self._phrases[i].negated != negated:
                    continue
                if i < limit and (found is None or i < found[0]):
                    score = jaccard(grams, self._phrases[i].grams)
                    if score >= JACCARD_THRESHOLD:
                        found = (i, score, "trigram")
        dots: dict[int, int] = defaultdict(int)
        for token, count in text.freq.items():
            for i, pcount in self._index.get(token, ()):
                dots[i] += count * pcount
        content = frozenset(t for t in text.freq if t not in self._stopwords)
        for i, dot in dots.items():
            phrase = self._phrases[i]
            if phrase.negated != negated or not (i < limit and (found is None or i < found[0])):
                continue
            score = dot / (text.norm * phrase.norm)
            if (
                score >= COSINE_THRESHOLD
                and self._covers(phrase, content)
                and _in_order(phrase.tokens, text.tokens)
            ):
                found = (i, score, "cosine")
        return found

    @staticmethod
    def _covers(phrase: _Phrase, content: frozenset[str]) -> bool:
        """Cosine hits need every content word of the phrase and at most one content word more
        (the original has no such guard: "got it, thank you" came out as "you got it wrong");
        the phrase's words must also appear in the phrase's order (checked by the caller)."""
        return phrase.content <= content and len(content - phrase.content) <= MAX_EXTRA_CONTENT


def _in_order(needle: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    """`needle` is a subsequence of `haystack` ("i really dont understand" has "i dont
    understand"; "i meant no harm" does not have "no i meant")."""
    rest = iter(haystack)
    return all(token in rest for token in needle)
