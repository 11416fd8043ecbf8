"""Fuzz the gateway's request decoders and translators: mutated bodies for every client dialect ×
upstream dialect pair, sent through a real gateway to the mock upstreams; count the 5xx.

    PYTHONPATH=src python bench/fuzz_inputs.py [--cases 100000] [--seed 1] [--show 5]

Each case takes a valid request of the client's dialect (`tests/fuzz/bodies.py`), sets the
pair's model and a stream flag, picks one JSON path of it at random (top-level fields, nested
members and array elements alike) and replaces the value there with a value of another type
(null, bool, numbers huge and negative, strings, arrays, objects, 40 levels of nesting). A
tenth of the cases mutate two paths; a tenth go to the routing decision API (`/routing/v1/...`)
instead, and a tenth to the agent listener (its orchestrator and its agent are the mock too);
a tenth of the Anthropic Messages cases go to `/v1/messages/count_tokens`.
The gateway must answer each with anything but a 5xx of its own (the mock is never scripted to
fail, so every 5xx counts). Prints the cases run, the status classes seen and the 5xx found,
with the first few bodies that caused one; exits 1 if
any. The run is deterministic for a seed.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzz.bodies import (
    COUNT_PATH,
    PATHS,
    SEEDS,
    WRONG_VALUES,
    body_for,
    encode,
    leaves,
    mutate,
)
from tests.fuzz.harness import PAIRS, Client, fuzz_gateway


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--show", type=int, default=5, help="bodies of 5xx answers to print")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    statuses: Counter[str] = Counter()
    per_pair: Counter[str] = Counter()
    targets: Counter[str] = Counter()
    found: list[tuple[str, int, bytes, bytes]] = []
    started = time.perf_counter()
    with fuzz_gateway() as (_mock, gw):
        client, agents = Client(gw.port()), Client(gw.port("agent"))
        for _ in range(args.cases):
            pair = rng.choice(PAIRS)
            seed = rng.choice(SEEDS[pair.client])
            doc = body_for(seed, pair.model, rng.random() < 0.5)
            for _ in range(2 if rng.random() < 0.1 else 1):
                doc = mutate(doc, rng.choice(leaves(doc)), rng.choice(WRONG_VALUES))
            body = encode(doc)
            path, to, target = PATHS[pair.client], client, "model listener"
            dice = rng.random()
            if dice < 0.1:  # the routing decision API reads the same bodies
                path, target = "/routing" + path, "routing API"
            elif dice < 0.2:  # and so does the agent listener
                to, target = agents, "agent listener"
            elif dice < 0.3 and pair.client == "anthropic_messages":
                path, target = COUNT_PATH, "count_tokens"
            targets[target] += 1
            status, answer = to.post(path, body)
            statuses[f"{status // 100}xx"] += 1
            per_pair[pair.id] += 1
            if status >= 500:
                found.append((pair.id, status, body, answer))
        client.close()
        agents.close()
    elapsed = time.perf_counter() - started
    print(f"cases run: {args.cases} over {len(PAIRS)} client x upstream pairs (seed {args.seed})")
    print("per pair: " + ", ".join(f"{k} {v}" for k, v in sorted(per_pair.items())))
    print("targets: " + ", ".join(f"{k} {v}" for k, v in sorted(targets.items())))
    print("statuses: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())))
    print(f"5xx found: {len(found)}   ({elapsed:.0f} s, {args.cases / elapsed:.0f} cases/s)")
    for pair_id, status, body, answer in found[: args.show]:
        print(f"  {pair_id} {status}: {body[:300]!r}\n    -> {answer[:200]!r}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
