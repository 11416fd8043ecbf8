"""The key admin API on the admin listener (never on a public listener):

    POST   /admin/keys                 create  (JSON: name, team, app, models, rpm, tpm, budget,
                                                period, alert_at, expires, meta) → 201, the key
    GET    /admin/keys                 list
    GET    /admin/keys/{id}            show (with this period's spend)
    DELETE /admin/keys/{id}            revoke
    POST   /admin/keys/{id}/rotate     a new secret for the key → the key

Every request needs `Authorization: Bearer <admin token>` (`access.keys.admin_token`, else
`$PLANO_ADMIN_TOKEN`), compared in constant time; without a configured token the API answers
403. Errors are OpenAI-style error objects; the key in clear appears only in the answers to
create and rotate.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Final

import orjson

from plano.access import keys_admin
from plano.access.keys_access import KeyAccess
from plano.errors import (
    BadRequest,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    PlanoError,
    Unauthorized,
)
from plano.listeners.asgi import JSON_CT, header, read_body, send_bytes, send_error
from plano.listeners.types import Receive, Scope, Send
from plano.state.keys import KeyStoreError

PREFIX: Final = "/admin/keys"
ENV_TOKEN: Final = "PLANO_ADMIN_TOKEN"
_MAX_BODY: Final = 64 * 1024


def admin_token(configured: str | None, environ: Mapping[str, str]) -> str | None:
    token = configured or environ.get(ENV_TOKEN) or None
    return token if token and len(token) >= 16 else None


def bearer_is(scope: Scope, token: bytes) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (constant-time compare)."""
    scheme, _, value = (header(scope, b"authorization") or b"").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), token)


class KeysAdmin:
    def __init__(self, access: KeyAccess, token: str | None) -> None:
        self._access = access
        self._store = access.cache.store
        self._token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        try:
            self._authorize(scope)
            status, doc = await self._route(scope, receive, path.rstrip("/"))
        except PlanoError as err:
            await send_error(send, path, err)
            return
        except KeyStoreError as exc:
            await send_error(send, path, KeyStoreUnavailable(str(exc)))
            return
        await send_bytes(send, status, [JSON_CT], orjson.dumps(doc))

    def _authorize(self, scope: Scope) -> None:
        if self._token is None:
            raise Forbidden(
                f"the key admin API needs an admin token: set access.keys.admin_token or"
                f" ${ENV_TOKEN} (16 characters or more)"
            )
        if not bearer_is(scope, self._token):
            raise Unauthorized("admin token required: Authorization: Bearer <admin token>")

    async def _route(self, scope: Scope, receive: Receive, path: str) -> tuple[int, Any]:
        method, store = scope["method"], self._store
        rest = path[len(PREFIX) :].strip("/")
        if not rest:
            if method == "GET":
                return 200, {"data": [r.public() for r in await store.list()]}
            if method == "POST":
                body = await read_body(scope, receive, _MAX_BODY)
                try:
                    doc = orjson.loads(body or b"{}")
                except orjson.JSONDecodeError:
                    raise BadRequest("the body must be JSON") from None
                record, key = await keys_admin.create(store, doc)
                return 201, {**record.public(), "key": key}
            raise MethodNotAllowed(f"method {method} is not allowed on {PREFIX}")
        key_id, _, action = rest.partition("/")
        if action == "rotate" and method == "POST":
            record, key = await keys_admin.rotate(store, key_id)
            self._access.cache.forget(record.id)
            return 200, {**record.public(), "key": key}
        if action:
            raise NotFound(f"no route for {method} {path}")
        if method == "GET":
            return 200, await keys_admin.shown(store, await keys_admin.find(store, key_id))
        if method == "DELETE":
            record = await keys_admin.revoke(store, key_id)
            self._access.cache.forget(record.id)
            return 200, record.public()
        raise MethodNotAllowed(f"method {method} is not allowed on {path}")


class KeyStoreUnavailable(PlanoError):
    status = 503
    code = "key_store_unavailable"
