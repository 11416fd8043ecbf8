"""Load balancing across the endpoints of one provider (several base URLs or keys, one model).

Policies (Envoy's names): ``round_robin`` (smooth weighted), ``random`` (weighted),
``least_request`` (power of two choices over active calls, weight-scaled) and ``ring_hash``
(consistent hashing of a request key, e.g. ``x-plano-prefix-hash``, so a prompt prefix keeps its
endpoint and its provider-side cache). Ejected endpoints (see :mod:`outlier`) and the endpoints a
request already tried are skipped; when nothing else is left, any endpoint is used (Envoy's panic
mode) rather than failing the request. Pure and synchronous; randomness is injected.
"""

from __future__ import annotations

import bisect
import hashlib
import random
from collections.abc import Callable, Sequence
from typing import Final

from plano.config.resilience import LoadBalancing
from plano.upstream.outlier import OutlierState

_VNODES: Final = 64  # ring points per unit of weight


class Balancer:
    __slots__ = (
        "_current",
        "_outlier",
        "_policy",
        "_rand",
        "_ring",
        "_ring_keys",
        "active",
        "wants_key",
        "weights",
    )

    def __init__(
        self,
        weights: Sequence[int],
        policy: LoadBalancing,
        outlier: OutlierState | None = None,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.weights = tuple(weights)
        self.active = [0] * len(weights)  # calls under way, per endpoint
        self._policy = policy
        self.wants_key = policy == "ring_hash"
        self._outlier = outlier
        self._rand = rand
        self._current = [0] * len(weights)
        self._ring: list[int] = []
        self._ring_keys: list[int] = []
        if policy == "ring_hash":
            points = sorted(
                (_hash(f"{i}-{v}".encode()), i)
                for i, w in enumerate(weights)
                for v in range(w * _VNODES)
            )
            self._ring_keys = [p for p, _ in points]
            self._ring = [i for _, i in points]

    def pick(self, tried: int = 0, key: bytes | None = None) -> int:
        """An endpoint index; ``tried`` is a bit set of indexes this request already used."""
        n = len(self.weights)
        ok = [i for i in range(n) if not (tried >> i) & 1 and self._up(i)]
        if not ok:
            ok = [i for i in range(n) if not (tried >> i) & 1] or list(range(n))
        if len(ok) == 1:
            return ok[0]
        policy = self._policy
        if policy == "ring_hash" and key is not None:
            return self._on_ring(key, set(ok))
        if policy == "least_request":
            a, b = ok[int(self._rand() * len(ok))], ok[int(self._rand() * len(ok))]
            return a if self.active[a] * self.weights[b] <= self.active[b] * self.weights[a] else b
        if policy == "random":
            return self._weighted_draw(ok)
        return self._smooth(ok)

    def _up(self, i: int) -> bool:
        return self._outlier is None or self._outlier.available(i)

    def _smooth(self, ok: list[int]) -> int:
        """Smooth weighted round robin (nginx's): each pick adds every weight, takes the top."""
        best, total = ok[0], 0
        cur = self._current
        for i in ok:
            cur[i] += self.weights[i]
            total += self.weights[i]
            if cur[i] > cur[best]:
                best = i
        cur[best] -= total
        return best

    def _weighted_draw(self, ok: list[int]) -> int:
        total = sum(self.weights[i] for i in ok)
        x = self._rand() * total
        for i in ok:
            x -= self.weights[i]
            if x < 0:
                return i
        return ok[-1]

    def _on_ring(self, key: bytes, ok: set[int]) -> int:
        at = bisect.bisect(self._ring_keys, _hash(key))
        size = len(self._ring)
        for step in range(size):
            i = self._ring[(at + step) % size]
            if i in ok:
                return i
        return min(ok)


def _hash(data: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")
