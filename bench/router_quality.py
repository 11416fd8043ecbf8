"""How well the embedded router routes: accuracy and no-route precision / recall.

Runs every prompt of the labelled route sets (`tests/data/routing/dev.json`, written while tuning,
and `heldout.json`, written after tuning and never tuned on) through `EmbeddedRouter` with the
real MiniLM model, and prints one row per route set and the totals. A prompt is right when the
router picks its label (a route, or none for null). No-route precision: of the prompts the router
sent to the default model, how many should go there; recall: of the prompts that should, how
many did.

    .venv/bin/python bench/router_quality.py [--part dev|heldout|all] [--misses]
        [--threshold T] [--margin M] [--topic-threshold T] [--no-bank] [--legacy]

`--legacy` measures the router before issue 17 (one vector per route, the mean of name and
description, threshold 0.175) for comparison.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from plano.routing.decision import RouteChoice
from plano.routing.embedded import EmbeddedRouter
from plano.routing.no_route import RouterSettings
from plano.routing.preferences import Preference, PreferenceSet

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "routing"


@dataclass
class Tally:
    right: int = 0
    total: int = 0
    none_said: int = 0  # router answered no route
    none_right: int = 0  # ... and the label was null
    none_wanted: int = 0  # label null
    misses: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        self.right += other.right
        self.total += other.total
        self.none_said += other.none_said
        self.none_right += other.none_right
        self.none_wanted += other.none_wanted

    def row(self, name: str) -> str:
        acc = self.right / self.total if self.total else 0.0
        prec = self.none_right / self.none_said if self.none_said else 1.0
        rec = self.none_right / self.none_wanted if self.none_wanted else 1.0
        return f"| {name} | {self.total} | {self.right} | {acc:.3f} | {prec:.3f} | {rec:.3f} |"


def load_sets(part: str) -> list[dict[str, Any]]:
    parts = ["dev", "heldout"] if part == "all" else [part]
    sets: list[dict[str, Any]] = []
    for p in parts:
        for s in json.loads((DATA / f"{p}.json").read_text())["sets"]:
            sets.append({**s, "name": f"{p}/{s['name']}"})
    return sets


def preference_set(routes: list[dict[str, Any]]) -> PreferenceSet:
    return PreferenceSet.of(
        [
            Preference(
                r["name"],
                r["description"],
                (f"m/{r['name']}",),
                "none",
                tuple(r.get("examples", ())),
            )
            for r in routes
        ]
    )


class LegacyRouter:
    """The router before issue 17: mean(name, description) per route, one threshold."""

    def __init__(self) -> None:
        from plano.embedding.shared import PROCESS_MODEL

        self._model = PROCESS_MODEL.get()

    def select_sync(self, prefs: PreferenceSet, text: str) -> RouteChoice:
        import numpy as np

        names = self._model.embed([r.name.replace("_", " ") for r in prefs.routes])
        both = names + self._model.embed([r.description for r in prefs.routes])
        both /= np.linalg.norm(both, axis=1, keepdims=True)
        scores = both @ self._model.embed([text])[0]
        best = int(scores.argmax())
        if scores[best] < 0.175:
            return RouteChoice(None, "legacy:below")
        return RouteChoice(prefs.routes[best].name, "legacy")


def evaluate(router: Any, sets: list[dict[str, Any]]) -> list[tuple[str, Tally]]:
    out = []
    for s in sets:
        prefs = preference_set(s["routes"])
        t = Tally()
        for text, label in s["prompts"]:
            got = router.select_sync(prefs, text).route
            t.total += 1
            t.right += got == label
            t.none_said += got is None
            t.none_wanted += label is None
            t.none_right += got is None and label is None
            if got != label:
                t.misses.append(f"{s['name']}: {text[:70]!r} want {label} got {got}")
        out.append((s["name"], t))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["dev", "heldout", "all"], default="all")
    ap.add_argument("--threshold", type=float)
    ap.add_argument("--margin", type=float)
    ap.add_argument("--topic-threshold", type=float)
    ap.add_argument("--no-bank", action="store_true")
    ap.add_argument("--legacy", action="store_true")
    ap.add_argument("--misses", action="store_true")
    args = ap.parse_args()
    base = RouterSettings()
    settings = RouterSettings(
        base.threshold if args.threshold is None else args.threshold,
        base.margin if args.margin is None else args.margin,
        base.topic_threshold if args.topic_threshold is None else args.topic_threshold,
        not args.no_bank,
    )
    router: Any = LegacyRouter() if args.legacy else EmbeddedRouter(settings)
    results = evaluate(router, load_sets(args.part))
    print(f"settings: {'legacy' if args.legacy else settings}")
    print("| route set | prompts | right | accuracy | no-route precision | no-route recall |")
    print("|---|---|---|---|---|---|")
    total = Tally()
    for name, t in results:
        print(t.row(name))
        total.add(t)
    print(total.row("**all**"))
    if args.misses:
        for _, t in results:
            for m in t.misses:
                print(m)


if __name__ == "__main__":
    main()
