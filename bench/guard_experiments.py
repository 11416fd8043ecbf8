"""Variants of the guard head, scored by `train_guard.py`'s own pipeline (data, split, threshold
choice on validation, held-out and hand-written report), on features kept in one cache.

Build time only. The first run embeds every text the trainer uses (training, validation,
held-out, hand-written, and their windows) with the gateway's MiniLM, in one ORT run per 32
texts of like length, and keeps three poolings of the same forward pass: the mean over the
tokens (the gateway's embedding), the maximum over the tokens, and the first token's state
(CLS). Later runs read the cache. Each variant prints one JSON line: the mix and threshold chosen
on validation, validation, held-out and hand-written accuracy / TPR / FPR (head + rules).

    PYTHONPATH=src python bench/guard_experiments.py --cache /tmp/guard-feat [VARIANT ...]

A variant is a name of `VARIANTS` (default: all of them). Each MLP fit takes about a minute of
CPU here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

import plano.filters.guard.head as head_module
import train_guard as tg
from plano.embedding.model import MiniLM
from plano.filters.guard.segments import chunks

# name → (features, fit options); `stacked` is the shipped head's recipe, `apart` the one before
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "apart": ("mean", {}),
    "mean+max": ("mean+max", {}),
    "mean+max-standardised": ("mean+maxstd", {}),
    "mean+cls": ("mean+cls", {}),
    "mean+length": ("mean+len", {}),
    "width-128": ("mean", {"width": 128}),
    "epochs-20": ("mean", {"epochs": 20}),
    "ngrams-8000": ("mean", {"keep": 8000}),
    "ours-x9": ("mean", {"ours_weight": 9.0}),
    "linear": ("mean", {"head": "linear"}),
    "linear-l2-0.1": ("mean", {"head": "linear", "l2": 0.1}),
    "linear-mean+max": ("mean+max", {"head": "linear"}),
    "stacked": ("mean", {"stacked": True}),
    "stacked-3-folds": ("mean", {"stacked": True, "folds": 3}),
    "stacked-ngrams-8000": ("mean", {"stacked": True, "keep": 8000}),
}


def all_texts() -> list[str]:
    train, validation, held, _ = tg.datasets()
    texts = [t for t, _ in train]
    for parts in (validation, held):
        texts += [t for rows in parts.values() for t, _ in rows]
    texts += [r["text"] for r in tg.tricky()]
    return sorted({w for t in texts for w in chunks(t, tg.MAX_CHUNKS)}, key=len)


def build_cache(store: Path) -> None:
    """Embed every text once: mean, max and CLS pooling of the same run, and token counts."""
    texts = all_texts()
    model = MiniLM()
    encoded = [model._tokenizer.encode(t).ids for t in texts]  # same cut as the gateway
    n = len(texts)
    pooled = {k: np.zeros((n, 384), np.float32) for k in ("mean", "max", "cls")}
    tokens = np.array([len(ids) for ids in encoded], np.int32)
    for start in range(0, n, 32):  # texts are sorted by length: little padding
        rows = list(range(start, min(start + 32, n)))
        ids = np.zeros((len(rows), int(tokens[rows].max())), np.int64)
        mask = np.zeros_like(ids)
        for r, i in enumerate(rows):
            ids[r, : tokens[i]] = encoded[i]
            mask[r, : tokens[i]] = 1
        hidden = model._run(ids, mask)
        keep = mask[:, :, None] > 0
        pooled["mean"][rows] = (hidden * keep).sum(1) / keep.sum(1)
        pooled["max"][rows] = np.where(keep, hidden, -np.inf).max(1)
        pooled["cls"][rows] = hidden[:, 0]
    np.savez(store / "features.npz", tokens=tokens, **pooled)
    (store / "texts.json").write_text(json.dumps(texts), "utf-8")


def unit(a: tg.F32) -> tg.F32:
    out: tg.F32 = (a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)).astype(
        np.float32
    )
    return out


def features(store: Path, kind: str) -> tuple[dict[str, int], tg.F32]:
    z = np.load(store / "features.npz")
    parts = [unit(z["mean"])]
    if "maxstd" in kind:  # standardised per dimension, scaled to a unit-norm-like size
        m = z["max"]
        parts.append(((m - m.mean(0)) / (m.std(0) + 1e-6) / np.sqrt(m.shape[1])).astype(np.float32))
    elif "max" in kind:
        parts.append(unit(z["max"]))
    if "cls" in kind:
        parts.append(unit(z["cls"]))
    if "len" in kind:  # log token count, and "16 tokens or fewer"
        n = z["tokens"].astype(np.float32)[:, None]
        parts.append(np.hstack([np.log(n) / 5.0, (n <= 16).astype(np.float32)]))
    texts = json.loads((store / "texts.json").read_text("utf-8"))
    return {t: i for i, t in enumerate(texts)}, np.hstack(parts).astype(np.float32)


def run(store: Path, name: str) -> dict[str, Any]:
    kind, opts = VARIANTS[name]
    index, x_all = features(store, kind)
    head_module.DIMENSIONS = x_all.shape[1]  # the head loader checks the input width
    tg.embed = lambda _model, texts: x_all[[index[t] for t in texts]]  # the cache, not MiniLM
    tg.NGRAM_KEEP = opts.get("keep", 4000)
    train, validation, held, mine = tg.datasets()
    texts = [t for t, _ in train]
    y = tg.labels(train)
    ours = opts.get("ours_weight", tg.OURS_WEIGHT)
    weights = np.array([ours if t in mine else 1.0 for t in texts])
    x = x_all[[index[t] for t in texts]]
    if opts.get("head", "mlp") == "mlp":
        doc = tg.fit_mlp(x, y, weights, opts.get("width", tg.HIDDEN), opts.get("epochs", 40))
    else:
        w, b = tg.fit(x, y, l2=opts.get("l2", tg.L2), weights=weights)
        doc = tg.linear_doc(w, b)
    folds = opts.get("folds", tg.FOLDS)
    offset = tg.out_of_fold(x, y, weights, folds) if opts.get("stacked") else None
    table, nbias, _ = tg.fit_ngrams(texts, y, weights, offset=offset)
    model: Any = None  # tg.embed above never reads it
    tried = {}
    mixes = tg.STACKED_MIXES if opts.get("stacked") else tg.MIXES
    for a, c in mixes:  # as train_guard.main: the best validation accuracy
        head = head_module.head_of({**tg.mixed(doc, table, nbias, a, c), "threshold": 0.5})
        t = tg.choose_threshold(model, head, validation)
        tried[(a, c)] = tg.report_on(model, head, t, validation)["all"]["head+rules"]["accuracy"]
    mix = max(tried, key=tried.__getitem__)
    head = head_module.head_of({**tg.mixed(doc, table, nbias, *mix), "threshold": 0.5})
    report = tg.evaluate(model, head, held, validation)
    return {
        "variant": name,
        "mix": f"{mix[0]:g},{mix[1]:g}",
        "threshold": report["threshold"],
        "validation": report["validation"]["all"]["head+rules"],
        "held-out": report["held-out"]["all"]["head+rules"],
        "hand-written": report["hand-written"]["head+rules"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True, help="the features are kept here")
    ap.add_argument("variants", nargs="*", help=f"of: {', '.join(VARIANTS)} (default: all)")
    args = ap.parse_args()
    unknown = set(args.variants) - set(VARIANTS)
    if unknown:
        ap.error(f"unknown variants: {', '.join(sorted(unknown))}")
    args.cache.mkdir(parents=True, exist_ok=True)
    if not (args.cache / "features.npz").exists():
        print("embedding every text once …", file=sys.stderr)
        build_cache(args.cache)
    for name in args.variants or VARIANTS:
        print(json.dumps(run(args.cache, name)), flush=True)


if __name__ == "__main__":
    main()
