"""The guard head's word n-gram part: a sparse logistic term added to the embedding head's logit.

A text's features are its lower-cased words (`\\w+`, any script) and the pairs of neighbouring
words. The head file lists the features it learned (`ngrams`: feature → weight) and a bias
(`ngram_bias`); a text's term is the bias plus the weights of the distinct features it has (an
unknown feature counts 0). Pure Python over a dict: a few microseconds per short text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import pairwise
from typing import Final

WORD: Final = re.compile(r"\w+")


def features(text: str) -> set[str]:
    """The distinct words and word pairs of `text`, lower-cased."""
    words = WORD.findall(text.lower())
    out = set(words)
    out.update(f"{a} {b}" for a, b in pairwise(words))
    return out


def term(text: str, table: Mapping[str, float], bias: float) -> float:
    """The n-gram part of the head's logit for `text`."""
    return bias + sum(table.get(f, 0.0) for f in features(text))
