"""Time bounds of state-store calls: the request's deadline and a per-call cap.

Every read or write of a shared store (the conversation store, the session cache) is bounded by
whichever ends first: the time left of the request's deadline (the listener's `timeout`, counted
from the request's arrival) and the store's own per-call cap. A read the request needs ends in
`StateStoreTimeout` (504, naming the store) instead of hanging; a write made after the response
is bounded by the cap alone and only logged and counted when it fails.
"""

from __future__ import annotations

import time
from typing import Final

from plano.errors import PlanoError

# The conversation store's per-call cap (PostgreSQL: pool creation, acquire and query together).
CONVERSATION_CALL_TIMEOUT_S: Final = 2.0
# Never wait less than this: a request with its deadline already spent still gets one short try.
MIN_BUDGET_S: Final = 0.001


class StateStoreTimeout(PlanoError):
    """A state store did not answer within the request's deadline or its per-call cap."""

    status = 504
    code = "state_store_timeout"
    kind = "timeout"


def time_left(started_ns: int, timeout_s: float) -> float:
    """Seconds left of a deadline of `timeout_s` counted from `started_ns` (perf_counter_ns)."""
    return timeout_s - (time.perf_counter_ns() - started_ns) / 1e9


def budget(cap_s: float, left_s: float | None) -> float:
    """How long one store call may take: the cap, or less when the request has less left."""
    if left_s is None:
        return cap_s
    return max(MIN_BUDGET_S, min(cap_s, left_s))
