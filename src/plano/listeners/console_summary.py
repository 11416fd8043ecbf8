"""What the console computes from the ring's entries: the per-model and per-route summaries, and
the loaded config with its secrets masked."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from plano.config import Config
from plano.config.fieldtypes import shown_url

MASK: Final = "***"
# Config keys whose values are credentials (access_key, api_key, admin_token, password,
# secret, authorization headers...).
_SECRET: Final = re.compile(r"(key|token|secret|password|passwd|authorization|credential)", re.I)
_NOT_SECRET: Final = frozenset(("key_name", "keys", "key_header", "max_tokens", "tokens"))


def masked_config(config: Config) -> Any:
    """`config` as JSON-able data with every credential masked: values under secret-looking
    keys become `***`, `user:password@` in URLs too; the loader's bookkeeping is left out."""
    doc = config.model_dump(
        mode="json", exclude={"missing_env", "warnings", "declared_version", "source"}
    )
    return _mask(doc)


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if isinstance(value, str):
        if key and _SECRET.search(key) and key not in _NOT_SECRET:
            return MASK if value else value
        return shown_url(value) if "://" in value else value
    return value


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values.sort()
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def _group(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    rows = list(rows)
    ms = [float(r["ms"]) for r in rows if r.get("ms") is not None]
    ttft = [float(r["ttft"]) for r in rows if r.get("ttft") is not None]
    errors = sum(1 for r in rows if int(r.get("status") or 0) >= 400)
    costs = [float(r["cost"]) for r in rows if r.get("cost") is not None]
    return {
        "requests": len(rows),
        "error_rate": round(errors / len(rows), 4) if rows else 0.0,
        "p50_ms": _pct(ms, 0.5),
        "p95_ms": _pct(ms, 0.95),
        "p50_ttft_ms": _pct(ttft, 0.5),
        "p95_ttft_ms": _pct(ttft, 0.95),
        "prompt_tokens": sum(int(r.get("pt") or 0) for r in rows),
        "completion_tokens": sum(int(r.get("ct") or 0) for r in rows),
        "spend_usd": round(sum(costs), 6) if costs else None,
    }


def summary(entries: Iterable[Mapping[str, Any]], minutes: int, now: float) -> dict[str, Any]:
    """Per model (as served) and per route (how it was chosen) over the entries that arrived in
    the last `minutes` (of those the rings still hold)."""
    since_ms = (now - minutes * 60) * 1000
    recent = [e for e in entries if e.get("t", 0) >= since_ms and not e.get("clipped")]
    by_model: dict[str, list[Mapping[str, Any]]] = {}
    by_route: dict[str, list[Mapping[str, Any]]] = {}
    for e in recent:
        by_model.setdefault(e.get("model") or "(none)", []).append(e)
        routing = e.get("routing") or {}
        route = routing.get("selected") if routing.get("kind") else None
        name = f"{routing.get('route') or '-'}/{routing.get('outcome') or route or '-'}"
        by_route.setdefault(name, []).append(e)
    return {
        "minutes": minutes,
        "total": _group(recent),
        "models": {k: _group(v) for k, v in sorted(by_model.items())},
        "routes": {k: _group(v) for k, v in sorted(by_route.items())},
    }
