"""CPU cost of the signals worker's path for `bench/ab.py signals --vary` traffic, in-process.

    PYTHONPATH=src python bench/signals_worker_cost.py [--rounds 3] [--seconds 1.0]

Each request is the ab bench's 10-turn body with a last user message of its own (the same
history, another last message), as `--vary` sends it. Per request: `orjson.loads` of the body
(the gateway's decode), then what the worker does for an analysed request: the note cache's key
and lookup, `analyse`, the note and its caching. Printed per round: CPU µs per request with and
without the worker's part (the decode alone), and their difference (the thread's own CPU time,
so a busy machine's time-sharing does not count). Run it on two trees (PYTHONPATH) alternately.
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable

import orjson

from loadgen import USER_PROMPT, chat_body
from plano.listeners.signals_costs import NoteCache
from plano.listeners.signals_stage import chat_messages, note_of
from plano.signals import analyse


def measure(fn: Callable[[], object], seconds: float) -> float:
    fn()
    n = 0
    start = time.thread_time()
    while time.thread_time() < start + seconds:
        fn()
        n += 1
    return (time.thread_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    last = USER_PROMPT.rsplit(" ", 1)[-1]
    head, tail = chat_body(False, 10).decode().rsplit(last, 1)
    counter = itertools.count()
    notes = NoteCache()
    render = getattr(notes, "note_of", note_of)  # older trees render without the memo

    def body() -> bytes:
        return f"{head}{last} (take {next(counter)}){tail}".encode()

    def decode_only() -> object:
        return orjson.loads(body())

    def analysed() -> object:
        kept = ("openai", orjson.loads(body())["messages"], None)
        key = notes.key(kept)
        note = notes.get(key) if key is not None else None
        if note is None:
            note = render(analyse(chat_messages(kept)))
            if key is not None:
                notes.put(key, note)
        return note

    for n in range(args.rounds):
        full = measure(analysed, args.seconds)
        base = measure(decode_only, args.seconds)
        print(f"round {n + 1}: {full:6.1f} µs/request, decode alone {base:4.1f}, "
              f"worker's part {full - base:6.1f} µs")  # fmt: skip


if __name__ == "__main__":
    main()
