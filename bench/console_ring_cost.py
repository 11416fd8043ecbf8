"""CPU cost of the web console's ring per request in a tight loop, in microseconds.

    python bench/console_ring_cost.py [--n 20000] [--rounds 5]

- `closed`: `ConsoleRing.write` of a finished chat record (routing noted, usage, cost) while no
  console is open: the record is kept in a bounded deque, nothing else;
- `open`: the same while a console is open (a ring file in a directory, as with workers): the
  record is also written into the ring as compact JSON;
- `open+signals`: the same, the record carrying a flagged signals report (3 instances);
- `read`: what the admin listener pays to read and expand one full ring (1024 entries), per
  entry (a poll reads only the entries written since the last one, at most 200).

Prints the median of the rounds. `bench/ab.py console` measures the whole thing in a serving
gateway, console polling included (docs/console.md).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable

from plano.observability.console_ring import ConsoleRing
from plano.observability.record import RequestRecord, RoutingNote
from plano.observability.signals_note import SignalsNote

MS = 1_000_000


def record(signals: bool) -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.handler, r.client_api, r.request_id = "llm_chat", "openai", "c85f3f254e8dc8200000000000000001"
    r.requested_model, r.model, r.provider, r.route = (
        "fast",
        "openai/gpt-4o-mini",
        "openai",
        "alias",
    )
    r.router = RoutingNote("llm")
    r.router.selected, r.router.duration_ns = "openai/gpt-4o-mini", 2 * MS
    r.upstream_sent, r.upstream_headers = r.start + MS, r.start + 40 * MS
    r.upstream_done, r.end = r.start + 41 * MS, r.start + 42 * MS
    r.status, r.upstream_status, r.attempts = 200, 200, 1
    r.note_usage(1200, 300, 0)
    r.cost_usd = 0.000123
    if signals:
        r.signals = SignalsNote(
            quality="severe",
            score=0.0,
            turn_count=3,
            efficiency=0.4,
            flagged=True,
            categories=(
                ("interaction", "misalignment", 1, 2),
                ("interaction", "disengagement", 1, 3),
            ),
            instances=(
                ("interaction.misalignment.correction", 8, 1.0, "No, I meant Paris in Texas", "{}"),
                ("interaction.disengagement.escalation", 10, 1.0, "Let me talk to a human", "{}"),
                ("execution.loops.retry", 5, 0.9, 'search_flights({"city":"Paris"})', "{}"),
            ),
        )
    return r


def per_call_us(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return (time.perf_counter_ns() - start) / n / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    plain, flagged = record(False), record(True)
    with tempfile.TemporaryDirectory(prefix="plano-ring-") as tmp:
        closed, file = ConsoleRing(), ConsoleRing(directory=tmp)
        cases: dict[str, Callable[[], object]] = {
            "closed": lambda: closed.write(plain),
            "open": lambda: file.write(plain),
            "open+signals": lambda: file.write(flagged),
        }
        results: dict[str, list[float]] = {name: [] for name in (*cases, "read")}
        for _ in range(args.rounds):
            file.looked_at()  # a console is open for the next 10 s
            for name, fn in cases.items():
                results[name].append(per_call_us(fn, args.n))
            full = per_call_us(file.read, 20)
            results["read"].append(full / file.slots)
        file.close()
    for name, values in results.items():
        unit = "per entry read" if name == "read" else "per request"
        print(f"{name:>12}: {statistics.median(values):6.2f} µs {unit}")


if __name__ == "__main__":
    main()
