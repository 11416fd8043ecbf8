"""The embedded router's decision: a route, or none (the requested / default model serves).

A request's best route must score at least `threshold` (cosine with its nearest route vector),
and the closest "other" vector (unclaimed bank topics, `other_anchors`) must not beat it by more
than `margin`: with margin 0 the best route must be at least as close as the closest "other"
vector; a positive margin (the default, 0.1) gives routes the benefit of the doubt, a negative
one sends more requests to the default model. The defaults were chosen on the dev part of the
labelled set (`tests/data/routing/dev.json`, `bench/router_quality.py`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from plano.routing.decision import RouteChoice
from plano.routing.preferences import PreferenceSet
from plano.routing.route_vectors import IndexSettings, RouteIndex

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from plano.config.sections import PreferenceRouterConfig

DEFAULT_THRESHOLD: Final = 0.2
DEFAULT_MARGIN: Final = 0.1
DEFAULT_TOPIC_THRESHOLD: Final = 0.55
DEFAULT_TOPIC_NEAR: Final = 0.4


@dataclass(frozen=True, slots=True)
class RouterSettings:
    threshold: float = DEFAULT_THRESHOLD
    margin: float = DEFAULT_MARGIN
    topic_threshold: float = DEFAULT_TOPIC_THRESHOLD
    use_bank: bool = True
    other_anchors: tuple[str, ...] = ()
    topic_near: float = DEFAULT_TOPIC_NEAR

    @classmethod
    def of(cls, rc: PreferenceRouterConfig) -> RouterSettings:
        return cls(
            rc.no_match_threshold,
            rc.no_match_margin,
            rc.topic_threshold,
            rc.topic_bank,
            rc.other_anchors,
            rc.topic_near_threshold,
        )

    @property
    def index(self) -> IndexSettings:
        return IndexSettings(
            self.topic_threshold, self.use_bank, self.other_anchors, self.topic_near
        )


def decide(
    prefs: PreferenceSet,
    index: RouteIndex,
    query: npt.NDArray[np.float32],
    settings: RouterSettings,
) -> RouteChoice:
    routes, other = index.scores(query)
    best = int(routes.argmax())
    score = float(routes[best])
    if score < settings.threshold:
        return RouteChoice(None, "embedded:below_threshold", score)
    if other > score + settings.margin:
        return RouteChoice(None, "embedded:other", score)
    return RouteChoice(prefs.routes[best].name, "embedded", score)
