"""What the guard adds per request through the gateway (p50, p95), alone and beside routing.

Four in-process gateways in front of the same fake upstream: no guard; the guard alone
(`prompt_guards`, i.e. a `type: guard` filter at the front of the input chain); the embedded
router alone (`routing_preferences`); guard + embedded router (they share the request's
embedding when the router reads `ctx.embeddings`). The same sequential requests (benign user
prompts of our hand-written guard set, so every one reaches the upstream) go to each gateway in
turn, in interleaved rounds so machine noise hits all variants alike. The gateway's own
`x-plano-overhead-ms` header (upstream wait excluded) is collected, and the model's ORT runs per
request (1.00 for guard + router when they share the embedding; requests a rule of weight 1
blocks are not embedded at all).

    PYTHONPATH=src .venv/bin/python bench/guard_latency.py [--requests 300] [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from plano.config import load_config_text
from plano.embedding.shared import PROCESS_MODEL
from plano.mock.testing import run_mock_in_thread
from plano.runtime.serve import gateway_in_thread

ROOT = Path(__file__).resolve().parents[1]
TRICKY = ROOT / "tests" / "data" / "guard" / "tricky.jsonl"
ROUTES = """
routing_preferences:
  - {name: code generation, description: "writing new code, functions or programs", models: [openai/gpt-4o]}
  - {name: summarization, description: "summarising documents, articles or text", models: [openai/gpt-4o]}
  - {name: translation, description: "translating text between languages", models: [openai/gpt-4o]}
routing: {router: {type: embedded}}
"""  # noqa: E501
GUARD = """
prompt_guards:
  input_guards:
    jailbreak:
      on_exception: {message: blocked}
"""
VARIANTS = {"none": "", "guard": GUARD, "router": ROUTES, "guard+router": GUARD + ROUTES}


def config(base_url: str, extra: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    base_url: {base_url}
  - model: openai/gpt-4o-mini
    access_key: k
    base_url: {base_url}
    default: true
{extra}
"""


def prompts() -> list[str]:
    rows = [json.loads(line) for line in TRICKY.read_text("utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows if r["label"] == 0 and r["where"] == "user"]


def overheads(url: str, texts: list[str], start: int, n: int) -> list[float]:
    out: list[float] = []
    for i in range(start, start + n):
        body = json.dumps(
            {
                "model": "openai/gpt-4o-mini",
                "messages": [{"role": "user", "content": texts[i % len(texts)]}],
            }
        ).encode()
        req = urllib.request.Request(
            f"{url}/v1/chat/completions", data=body, headers={"content-type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                resp.read()
                out.append(float(resp.headers["x-plano-overhead-ms"]))
        except urllib.error.HTTPError as err:  # a benign prompt the guard blocks (a false
            err.close()  # positive of the set): not a routed request, not counted
    return out


def bare(texts: list[str], n: int) -> tuple[list[float], list[float]]:
    """The guard's own work per text, no HTTP: rules + embedding (a fresh memo) + head; wall
    and CPU (this thread's) time in ms. CPU time is what a busy machine does not inflate."""
    import numpy as np

    from plano.embedding.memo import EmbeddingMemo
    from plano.filters.guard import shipped_head
    from plano.filters.guard.rules import match

    head = shipped_head()
    EmbeddingMemo().embed_sync(["warm up"])
    wall, cpu = [], []
    for i in range(n):
        text = texts[i % len(texts)]
        t, c = time.perf_counter(), time.thread_time()
        match(text)
        head.scores(np.stack(EmbeddingMemo().embed_sync([text])), [text])
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.thread_time() - c) * 1000)
    return wall, cpu


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[18]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=300, help="per variant")
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args()
    texts = prompts()
    per_round = max(1, args.requests // args.rounds)
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with run_mock_in_thread() as mock, ExitStack() as stack:
        urls = {}
        for name, extra in VARIANTS.items():
            cfg = load_config_text(config(mock.base_url, extra), source="bench.yaml", env={})
            urls[name] = stack.enter_context(gateway_in_thread(cfg)).url()
            overheads(urls[name], texts, 0, 20)  # warm-up (and the model's load)
        model = PROCESS_MODEL.get()  # every gateway of this process shares it
        runs = dict.fromkeys(VARIANTS, 0)
        for r in range(args.rounds):
            for name, url in urls.items():
                before = model.runs
                results[name] += overheads(url, texts, r * per_round, per_round)
                runs[name] += model.runs - before
    base = statistics.median(results["none"])
    routed = statistics.median(results["router"])
    sent = per_round * args.rounds
    print(f"requests per variant: {sent} ({args.rounds} interleaved rounds)")
    print(f"{'variant':<14} {'p50 ms':>8} {'p95 ms':>8} {'added p50':>10} {'ORT runs/req':>13}")
    for name, values in results.items():
        p50 = statistics.median(values)
        per = runs[name] / sent
        print(
            f"{name:<14} {p50:8.3f} {p95(values):8.3f} {p50 - base:10.3f} {per:13.2f}"
            f"  ({len(values)} answered)"
        )
    both = statistics.median(results["guard+router"])
    print(f"guard on top of routing (p50 diff): {both - routed:.3f} ms")
    wall, cpu = bare(texts, args.requests)
    print(f"bare guard (rules + MiniLM + head) p50/p95 wall: {statistics.median(wall):.3f} / "
          f"{p95(wall):.3f} ms; CPU: {statistics.median(cpu):.3f} / {p95(cpu):.3f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
