"""The logprob-based hallucination check: a parameter value the model was unsure of.

For each generated token, the entropy and varentropy of its top alternatives (from the server's
`logprobs.content[].top_logprobs`); a tool-call argument value is flagged when one of its tokens
has both above `THRESHOLD` and the chosen token's own probability is under `PROBABILITY` (the
original's constants). Without logprobs nothing is flagged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import orjson

THRESHOLD: Final = 1e-4
PROBABILITY: Final = 0.8


def entropy_varentropy(logprobs: Sequence[float]) -> tuple[float, float]:
    """Entropy and varentropy (nats) of a token's top alternatives, renormalised."""
    probs = [math.exp(lp) for lp in logprobs if math.isfinite(lp)]
    total = sum(probs)
    if total <= 0:
        return 0.0, 0.0
    probs = [p / total for p in probs]
    h = -sum(p * math.log(p) for p in probs if p > 0)
    v = sum(p * (math.log(p) + h) ** 2 for p in probs if p > 0)
    return h, v


def uncertain(token: Mapping[str, Any]) -> bool:
    top = token.get("top_logprobs")
    if not isinstance(top, list) or len(top) < 2:
        return False
    lps = [t.get("logprob") for t in top if isinstance(t, dict)]
    floats = [float(x) for x in lps if isinstance(x, int | float)]
    h, v = entropy_varentropy(floats)
    own = token.get("logprob")
    p = math.exp(own) if isinstance(own, int | float) else 0.0
    return h > THRESHOLD and v > THRESHOLD and p < PROBABILITY


def _spans(text: str, arguments: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Where each argument's value is written in the answer text (best effort)."""
    out: dict[str, tuple[int, int]] = {}
    base = text.find('"arguments"')
    for name, value in arguments.items():
        key = text.find(f'"{name}"', max(base, 0))
        if key < 0:
            continue
        colon = text.find(":", key + len(name) + 2)
        if colon < 0:
            continue
        written = orjson.dumps(value).decode()
        start = text.find(written, colon)
        if start < 0 and isinstance(value, str):
            start = text.find(value, colon)
            written = value
        if start >= 0:
            out[name] = (start, start + len(written))
    return out


def flagged(
    text: str, tokens: Sequence[Any], offset: int, arguments: Mapping[str, Any]
) -> tuple[str, ...]:
    """Names of the arguments whose value has an uncertain token. `text` is the answer, the
    tokens' text starts at `offset` in it (after the prefill)."""
    spans = _spans(text, arguments)
    if not spans:
        return ()
    hits: set[str] = set()
    pos = offset
    for token in tokens:
        if not isinstance(token, dict):
            continue
        piece = token.get("token")
        size = len(piece) if isinstance(piece, str) else 0
        start, end = pos, pos + size
        pos = end
        if not uncertain(token):
            continue
        for name, (s, e) in spans.items():
            if start < e and end > s:
                hits.add(name)
    return tuple(n for n in arguments if n in hits)
