"""Metric samples not yet pushed into prometheus-client.

Finishing a request only adds to plain Python numbers, one accumulator per label combination of a
metric family (a histogram observation is one bisect and two additions); `Accumulators.flush`
pushes them into their prometheus-client children. `PrometheusMetrics` and `RoutingFamilies` make
their accumulators here and flush them together.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Protocol

from prometheus_client import Counter, Histogram


class Incrementable(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Count:
    """A counter (or a gauge's change) not yet pushed to its prometheus-client child."""

    __slots__ = ("child", "n")

    def __init__(self, child: Incrementable) -> None:
        self.child = child
        self.n: float = 0  # an int, but for USD counters

    def flush(self) -> None:
        if self.n:
            pending, self.n = self.n, 0
            self.child.inc(pending)


class Hist:
    """Histogram observations not yet pushed: per-bucket counts (the last is +Inf) and a sum."""

    __slots__ = ("_bounds", "_child", "counts", "total")

    def __init__(self, child: Histogram, bounds: tuple[float, ...]) -> None:
        self._child = child
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1  # le: value <= bound
        self.total += value

    def flush(self) -> None:
        counts = self.counts
        if not any(counts):
            return
        # prometheus-client (pinned) keeps one value per bucket, non-cumulative, and the sum;
        # adding to them is what `observe` does, once per observation.
        buckets = self._child._buckets
        for i, count in enumerate(counts):
            if count:
                buckets[i].inc(count)
                counts[i] = 0
        self._child._sum.inc(self.total)
        self.total = 0.0


class Accumulators:
    """Every accumulator of one metrics sink, flushed together. Not thread-safe: make, add to
    and flush them on the event loop."""

    __slots__ = ("_labelled", "_pending")

    def __init__(self) -> None:
        self._pending: list[Count | Hist] = []
        self._labelled: dict[tuple[int, tuple[str, ...]], Count] = {}

    def count(self, child: Incrementable) -> Count:
        made = Count(child)
        self._pending.append(made)
        return made

    def hist(self, child: Histogram, bounds: tuple[float, ...]) -> Hist:
        made = Hist(child, bounds)
        self._pending.append(made)
        return made

    def labelled(self, counter: Counter, *values: str) -> Count:
        """The accumulator of `counter`'s child for `values` (label values from code or config,
        a bounded set), made on first use."""
        key = (id(counter), values)
        found = self._labelled.get(key)
        if found is None:
            found = self._labelled[key] = self.count(counter.labels(*values))
        return found

    def flush(self) -> None:
        for pending in self._pending:
            pending.flush()
