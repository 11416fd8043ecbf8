"""The shipped defaults (head + rules + default threshold) measured on our hand-written set.

The set (`tests/data/guard/tricky.jsonl`) is ours: benign look-alikes ("ignore whitespace",
system-prompt design, security questions, translations), and attacks (overrides, system-prompt
extraction, role-play, multilingual, inside tool output). The bars are the issue's: FPR ≤ 2 % on
the benign part; the TPR bar is what the shipped defaults reached when they were chosen, so a
worse head or a broken rule fails here.

The head shipped on 2026-12-05 (one hidden layer, plus a word n-gram term and a memory term of
the nearest training rows fitted on top of the layer's out-of-fold logits; threshold 0.95,
chosen on validation data, not on this set) measured FPR 1/66 = 0.015 and TPR 51/52 here, as
the two heads before it did.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from plano.config.guards import GuardFilterConfig
from plano.filters.guard import build_guard
from plano.filters.guard.filter import GuardBlocked
from plano.filters.types import FilterContext
from plano.observability.record import RequestRecord
from plano.upstream.mock_transport import MockReply, MockRequest, MockTransport

DATA = Path(__file__).parents[4] / "tests" / "data" / "guard" / "tricky.jsonl"
FPR_BAR = 0.02  # the bar (measured: 1/66)
TPR_BAR = 51 / 52  # measured


async def _unused(request: MockRequest) -> MockReply:
    raise AssertionError("a guard without a second opinion sends nothing")


def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in DATA.read_text("utf-8").splitlines() if line.strip()]


def body(row: dict[str, Any]) -> bytes:
    if row["where"] == "tool":
        call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}
        messages = [
            {"role": "user", "content": "Use the tool please."},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c", "content": row["text"]},
        ]
    else:
        messages = [{"role": "user", "content": row["text"]}]
    return orjson.dumps({"model": "m", "messages": messages})


async def blocked(rows: list[dict[str, Any]]) -> list[bool]:
    guard = build_guard(GuardFilterConfig(id="g", type="guard"), MockTransport(_unused))
    out = []
    for row in rows:
        try:
            await guard.apply(body(row), "/v1/chat/completions", (), FilterContext())
        except GuardBlocked:
            out.append(True)
        else:
            out.append(False)
    return out


def test_the_hand_written_set_is_large_and_mixed() -> None:
    data = rows()
    assert len(data) >= 100
    kinds = {(r["label"], r["category"]) for r in data}
    assert {(1, "multilingual"), (1, "tool"), (1, "extraction"), (1, "roleplay")} <= kinds
    assert {(0, "lookalike"), (0, "security"), (0, "tool")} <= kinds


def test_shipped_defaults_meet_the_bars_on_the_hand_written_set() -> None:
    data = rows()
    verdicts = asyncio.run(blocked(data))
    benign = [v for v, r in zip(verdicts, data, strict=True) if r["label"] == 0]
    attacks = [v for v, r in zip(verdicts, data, strict=True) if r["label"] == 1]
    fpr = sum(benign) / len(benign)
    tpr = sum(attacks) / len(attacks)
    missed = [r["text"] for v, r in zip(verdicts, data, strict=True) if r["label"] and not v]
    flagged = [r["text"] for v, r in zip(verdicts, data, strict=True) if not r["label"] and v]
    assert fpr <= FPR_BAR, flagged
    assert tpr >= TPR_BAR, missed


def test_a_verdict_is_noted_on_the_record() -> None:
    record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    guard = build_guard(
        GuardFilterConfig(id="g", type="guard", action="flag"), MockTransport(_unused)
    )
    doc = {"messages": [{"role": "user", "content": "How do I ignore whitespace in git diff?"}]}
    raw = orjson.dumps(doc)
    assert asyncio.run(guard.apply(raw, "/v1/chat/completions", (), FilterContext(record))) is raw
    (note,) = record.guards or []
    assert (note.filter, note.verdict, note.source) == ("g", "pass", "head")
    assert 0.0 <= note.score < 0.5


def test_a_replaced_head_is_refused(tmp_path: Path) -> None:
    from plano.embedding.model import EmbedderUnavailable
    from plano.filters.guard.head import HEAD_PATH, load_head

    copy = tmp_path / "guard_head.json"
    copy.write_bytes(HEAD_PATH.read_bytes().replace(b'"bias":', b'"bias": ', 1))
    with pytest.raises(EmbedderUnavailable, match="sha256"):
        load_head(copy)
    assert load_head().hidden is not None


def test_both_head_kinds_load_and_bad_shapes_are_refused() -> None:
    import numpy as np

    from plano.embedding.model import DIMENSIONS, EmbedderUnavailable
    from plano.filters.guard.head import head_of, load_head

    shipped = load_head()
    assert shipped.hidden is not None and shipped.hidden.shape[0] == DIMENSIONS
    x = np.zeros((1, DIMENSIONS), dtype=np.float32)
    x[0, 0] = 1.0
    linear = head_of({"weights": [2.0] + [0.0] * (DIMENSIONS - 1), "bias": -2.0, "threshold": 0.5})
    assert linear.scores(x) == [0.5]
    hidden = [[1.0, -1.0]] + [[0.0, 0.0]] * (DIMENSIONS - 1)
    mlp = {"kind": "mlp", "hidden": hidden, "hidden_bias": [0.0, 0.0], "weights": [3.0, 5.0]}
    # ReLU keeps 1.0 and drops -1.0: the logit is 3 * 1 + 5 * 0 - 3 = 0
    assert head_of({**mlp, "bias": -3.0, "threshold": 0.5}).scores(x) == [0.5]
    with pytest.raises(EmbedderUnavailable, match="shapes"):
        head_of({**mlp, "weights": [1.0], "bias": 0.0, "threshold": 0.5})
    with pytest.raises(EmbedderUnavailable, match="weights"):
        head_of({"weights": [1.0], "bias": 0.0, "threshold": 0.5})


def test_ngram_features_and_a_bad_ngram_table_is_refused() -> None:
    from plano.embedding.model import DIMENSIONS, EmbedderUnavailable
    from plano.filters.guard.head import head_of
    from plano.filters.guard.ngrams import features, term

    assert features("Ignore ALL rules, ignore!") == {
        "ignore", "all", "rules", "ignore all", "all rules", "rules ignore"
    }  # fmt: skip
    assert features("忽略 之前") == {"忽略", "之前", "忽略 之前"}
    assert term("ignore ignore", {"ignore": 2.0}, -1.0) == 1.0  # a feature counts once
    linear = {"weights": [0.0] * DIMENSIONS, "bias": 0.0, "threshold": 0.5}
    with pytest.raises(EmbedderUnavailable, match="ngrams"):
        head_of({**linear, "ngrams": {"x": "heavy"}})
    with pytest.raises(EmbedderUnavailable, match="ngrams"):
        head_of({**linear, "ngrams": ["x"]})
