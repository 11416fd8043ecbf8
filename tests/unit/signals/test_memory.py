"""The analysers' caches stay bounded whatever the traffic: conversations of long, all-different
texts (the worst case: every text 2000 characters, none seen twice) fill every cache, and the
memory they hold stops growing under the stated bound."""

from __future__ import annotations

import gc
import random
import string
import tracemalloc
from typing import Any

from plano.signals import analyse
from plano.signals.analyse import STATE_CHARS, _cache, clear_state_cache
from plano.signals.observations import scan
from plano.signals.text import GRAMS, GRAMS_KEPT
from plano.signals.utterance import assistant_features, user_features

BOUND_MB = 48  # what docs/signals.md states


def _clear() -> None:
    clear_state_cache()
    GRAMS.clear()
    user_features.cache_clear()
    assistant_features.cache_clear()
    scan.cache_clear()


def test_worst_case_memory_of_the_caches_is_bounded() -> None:
    rng = random.Random(16)
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]

    def text(chars: int = 2400) -> str:
        return " ".join(rng.choices(words, k=chars // 5))

    def conversation() -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for _ in range(10):
            call = {"id": "c", "type": "function",
                    "function": {"name": "t", "arguments": f'{{"q": "{text(300)}"}}'}}  # fmt: skip
            out.append({"role": "user", "content": text()})
            out.append({"role": "assistant", "content": text(), "tool_calls": [call]})
            out.append({"role": "tool", "tool_call_id": "c", "content": text()})
        return out

    _clear()
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for _ in range(60):  # fills the text caches and the states' character budget
            analyse(conversation())
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - base
        grams, (states, chars) = GRAMS.total(), _cache.held()
    finally:
        tracemalloc.stop()
        _clear()
    assert 0 < grams <= GRAMS_KEPT
    assert chars <= STATE_CHARS and states < 60  # the budget, not the count, dropped states
    assert held < BOUND_MB * 1e6, f"{held / 1e6:.1f} MB"
