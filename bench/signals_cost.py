"""CPU cost of the signal analysers per conversation (pure Python, no I/O).

    PYTHONPATH=src python bench/signals_cost.py [--rounds 7] [--seconds 1.0]

Conversations of 10 user turns: a pleasant chat, a troubled support chat (correction,
escalation, shouting), a coding agent with tool calls and failing tool results, and the same
agent with 2000-character answers. Three costs each: "cold" (nothing cached: every message
normalised and matched), "new turn" (the previous request, everything before the last user
message, was analysed; this one adds a new user message, as a chat client resending its history
does; the figure includes the cache hit of the previous request) and "repeated" (the same
conversation again). Each runs in a loop for a share of `--seconds` of CPU time per round;
printed are the medians over rounds of CPU µs per conversation (the thread's own CPU time, so a
busy machine's time-sharing does not count) and the ratio to `json.loads` of the request body
carrying the conversation, measured in the same round (a machine-independent yardstick: the
gateway parses that body anyway).
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from plano.signals import analyse
from plano.signals.analyse import clear_state_cache
from plano.signals.observations import scan
from plano.signals.text import GRAMS
from plano.signals.utterance import assistant_features, user_features

_QUESTIONS = (
    "What's a good first trip to Japan for two weeks in April?",
    "How many days should we spend in Kyoto?",
    "Is the JR pass still worth it after the price increase?",
    "Which neighbourhood in Tokyo is best for a family with kids?",
    "Can you suggest a day trip from Osaka?",
    "What should we eat in Hiroshima?",
    "How early do we need to book the ryokan in Hakone?",
    "Do we need cash or are cards accepted everywhere?",
    "What's the etiquette at an onsen?",
    "Thanks, that's exactly what I needed!",
)
_ANSWERS = (
    "Tokyo, Hakone, Kyoto, Nara, Osaka and Hiroshima make a classic first route for two weeks.",
    "Four days in Kyoto gives you time for the temples, Arashiyama and a day in Nara.",
    "For Tokyo-Kyoto-Hiroshima and back it is roughly break-even; buy single tickets otherwise.",
    "Asakusa or Ueno are calmer and close to parks, museums and the zoo.",
    "Nara is 45 minutes away: deer park, Todai-ji and the old merchant streets.",
    "Okonomiyaki, Hiroshima style with noodles, and oysters on Miyajima.",
    "Two to three months ahead for April weekends; weekdays are easier.",
    "Cards are widely accepted now, but keep some cash for small shops and shrines.",
    "Wash before entering, no swimsuits, keep the small towel out of the water.",
    "You're welcome, have a wonderful trip!",
)


def _pleasant() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for question, answer in zip(_QUESTIONS, _ANSWERS, strict=True):
        out.append({"role": "user", "content": question})
        out.append({"role": "assistant", "content": answer})
    return out


def _troubled() -> list[dict[str, Any]]:
    users = [
        "My refund hasn't arrived after three weeks.",
        "I already gave you my order number.",
        "No, I meant the order from October, not November.",
        "WHY IS THIS TAKING SO LONG",
        "What do you mean by pending review??",
        "That's not what I asked.",
        "This is useless.",
        "Let me rephrase: where is my money?",
        "I still don't understand.",
        "Let me talk to a human right now.",
    ]
    out: list[dict[str, Any]] = []
    for text in users:
        reply = "I'm sorry, let me check that for you again."
        out += [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]
    return out


_TASKS = (
    "Run the unit tests for the parser module.",
    "The date tests fail on leap years, fix parse_date.",
    "Add a regression test for February 29.",
    "Now run the whole suite again.",
    "Why is test_timezone flaky on CI?",
    "Pin the tzdata package to the version CI uses.",
    "Update the changelog with both fixes.",
    "Run the linter on the changed files.",
    "Commit with a message that mentions the issue number.",
    "Push the branch and open a draft pull request.",
)


def _agent(answer_chars: int = 120) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(10):
        out.append({"role": "user", "content": _TASKS[n]})
        args = json.dumps({"command": f"pytest tests/test_{n}.py"})
        fn = {"name": "run_shell", "arguments": args}
        call = {"id": f"c{n}", "type": "function", "function": fn}
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        result = "ERROR: connection refused" if n % 3 == 0 else f"{n} passed in 0.4s"
        out.append({"role": "tool", "tool_call_id": f"c{n}", "content": result})
        out.append(
            {"role": "assistant", "content": ("Done. " * (answer_chars // 6))[:answer_chars]}
        )
    return out


CASES = {
    "pleasant (10 turns)": _pleasant(),
    "troubled (10 turns)": _troubled(),
    "agent + tools (10 turns)": _agent(),
    "agent, 2000-char answers": _agent(2000),
}


def measure(fn: Callable[[], object], seconds: float) -> float:
    fn()  # warm-up (phrase lists compile on first use)
    n = 0
    start = time.thread_time()
    deadline = start + seconds
    while time.thread_time() < deadline:
        fn()
        n += 1
    return (time.thread_time() - start) / n * 1e6


def _clear() -> None:
    clear_state_cache()
    user_features.cache_clear()
    assistant_features.cache_clear()
    scan.cache_clear()
    GRAMS.clear()


def _cold(messages: list[dict[str, Any]]) -> None:
    _clear()
    analyse(messages)


def _new_turn(messages: list[dict[str, Any]]) -> Callable[[], object]:
    """The previous request (everything before the last user message) was analysed; this one
    adds a new user message and the assistant's answer, as a chat client resending its history."""
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    previous, tail = messages[:last_user], messages[last_user + 1 :]
    counter = itertools.count()

    def run() -> object:
        analyse(previous)  # a cache hit when warm; it keeps the previous state recently used
        text = f"{messages[last_user]['content']} (take {next(counter)})"
        return analyse([*previous, {"role": "user", "content": text}, *tail])

    return run


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    t0 = time.thread_time()
    analyse([{"role": "user", "content": "hello"}])
    print(f"first call (compiles the lists): {(time.thread_time() - t0) * 1e3:.1f} ms CPU")
    print("µs of CPU per conversation (median of rounds); in brackets: × json.loads of its body")
    print(f"{'conversation':<26} {'cold':>16} {'new turn':>16} {'repeated':>16}")
    for name, messages in CASES.items():
        body = json.dumps({"model": "m", "messages": messages})
        cols: dict[str, list[float]] = {"cold": [], "new": [], "same": []}
        ratios: dict[str, list[float]] = {"cold": [], "new": [], "same": []}
        runs: dict[str, Callable[[], object]] = {
            "cold": lambda messages=messages: _cold(messages),
            "new": _new_turn(messages),
            "same": lambda messages=messages: analyse(messages),
        }
        for _ in range(args.rounds):
            # the yardstick, measured beside it: json.loads of the request body that carries it
            reference = measure(lambda body=body: json.loads(body), args.seconds / 4)
            for key, run in runs.items():
                cost = measure(run, args.seconds / 3)
                cols[key].append(cost)
                ratios[key].append(cost / reference)
        cells = [
            f"{statistics.median(cols[k]):7.1f} ({statistics.median(ratios[k]):4.1f}×)"
            for k in ("cold", "new", "same")
        ]
        print(f"{name:<26} " + " ".join(f"{c:>16}" for c in cells))


if __name__ == "__main__":
    main()
