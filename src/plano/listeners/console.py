"""The web console on the admin listener (never on a public listener): the page and its JSON API.

    GET /                                  the page (also /console/)
    GET /console/static/{console.js,console.css}
    GET /console/api/requests?since=F&limit=N   the newest entries (of every worker), newest
                                           last; `since` is an entry's `f` (µs): only later ones
    GET /console/api/requests/{id}         one entry with its detail (trace, routing, attempts,
                                           guards, signals), plus the routing candidates
    GET /console/api/summary?minutes=N     per model and per route: count, error rate, p50/p95
                                           latency and TTFT, tokens, spend (default 15 minutes)
    GET /console/api/keys                  the gateway keys and their budget use (access control)
    GET /console/api/config                the loaded config, secrets masked, and when it was loaded

The data is the workers' rings of recent requests (`plano.observability.console_ring`), read in a
thread, off the loop. With `PLANO_CONSOLE_TOKEN` set (16 characters or more), or else with gateway
keys on and a key admin token (`access.keys.admin_token` / `$PLANO_ADMIN_TOKEN`), every API call
needs `Authorization: Bearer <token>` (the page asks for it once); the page itself holds no data.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from importlib import resources
from typing import Any, Final, TypeVar
from urllib.parse import parse_qs

import orjson

from plano.access import keys_admin
from plano.config import Config
from plano.errors import BadRequest, MethodNotAllowed, NotFound, PlanoError, Unauthorized
from plano.listeners.admin_keys import KeyStoreUnavailable, admin_token, bearer_is
from plano.listeners.asgi import JSON_CT, send_bytes, send_error
from plano.listeners.console_summary import masked_config, summary
from plano.listeners.types import Receive, Scope, Send
from plano.observability.console_entry import DETAIL
from plano.observability.console_ring import ConsoleRing
from plano.state.keys import KeyStoreError

ENV_TOKEN: Final = "PLANO_CONSOLE_TOKEN"
API: Final = "/console/api/"
STATIC: Final = "/console/static/"
PAGES: Final = ("/", "/console", "/console/")
_ASSETS: Final = {
    "console.js": b"text/javascript; charset=utf-8",
    "console.css": b"text/css; charset=utf-8",
}
_LIMIT: Final = 200
_NO_CACHE: Final = (b"cache-control", b"no-store")
T = TypeVar("T")


def console_token(environ: Mapping[str, str], admin: str | None = None) -> str | None:
    """`$PLANO_CONSOLE_TOKEN` when it is 16 characters or more (as the admin token), else the
    key admin API's token `admin` when there is one: the console lists keys and spend, so once
    key administration is guarded, the console must not be a way around it."""
    return admin_token(environ.get(ENV_TOKEN), {}) or admin


def _asset(name: str) -> bytes:
    return resources.files("plano.listeners").joinpath("console_static", name).read_bytes()


class Console:
    """The console's ASGI app (mounted by `AdminApp`)."""

    def __init__(
        self,
        ring: ConsoleRing | None,
        config: Config,
        loaded_at: float,
        keys: Any = None,
        token: str | None = None,
    ) -> None:
        self._ring = ring
        self._config = config
        self._loaded_at = loaded_at
        self._keys = keys  # KeyAccess when gateway keys are on
        self._token = token.encode() if token else None
        self._files: dict[str, bytes] = {}

    def handles(self, path: str) -> bool:
        return path in PAGES or path.startswith(("/console/", STATIC))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        try:
            if scope["method"] not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"method {scope['method']} is not allowed on {path}")
            if path in PAGES:
                await self._file(send, "index.html", b"text/html; charset=utf-8")
            elif path.startswith(STATIC) and path[len(STATIC) :] in _ASSETS:
                name = path[len(STATIC) :]
                await self._file(send, name, _ASSETS[name])
            elif path.startswith(API):
                self._authorize(scope)
                doc = await self._api(path[len(API) :].rstrip("/"), _query(scope))
                await send_bytes(send, 200, [JSON_CT, _NO_CACHE], orjson.dumps(doc, default=str))
            else:
                raise NotFound(f"no console page {path}")
        except PlanoError as err:
            await send_error(send, path, err)

    async def _file(self, send: Send, name: str, content_type: bytes) -> None:
        body = self._files.get(name)
        if body is None:
            body = self._files[name] = _asset(name)
        await send_bytes(send, 200, [(b"content-type", content_type)], body)

    def _authorize(self, scope: Scope) -> None:
        if self._token is None:
            return
        if not bearer_is(scope, self._token):
            raise Unauthorized(
                f"console token required (${ENV_TOKEN}): Authorization: Bearer <token>"
            )

    async def _api(self, what: str, query: Mapping[str, str]) -> Any:
        if what == "config":
            return {
                "source": self._config.source,
                "loaded_at": self._loaded_at,
                "config": masked_config(self._config),
            }
        if what == "keys":
            return await self._key_list()
        ring = self._ring
        if what == "summary":
            minutes = _number(query, "minutes", 15, 1, 24 * 60)
            entries = [] if ring is None else await self._read(ring, ring.read)
            return summary(entries, minutes, time.time())
        if what == "requests":
            since = _number(query, "since", 0, 0, 1 << 62)
            limit = _number(query, "limit", _LIMIT, 1, 10_000)
            rows = [] if ring is None else await self._read(ring, ring.read, since, limit)
            return {"data": [_row(e) for e in rows]}
        if what.startswith("requests/"):
            wanted = what[len("requests/") :]
            found = None if ring is None else await self._read(ring, ring.find, wanted)
            if found is None:
                raise NotFound(f"no recent request {wanted!r} (the rings keep the newest only)")
            return {**found, "candidates": self._candidates(found)}
        raise NotFound(f"no console API {what!r}")

    async def _read(self, ring: ConsoleRing, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a thread, after this worker's kept records are in its ring."""
        ring.looked_at()
        return await asyncio.to_thread(fn, *args)

    def _candidates(self, e: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        """The preference routes the router chose among (from the config)."""
        kind = (e.get("routing") or {}).get("kind")
        if kind not in ("llm", "routing") or not self._config.routing_preferences:
            return None
        return [
            {"route": p.name, "description": p.description, "models": list(p.models)}
            for p in self._config.routing_preferences
        ]

    async def _key_list(self) -> dict[str, Any]:
        access = self._keys
        if access is None:
            return {"enabled": False, "data": []}
        store = access.cache.store
        try:
            data = [await keys_admin.shown(store, r) for r in await store.list()]
        except KeyStoreError as exc:
            raise KeyStoreUnavailable(str(exc)) from None
        return {"enabled": True, "data": data}


def _row(e: Mapping[str, Any]) -> dict[str, Any]:
    """The list's columns of an entry (the detail groups stay on the server)."""
    return {k: v for k, v in e.items() if k not in DETAIL}


def _query(scope: Scope) -> dict[str, str]:
    raw = scope.get("query_string") or b""
    return {k: v[-1] for k, v in parse_qs(raw.decode("latin-1")).items()}


def _number(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}, not {raw!r}")
    return int(raw)
