"""`settle_heap`: what a worker does to the collector just before it serves."""

from __future__ import annotations

import gc

from plano.runtime.serve import GC_YOUNG_THRESHOLD, settle_heap


def test_startup_objects_are_frozen_and_young_collections_are_rarer() -> None:
    before = gc.get_threshold()
    kept = [object() for _ in range(3)] + [[] for _ in range(3)]  # tracked containers
    try:
        settle_heap()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, before[1], before[2])
        assert GC_YOUNG_THRESHOLD > 700  # CPython's default, which rescans requests in flight
        assert gc.get_freeze_count() >= len(kept)
        collected = {id(o) for o in gc.get_objects()}  # the generations the collector scans
        assert all(gc.is_tracked(x) and id(x) not in collected for x in kept[3:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
