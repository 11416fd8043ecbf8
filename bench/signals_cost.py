"""CPU cost of the signal analysers per conversation (pure Python, no I/O).

    PYTHONPATH=src python bench/signals_cost.py [--rounds 7] [--seconds 1.0]

Three conversations of 10 user turns (20 messages plus tool calls where noted): a pleasant chat,
a troubled support chat (correction, escalation, shouting), and a coding agent with tool calls
and failing observations; plus one with 2000-character assistant answers. Each is analysed in a
loop for `--seconds` of CPU time per round; the median over rounds of CPU µs per conversation
(the thread's own CPU time, so a busy machine's time-sharing does not count) is printed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from plano.signals import analyse


def _pleasant() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(10):
        out.append({"role": "user", "content": f"Could you tell me more about topic {n}, please?"})
        out.append({"role": "assistant", "content": f"Topic {n} is about several things. " * 4})
    out[-2]["content"] = "Thanks, that's exactly what I needed!"
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


def _agent(answer_chars: int = 120) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for n in range(10):
        out.append({"role": "user", "content": f"Now fix failing test number {n} in the suite."})
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


def measure(messages: list[dict[str, Any]], seconds: float) -> float:
    analyse(messages)  # warm-up (phrase lists compile on first use)
    n = 0
    start = time.thread_time()
    deadline = start + seconds
    while time.thread_time() < deadline:
        analyse(messages)
        n += 1
    return (time.thread_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    analyse([{"role": "user", "content": "hello"}])
    print(f"first call (compiles the lists): {(time.perf_counter() - t0) * 1e3:.1f} ms")
    for name, messages in CASES.items():
        samples = [measure(messages, args.seconds) for _ in range(args.rounds)]
        print(f"{name:<28} median {statistics.median(samples):8.1f} µs/conversation "
              f"(min {min(samples):.1f}, max {max(samples):.1f})")  # fmt: skip


if __name__ == "__main__":
    main()
