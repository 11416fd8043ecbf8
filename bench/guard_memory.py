"""Experiments for issue 17's bar beyond `guard_experiments.py`: a memory (nearest-neighbour)
term over the training rows' embeddings, character n-grams beside the word n-grams, and more
training rows of ours; each stacked on the MLP's out-of-fold logits like the shipped n-gram term
and scored by `train_guard.py`'s own pipeline (threshold and mix chosen on validation).

Build time only. Reads the feature cache of `guard_experiments.py` (built on first use).

    PYTHONPATH=src:bench python bench/guard_memory.py --cache /tmp/guard-feat [VARIANT ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import guard_experiments as ge
import plano.filters.guard.head as head_module
import train_guard as tg
from guard_corpora import SEED
from plano.filters.guard.ngrams import features as word_features

F32 = tg.F32
F64 = tg.F64


def kmeans(x: F32, k: int, iters: int = 15) -> F32:
    """Spherical k-means (seeded): `k` unit centroids of the unit rows `x` (all rows when fewer)."""
    if len(x) <= k:
        return x.copy()
    rng = np.random.default_rng(SEED)
    c = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(iters):
        a = np.argmax(x @ c.T, axis=1)
        for j in range(k):
            m = x[a == j]
            if len(m):
                s = m.sum(0)
                c[j] = s / max(float(np.linalg.norm(s)), 1e-12)
    return c


def memory_of(x: F32, y: F64, per_class: int, loss: F64 | None = None) -> tuple[F32, F64]:
    """Prototypes and their labels: per class, k-means centroids (`per_class` > 0), the
    `-per_class` rows of largest `loss` (when given), or every row."""
    out, lab = [], []
    for cls in (0.0, 1.0):
        rows = x[y == cls]
        if per_class < 0 and loss is not None:
            p = rows[np.sort(np.argsort(-loss[y == cls], kind="stable")[:-per_class])]
        elif per_class < 0:
            pick = np.random.default_rng(SEED).choice(len(rows), -per_class, replace=False)
            p = rows[np.sort(pick)]
        else:
            p = kmeans(rows, per_class) if per_class > 0 else rows
        out.append(p)
        lab.append(np.full(len(p), cls))
    return np.vstack(out).astype(np.float32), np.concatenate(lab)


def quantised(p: F32) -> F32:
    """The prototypes as the head file would keep them: int8 with one scale per row."""
    scale = np.abs(p).max(1, keepdims=True) / 127
    q: F32 = (np.round(p / scale) * scale).astype(np.float32)
    return q


AB: dict[str, bool] = {"on": False}  # the columns: (attack, benign) top-1, not their difference


def knn_features(v: F32, mem: F32, lab: F64, k: int) -> F64:
    """Per row of `v`: mean of the top-`k` cosines to attack prototypes minus the same for benign
    ones, and the top-1 of each."""
    s = v @ mem.T
    cols = []
    tops = []
    for cls in (1.0, 0.0):
        sc = s[:, lab == cls]
        kk = min(k, sc.shape[1])
        top = -np.sort(-sc, axis=1)[:, :kk]
        cols.append(top.mean(1))
        tops.append(top[:, 0])
    if AB["on"]:
        return np.stack([tops[0], tops[1]], axis=1).astype(np.float64)
    return np.stack([cols[0] - cols[1], tops[0] - tops[1]], axis=1).astype(np.float64)


def oof_knn(x: F32, y: F64, per_class: int, k: int, loss: F64 | None, folds: int = tg.FOLDS) -> F64:
    fold = np.random.default_rng(SEED).integers(0, folds, len(y))  # as tg.out_of_fold
    out = np.zeros((len(y), 2))
    for f in range(folds):
        rest = fold != f
        mem, lab = memory_of(x[rest], y[rest], per_class, None if loss is None else loss[rest])
        out[fold == f] = knn_features(x[fold == f], quantised(mem), lab, k)
    return out


def char_features(text: str, sizes: tuple[int, ...] = (3, 4, 5)) -> set[str]:
    t = " ".join(text.lower().split())
    out = word_features(text)
    for n in sizes:
        out.update("#" + t[i : i + n] for i in range(max(0, len(t) - n + 1)))
    return out


@dataclass
class StackedHead:
    """The MLP logit × a + c × (term over features + dense memory term)."""

    mlp: head_module.Head
    table: dict[str, float]
    bias: float
    featurise: Any
    a: float
    c: float
    mem: F32 | None = None
    lab: F64 | None = None
    k: int = 1
    mu: F64 | None = None
    sd: F64 | None = None
    wd: F64 | None = None

    proj: Any = None

    def scores(self, v: F32, texts: list[str]) -> list[float]:
        v_mem = v if self.proj is None else self.proj(v)
        p = np.clip(np.array(self.mlp.scores(v)), 1e-12, 1 - 1e-12)
        z = np.log(p / (1 - p)) * self.a
        t = np.array([self.bias + sum(self.table.get(f, 0.0) for f in self.featurise(s))
                      for s in texts])  # fmt: skip
        if self.mem is not None and self.lab is not None and self.wd is not None:
            d = (knn_features(v_mem, self.mem, self.lab, self.k) - self.mu) / self.sd
            t = t + d @ self.wd
        z = z + self.c * t
        return [float(q) for q in 1 / (1 + np.exp(-z))]


def with_missing(
    store: Path, index: dict[str, int], x_all: F32, texts: list[str]
) -> tuple[dict[str, int], F32]:
    """The cache plus the texts it lacks (our newer training rows), embedded by MiniLM."""
    missing = sorted({t for t in texts if t not in index})
    if not missing:
        return index, x_all
    path = store / "extra.json"
    known = json.loads(path.read_text("utf-8")) if path.exists() else {}
    todo = [t for t in missing if t not in known]
    if todo:
        from plano.embedding.model import MiniLM

        known.update(zip(todo, MiniLM().embed(todo).tolist(), strict=True))
        path.write_text(json.dumps(known), "utf-8")
    index = {**index, **{t: len(x_all) + i for i, t in enumerate(missing)}}
    return index, np.vstack([x_all, np.array([known[t] for t in missing], np.float32)])


def base(store: Path, x: F32, y: F64, weights: F64, key: str) -> tuple[dict[str, Any], F64]:
    """The full MLP and the out-of-fold logits (kept on disk: they are deterministic)."""
    path = store / f"base-{key}.json"
    if path.exists():
        d = json.loads(path.read_text())
        return d["doc"], np.array(d["oof"])
    doc = tg.fit_mlp(x, y, weights)
    oof = tg.out_of_fold(x, y, weights)
    path.write_text(json.dumps({"doc": doc, "oof": oof.tolist()}))
    return doc, oof


VARIANTS: dict[str, dict[str, Any]] = {
    "stacked": {},
    "knn-all-k1": {"per_class": 0, "k": 1},
    "knn-all-k5": {"per_class": 0, "k": 5},
    "knn-512-k1": {"per_class": 512, "k": 1},
    "chars": {"chars": True},
    "short": {"short": True, "base": "short"},
    "memory": {"memory": True},
    "memory+short": {"memory": True, "short": True, "base": "short"},
    "knn-sign": {"per_class": 0, "k": 1, "sign": True},
    "knn-sign-ab": {"per_class": 0, "k": 1, "sign": True, "ab": True},
    "knn-sign-k3": {"per_class": 0, "k": 3, "sign": True},
    "knn-pca64": {"per_class": 0, "k": 1, "pca": 64},
    "knn-pca32": {"per_class": 0, "k": 1, "pca": 32},
    "knn-hard-1000": {"per_class": -1000, "k": 1, "hard": True},
    "knn-hard-2000": {"per_class": -2000, "k": 1, "hard": True},
    "knn-random-2000": {"per_class": -2000, "k": 1},
}


def run(store: Path, name: str) -> dict[str, Any]:
    opts = VARIANTS[name]
    index, x_all = ge.features(store, "mean")
    train, validation, held, mine = tg.datasets(short=opts.get("short", False))
    index, x_all = with_missing(store, index, x_all, [t for t, _ in train])
    tg.embed = lambda _model, texts: x_all[[index[t] for t in texts]]
    texts = [t for t, _ in train]
    y = tg.labels(train)
    weights = np.array([tg.OURS_WEIGHT if t in mine else 1.0 for t in texts])
    x = x_all[[index[t] for t in texts]]
    doc, oof = base(store, x, y, weights, opts.get("base", "shipped"))
    mlp = head_module.head_of({**doc, "threshold": 0.5})
    featurise = char_features if opts.get("chars") else word_features
    dense = mem = lab = mu = sd = None
    k = opts.get("k", 1)
    proj = None
    AB["on"] = bool(opts.get("ab"))
    if "per_class" in opts:
        xm = x
        if "pca" in opts:
            centre = x.mean(0)
            basis = np.linalg.svd(x - centre, full_matrices=False)[2][: opts["pca"]].T

            def proj(v: F32) -> F32:
                z = (v - centre) @ basis
                return ge.unit(z.astype(np.float32))

            xm = proj(x)
        if opts.get("sign"):
            centre = x.mean(0)

            def proj(v: F32) -> F32:
                out: F32 = (np.where(v >= centre, 1.0, -1.0) / np.sqrt(v.shape[1])).astype(
                    np.float32
                )
                return out

            xm = proj(x)
        loss = None
        if opts.get("hard"):
            loss = np.log1p(np.exp(-(2 * y - 1) * oof))
        raw = oof_knn(xm, y, opts["per_class"], k, loss)
        mu, sd = raw.mean(0), raw.std(0) + 1e-9
        dense = (raw - mu) / sd
        mem, lab = memory_of(xm, y, opts["per_class"], loss)
        mem = mem if opts.get("sign") else quantised(mem)
    tg.NGRAM_KEEP = opts.get("keep", 4000)
    tg.features = featurise  # the n-gram term's features (`chars`: with character n-grams)
    if opts.get("memory"):  # the shipped recipe, through train_guard's own functions
        return shipped(name, x, y, texts, weights, oof, doc, validation, held)
    table, nbias, wd = tg.fit_ngrams(texts, y, weights, offset=oof, dense=dense)
    tried = {}
    model: Any = None
    for a, c in tg.STACKED_MIXES:
        h = StackedHead(mlp, table, nbias, featurise, a, c, mem, lab, k, mu, sd, wd, proj)
        t = tg.choose_threshold(model, h, validation)  # type: ignore[arg-type]
        acc = tg.report_on(model, h, t, validation)["all"]["head+rules"]["accuracy"]  # type: ignore[arg-type]
        tried[(a, c)] = acc
    mix = max(tried, key=tried.__getitem__)
    h = StackedHead(mlp, table, nbias, featurise, *mix, mem, lab, k, mu, sd, wd, proj)
    report = tg.evaluate(model, h, held, validation)  # type: ignore[arg-type]
    return {
        "variant": name,
        "mix": f"{mix[0]:g},{mix[1]:g}",
        "dense_w": None if wd is None else [round(float(v), 3) for v in wd],
        "prototypes": None if mem is None else len(mem),
        "threshold": report["threshold"],
        "validation": report["validation"]["all"]["head+rules"],
        "held-out": report["held-out"]["all"]["head+rules"],
        "held-out parts": {k2: v["head+rules"]["accuracy"] for k2, v in report["held-out"].items()},
        "hand-written": report["hand-written"]["head+rules"],
    }


def shipped(
    name: str,
    x: F32,
    y: F64,
    texts: list[str],
    weights: F64,
    oof: F64,
    doc: dict[str, Any],
    validation: dict[str, tg.Rows],
    held: dict[str, tg.Rows],
) -> dict[str, Any]:
    """`train_guard.main`'s stacked head with the memory term, from the cached MLP."""
    table, nbias, memory = tg.fit_memory_term(x, y, texts, weights, oof)
    tried = {}
    for a, c in tg.STACKED_MIXES:
        h = head_module.head_of({**tg.mixed(doc, table, nbias, a, c, memory), "threshold": 0.5})
        t = tg.choose_threshold(None, h, validation)  # type: ignore[arg-type]
        tried[(a, c)] = tg.report_on(None, h, t, validation)["all"]["head+rules"]["accuracy"]  # type: ignore[arg-type]
    mix = max(tried, key=tried.__getitem__)
    h = head_module.head_of({**tg.mixed(doc, table, nbias, *mix, memory), "threshold": 0.5})
    report = tg.evaluate(None, h, held, validation)  # type: ignore[arg-type]
    return {
        "variant": name,
        "mix": f"{mix[0]:g},{mix[1]:g}",
        "threshold": report["threshold"],
        "validation": report["validation"]["all"]["head+rules"],
        "held-out": report["held-out"]["all"]["head+rules"],
        "held-out parts": {k: v["head+rules"]["accuracy"] for k, v in report["held-out"].items()},
        "hand-written": report["hand-written"]["head+rules"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("variants", nargs="*")
    args = ap.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if not (args.cache / "features.npz").exists():
        print("embedding every text once …", file=sys.stderr)
        ge.build_cache(args.cache)
    for name in args.variants or VARIANTS:
        print(json.dumps(run(args.cache, name)), flush=True)


if __name__ == "__main__":
    main()
