"""CPU cost of the `type: pii` filter in a tight loop, in microseconds.

    python bench/pii_cost.py [--n 2000] [--rounds 5]

- `input 1 KB clean` / `input 1 KB, 6 PII`: one chat request body of about 1 KB through the
  input side (decode, find every entity, rewrite, encode), without and with PII in it;
  `input 10 KB, 6 PII`: the same with 10 KB of text;
- `output whole 1 KB`: a non-streamed chat answer with two placeholders restored;
- `output chunk`: one streamed chat chunk (a ~12-character delta, placeholders split across
  chunks) when the request got placeholders; `output chunk, nothing to restore`: the same when
  it got none (the filter returns the bytes it was given).

Prints the median of the rounds, and `orjson.loads` of the same 1 KB body as a reference (on a
busy machine absolute numbers drift; the ratio to the reference drifts less).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Callable

import orjson

from plano.config.guards import PiiFilterConfig
from plano.filters.pii.filter import PiiFilter
from plano.filters.types import FilterContext

FILLER = (
    "Please summarise the attached meeting notes for the quarterly review, keeping the action "
    "items, owners and deadlines, and leave out the small talk at the start. "
)
PII = (
    "Contact Alice Martin at alice.martin@example.com or +33 6 12 34 56 78; card "
    "4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, server 10.0.0.12. "
)
CONFIG = PiiFilterConfig.model_validate(
    {
        "id": "pii",
        "type": "pii",
        "names": ["Alice Martin"],
        "entities": {"card": "mask"}
        | {e: "redact" for e in ("email", "phone", "iban", "ip", "secret", "name")},
    }
)


def body(size: int, with_pii: bool) -> bytes:
    text = (PII if with_pii else "") + FILLER * (size // len(FILLER) + 1)
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": text[:size]},
    ]
    return orjson.dumps({"model": "gpt-4o", "messages": messages})


def timed(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def cases() -> dict[str, Callable[[], object]]:
    f = PiiFilter(CONFIG)
    clean, dirty, big = body(1024, False), body(1024, True), body(10240, True)
    ctx = FilterContext()
    f.run(dirty, ctx)
    answer = orjson.dumps(
        {
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "Sure, <NAME_1> at <EMAIL_1>. " + FILLER * 6,
                    },
                }
            ]
        }
    )
    pieces = ["Sure, <NA", "ME_1> at <EM", "AIL_1>, ok.", " and more t", "ext here."]
    chunks = [
        b"data: "
        + orjson.dumps(
            {
                "id": "c",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "m",
                "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}],
            }
        )
        + b"\n\n"
        for p in pieces
    ]
    clean_ctx = FilterContext()
    f.run(clean, clean_ctx)

    def stream() -> None:
        for c in chunks:
            f.run(c, ctx)

    def stream_clean() -> None:
        for c in chunks:
            f.run(c, clean_ctx)

    return {
        "reference: orjson.loads of the 1 KB body": lambda: orjson.loads(clean),
        "input 1 KB clean": lambda: f.run(clean, FilterContext()),
        "input 1 KB, 6 PII": lambda: f.run(dirty, FilterContext()),
        "input 10 KB, 6 PII": lambda: f.run(big, FilterContext()),
        "output whole 1 KB": lambda: f.run(answer, ctx),
        "output chunk (x5)": stream,
        "output chunk, nothing to restore (x5)": stream_clean,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.set_event_loop(None)
    table = cases()
    results: dict[str, list[float]] = {k: [] for k in table}
    for _ in range(args.rounds):
        for name, fn in table.items():
            results[name].append(timed(fn, args.n))
    for name, samples in results.items():
        per = statistics.median(samples)
        if name.endswith("(x5)"):
            print(f"{name[:-5]:40s} {per / 5:8.2f} us per chunk")
        else:
            print(f"{name:40s} {per:8.2f} us")


if __name__ == "__main__":
    main()
