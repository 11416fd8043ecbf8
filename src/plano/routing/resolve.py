"""Model resolution: which cluster serves the model a request names.

Order (the original's, plus its documented default fallback): alias -> exact provider name or full
`provider/model` -> canonical prefix spelling -> bare model id -> wildcard of the prefix -> the
`default: true` provider -> 400 naming the model. Everything is a dict lookup built once at load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from plano.errors import ModelNotFound
from plano.providers.catalogue import canonical_prefix
from plano.upstream.clusters import Cluster, Resolved, Via

__all__ = ["ModelTable", "Resolved", "Via"]

_CACHE_LIMIT: Final = 4096


class ModelTable:
    """Immutable lookup tables plus a bounded cache of resolved request strings."""

    def __init__(self, clusters: Iterable[Cluster], aliases: Mapping[str, str]) -> None:
        self._exact: dict[str, Cluster] = {}
        self._bare: dict[str, Cluster] = {}
        self._wildcards: dict[str, Cluster] = {}
        self._default: Cluster | None = None
        for c in clusters:
            if c.default:
                self._default = c
            if c.wildcard:
                self._wildcards.setdefault(c.provider, c)
                continue
            self._exact.setdefault(c.name, c)
            self._exact.setdefault(f"{c.provider}/{c.model_id}", c)
            self._bare.setdefault(c.model_id, c)
        self._aliases = dict(aliases)
        self._cache: dict[str | None, Resolved] = {}

    @property
    def default(self) -> Cluster | None:
        return self._default

    def aliases(self) -> dict[str, str]:
        """Each alias whose target is configured, with the canonical name it resolves to."""
        out: dict[str, str] = {}
        for alias, target in self._aliases.items():
            found = self._find(target)
            if found is not None:
                out[alias] = _name(found[0], found[1])
        return out

    def resolve(self, requested: str | None) -> Resolved:
        hit = self._cache.get(requested)
        if hit is not None:
            return hit
        found = self._lookup(requested)
        if len(self._cache) < _CACHE_LIMIT:
            self._cache[requested] = found
        return found

    def _lookup(self, requested: str | None) -> Resolved:
        if requested is not None:
            target = self._aliases.get(requested)
            if target is not None:
                found = self._find(target)
                if found is not None:
                    return Resolved(found[0], found[1], _name(found[0], found[1]), "alias")
            found = self._find(requested)
            if found is not None:
                via: Via = "wildcard" if found[0].wildcard else "exact"
                return Resolved(found[0], found[1], _name(found[0], found[1]), via)
        if self._default is not None:
            d = self._default
            return Resolved(d, d.model_id, _name(d, d.model_id), "default")
        if requested is None:
            raise ModelNotFound(
                "the request names no model and no provider is marked `default: true`",
                param="model",
            )
        raise ModelNotFound(
            f"model '{requested}' is not configured and no provider is marked `default: true`",
            param="model",
        )

    def _find(self, name: str) -> tuple[Cluster, str] | None:
        c = self._exact.get(name) or self._bare.get(name)
        if c is not None:
            return c, c.model_id
        prefix, sep, model_id = name.partition("/")
        if not sep or not model_id:
            return None
        canon = canonical_prefix(prefix)
        c = self._exact.get(f"{canon}/{model_id}")
        if c is not None:
            return c, c.model_id
        w = self._wildcards.get(canon)
        return (w, model_id) if w is not None else None


def _name(c: Cluster, model_id: str) -> str:
    return f"{c.provider}/{model_id}"
