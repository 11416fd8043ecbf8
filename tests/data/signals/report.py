"""Precision and recall of the signal analysers over the labelled corpora, per category.

    PYTHONPATH=src python tests/data/signals/report.py [corpus.jsonl ...]

Counts are over (conversation, leaf type) pairs: a leaf expected and found is a true positive,
found but not expected a false positive, expected but not found a false negative. Without
arguments both corpora are reported (corpus.jsonl, then the held-out corpus_holdout.jsonl).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from plano.signals import CATEGORIES, analyse

HERE = Path(__file__).parent


@dataclass
class Tally:
    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    conversations: int = 0
    exact: int = 0
    quality_ok: int = 0


def _category(leaf: str) -> str:
    return leaf.rsplit(".", 1)[0]


def tally(path: Path) -> Tally:
    t = Tally()
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        report = analyse(record["messages"], shape=record["shape"])
        got, want = set(report.types()), set(record["expected"])
        t.conversations += 1
        t.exact += got == want
        t.quality_ok += report.quality == record["quality"]
        for leaf in got & want:
            t.tp[_category(leaf)] += 1
        for leaf in got - want:
            t.fp[_category(leaf)] += 1
        for leaf in want - got:
            t.fn[_category(leaf)] += 1
    return t


def _ratio(num: int, den: int) -> str:
    return f"{num / den:.2f}" if den else "  - "


def table(t: Tally) -> str:
    rows = ["| category | TP | FP | FN | precision | recall |", "|---|---:|---:|---:|---:|---:|"]
    for layer, cat in [*CATEGORIES, ("all", "")]:
        key = f"{layer}.{cat}"
        if layer == "all":
            tp, fp, fn = (sum(c.values()) for c in (t.tp, t.fp, t.fn))
            key = "**all**"
        else:
            tp, fp, fn = t.tp[key], t.fp[key], t.fn[key]
        p, r = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
        rows.append(f"| {key} | {tp} | {fp} | {fn} | {p} | {r} |")
    rows.append("")
    rows.append(
        f"{t.conversations} conversations; exact leaf set {t.exact}/{t.conversations}; "
        f"quality bucket {t.quality_ok}/{t.conversations}"
    )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or [HERE / "corpus.jsonl", HERE / "corpus_holdout.jsonl"]
    for path in paths:
        print(f"### {path.name}\n")
        print(table(tally(path)))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
