"""`plano obs`: LLM calls read from received spans, and their rollups (reference §9.4).

A span with an `llm.model` attribute is one call (the gateway's request span carries the model,
the token counts, the time to first token, the duration and, when the model has a price, the
cost). TPOT (time per output token) = (duration - TTFT) / completion tokens; tok/s = completion
tokens / (duration - TTFT) in seconds (the whole duration for a call without a TTFT). The cost is
the span's `llm.usage.total_cost_usd` when present, else what `price` says (None: unknown).

`CallBook` keeps the last `capacity` calls (thread-safe: the receiver's threads add, the view
reads) and makes a JSON-able snapshot: summary, by model, by route, recent calls.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from plano.observability import names as n
from plano.tracecollector.store import Span

RECENT: Final = 20  # calls in a snapshot's `recent`
NO_ROUTE: Final = "(none)"


@dataclass(frozen=True, slots=True)
class Usage:
    prompt: int
    completion: int
    cached: int  # cache reads (part of `prompt`)
    cache_write: int  # cache writes (part of `prompt`)


# (model, provider, usage) -> USD, or None when the model has no price.
Pricer = Callable[[str, str, Usage], float | None]


@dataclass(frozen=True, slots=True)
class Call:
    trace_id: str
    end_ns: int
    model: str
    provider: str
    route: str
    status: int  # the HTTP status the client got (0: unknown)
    error: bool
    stream: bool
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    duration_ms: float
    ttft_ms: float | None
    cost_usd: float | None

    @property
    def tpot_ms(self) -> float | None:
        if self.ttft_ms is None or self.completion_tokens <= 0:
            return None
        return max(self.duration_ms - self.ttft_ms, 0.0) / self.completion_tokens

    @property
    def tokens_per_s(self) -> float | None:
        generating = self.duration_ms - (self.ttft_ms or 0.0)
        if self.completion_tokens <= 0 or generating <= 0:
            return None
        return self.completion_tokens / (generating / 1000)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "tpot_ms": self.tpot_ms, "tokens_per_s": self.tokens_per_s}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _num(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def call_from_span(span: Span, price: Pricer | None = None) -> Call | None:
    """The call a span records, or None for a span without `llm.model`."""
    attrs = span["attributes"]
    model = attrs.get(n.ATTR_LLM_MODEL)
    if not isinstance(model, str) or not model:
        return None
    provider = attrs.get(n.ATTR_LLM_PROVIDER)
    provider = provider if isinstance(provider, str) else ""
    status = _int(attrs.get(n.ATTR_HTTP_STATUS))
    usage = Usage(
        _int(attrs.get(n.ATTR_USAGE_PROMPT)),
        _int(attrs.get(n.ATTR_USAGE_COMPLETION)),
        _int(attrs.get(n.ATTR_USAGE_CACHED)),
        _int(attrs.get(n.ATTR_USAGE_CACHE_CREATION)),
    )
    duration = _num(attrs.get(n.ATTR_LLM_DURATION_MS))
    if duration is None:
        duration = max(span["end_ns"] - span["start_ns"], 0) / 1e6
    cost = _num(attrs.get(n.ATTR_USAGE_TOTAL_COST))
    if cost is None and price is not None and (usage.prompt or usage.completion):
        cost = price(model, provider, usage)
    route = attrs.get(n.ATTR_ROUTE_NAME)
    return Call(
        trace_id=span["trace_id"],
        end_ns=span["end_ns"],
        model=model,
        provider=provider,
        route=route if isinstance(route, str) and route else NO_ROUTE,
        status=status,
        error=span["status"] == "error" or status >= 400,
        stream=attrs.get(n.ATTR_LLM_STREAM) is True,
        prompt_tokens=usage.prompt,
        completion_tokens=usage.completion,
        cached_tokens=usage.cached,
        duration_ms=duration,
        ttft_ms=_num(attrs.get(n.ATTR_LLM_TTFT)),
        cost_usd=cost,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of the values; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(int(-(-q * len(ordered) // 100)), 1)  # ceil(q/100 * n), at least 1
    return ordered[min(rank, len(ordered)) - 1]


def _rollup(calls: Sequence[Call]) -> dict[str, Any]:
    durations = [c.duration_ms for c in calls]
    ttfts = [c.ttft_ms for c in calls if c.ttft_ms is not None]
    costs = [c.cost_usd for c in calls if c.cost_usd is not None]
    return {
        "calls": len(calls),
        "errors": sum(1 for c in calls if c.error),
        "prompt_tokens": sum(c.prompt_tokens for c in calls),
        "completion_tokens": sum(c.completion_tokens for c in calls),
        "cached_tokens": sum(c.cached_tokens for c in calls),
        "p50_ms": percentile(durations, 50),
        "p95_ms": percentile(durations, 95),
        "ttft_p50_ms": percentile(ttfts, 50),
        # None when no call of the group has a known cost
        "cost_usd": sum(costs) if costs else None,
        "unpriced_calls": len(calls) - len(costs),
    }


def _grouped(calls: Sequence[Call], key: Callable[[Call], str], name: str) -> list[dict[str, Any]]:
    groups: dict[str, list[Call]] = {}
    for call in calls:
        groups.setdefault(key(call), []).append(call)
    rows = [{name: k, **_rollup(v)} for k, v in groups.items()]
    rows.sort(key=lambda r: (-r["calls"], r[name]))
    return rows


class CallBook:
    """The last `capacity` calls, fed from the receiver's threads (`add_spans`)."""

    def __init__(self, capacity: int = 1000, price: Pricer | None = None) -> None:
        self._calls: deque[Call] = deque(maxlen=capacity)
        self._price = price
        self._lock = threading.Lock()
        self._seen = 0
        self._changed = threading.Condition(self._lock)
        self.started = time.time()

    def set_price(self, price: Pricer | None) -> None:
        self._price = price

    def add_spans(self, spans: Iterable[Span]) -> None:
        calls = [c for s in spans if (c := call_from_span(s, self._price)) is not None]
        if not calls:
            return
        with self._lock:
            self._calls.extend(calls)
            self._seen += len(calls)
            self._changed.notify_all()

    @property
    def seen(self) -> int:
        """Calls received since the start (also those no longer kept)."""
        with self._lock:
            return self._seen

    def wait_for(self, count: int, timeout: float) -> bool:
        """Block until `count` calls were received or `timeout` seconds pass."""
        with self._changed:
            return self._changed.wait_for(lambda: self._seen >= count, timeout)

    def snapshot(self, recent: int = RECENT) -> dict[str, Any]:
        with self._lock:
            calls = list(self._calls)
            seen = self._seen
        summary = _rollup(calls)
        summary.update({"received": seen, "kept": len(calls), "since": self.started, "models": 0})
        by_model = _grouped(calls, lambda c: c.model, "model")
        summary["models"] = len(by_model)
        total = len(calls) or 1
        by_route = _grouped(calls, lambda c: c.route, "route")
        for row in by_route:
            row["share"] = row["calls"] / total
        return {
            "summary": summary,
            "by_model": by_model,
            "by_route": by_route,
            "recent": [c.as_dict() for c in reversed(calls[-recent:])],
        }
