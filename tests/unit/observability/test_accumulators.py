"""Accumulators push into prometheus-client exactly what direct calls would have recorded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Histogram

from plano.observability.accumulators import Accumulators

BOUNDS = (0.1, 0.5, 1.0)


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }


@given(st.lists(st.floats(min_value=0, max_value=5, allow_nan=False), max_size=30))
def test_hist_flush_equals_direct_observations(values: list[float]) -> None:
    ours, direct = CollectorRegistry(), CollectorRegistry()
    h = Histogram("h", "h", ("k",), buckets=BOUNDS, registry=ours)
    d = Histogram("h", "h", ("k",), buckets=BOUNDS, registry=direct)
    acc = Accumulators()
    hist = acc.hist(h.labels("a"), BOUNDS)
    half = len(values) // 2
    for v in values[:half]:
        hist.observe(v)
    acc.flush()  # twice: what a flush pushed is not pushed again
    for v in values[half:]:
        hist.observe(v)
    acc.flush()
    child = d.labels("a")
    for v in values:
        child.observe(v)
    got, want = samples(ours), samples(direct)
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert abs(got[key] - value) < 1e-9, key


def test_labelled_counts_share_one_accumulator_per_label_values() -> None:
    registry = CollectorRegistry()
    counter = Counter("c", "c", ("outcome",), registry=registry)
    acc = Accumulators()
    acc.labelled(counter, "hit").n += 2
    acc.labelled(counter, "hit").n += 1
    acc.labelled(counter, "miss").n += 1
    assert registry.get_sample_value("c_total", {"outcome": "hit"}) == 0  # not flushed yet
    acc.flush()
    acc.flush()
    assert registry.get_sample_value("c_total", {"outcome": "hit"}) == 3
    assert registry.get_sample_value("c_total", {"outcome": "miss"}) == 1
