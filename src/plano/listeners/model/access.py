"""Gateway keys on the model listener: `Authenticate` right after the view is decoded (before
input filters), `Authorize` once the model that will serve is known (after Build).

- `Authenticate`: a valid, live key or 401 (in the client's dialect); the header that carried it
  is removed from the request, so nothing after (filters, `passthrough_auth`, forwarded headers)
  ever sees it; the key's rate limits (429 with Retry-After); `record.key_name/team` set.
- `Authorize`: the key's models checked against the names the request goes by (403), then the
  key's budget reserved from an estimate (429 when spent). Which names count: the model the
  client asked for (a model, alias or wildcard name), the canonical `provider/model` and bare id
  that will serve it; when preference routing chose the model, the route's name and the chosen
  model instead of the requested one (a router never leads a key to a model it may not use).
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano.access.keys_access import Admitted, KeyAccess
from plano.access.keys_policy import AccessKey
from plano.errors import PlanoError
from plano.listeners.asgi import JSON_CT, send_bytes
from plano.listeners.model.call import ModelCall
from plano.listeners.pipeline import DONE, Call, Done, Outcome, Pending, Stage, SyncStage
from plano.upstream.ratelimit import estimate_tokens

KEY: Final = "plano.key"  # the admitted key, in the request's scope
_MAX_TOKENS: Final = ("max_tokens", "max_completion_tokens", "max_output_tokens")


class Authenticate(SyncStage[Call]):
    """Also the agent and prompt listeners' first stage after decoding (keys, header, rate
    limits). A key fresh in the worker's cache (most requests) is admitted without a coroutine;
    a cache miss or a key with rate limits waits (`Pending`)."""

    def __init__(self, access: KeyAccess) -> None:
        self._access = access
        self._names = access.headers.names
        self._verified = access.verified  # emptied in place on any cache change, never rebound
        self._now = access.cache.clock

    def __call__(self, call: Call) -> Outcome | Pending:
        scope = call.scope
        headers = scope["headers"]
        # The usual request: a header value verified before, still good (`KeyAccess.verified`),
        # in the server's own header list. One loop, one dict lookup, one clock read.
        if type(headers) is list:
            for i, (name, value) in enumerate(headers):
                if name in self._names:
                    hit = self._verified.get(value)
                    if hit is not None and self._now() < hit[1]:
                        key = hit[0]
                        del headers[i]  # the key's header leaves the request
                        scope[KEY] = key
                        record = call.record
                        record.request_headers = headers
                        record.key_name = key.name
                        record.team = key.team
                        return self._access.limit(key, call.doc) if key.limited else None
                    break
        got = self._access.admit_cached(headers)
        if got is None:
            return self._read(call)
        return self._admitted(call, got)

    async def _read(self, call: Call) -> Outcome:
        out = self._admitted(call, await self._access.admit(call.scope["headers"]))
        if out is None or isinstance(out, Done | PlanoError):
            return out
        return await out  # the key's rate limits

    def _admitted(self, call: Call, got: Admitted | PlanoError) -> Outcome | Pending:
        if isinstance(got, PlanoError):
            return got
        key, index = got
        # The key's header leaves the request: nothing after this stage sees it. The server
        # makes a list per request (which the record shares): taken out in place.
        scope, record = call.scope, call.record
        headers = scope["headers"]
        if type(headers) is list:
            del headers[index]
        else:
            scope["headers"] = headers = [h for i, h in enumerate(headers) if i != index]
        record.request_headers = headers
        scope[KEY] = key
        record.key_name = key.name
        record.team = key.team
        return self._access.limit(key, call.doc) if key.limited else None


def max_tokens(doc: dict[str, Any]) -> int | None:
    for name in _MAX_TOKENS:
        value = doc.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class Authorize(SyncStage[ModelCall]):
    """Sync; a key with a budget waits for its reservation (`Pending`)."""

    def __init__(self, access: KeyAccess) -> None:
        self._access = access

    def __call__(self, call: ModelCall) -> Outcome | Pending:
        key: AccessKey = call.scope[KEY]
        if key.plain:  # any model, no budget: only counted
            counter = key.allowed
            if counter is not None:
                counter.n += 1
                return None
        access = self._access
        up = call.upstream
        assert up is not None
        r = up.resolved
        if not key.any_model:
            routed = call.routed
            if routed is not None and routed.decision.model:
                names: tuple[str | None, ...] = (routed.decision.route, r.name, r.model_id)
            else:
                names = (call.requested, r.name, r.model_id)
            refused = access.allows(key, names)
            if refused is not None:
                return refused
        if key.record.budget_usd is not None:
            doc = call.doc
            amount = access.budgets.estimate(r.name, estimate_tokens(doc), max_tokens(doc))
            return self._reserve(call, key, amount)
        self._allowed(key)
        return None

    async def _reserve(self, call: ModelCall, key: AccessKey, amount: float) -> Outcome:
        access = self._access
        res = await access.reserve(key, amount)
        if isinstance(res, PlanoError):
            return res
        if res is not None:
            access.hold(call.record, res)
            if res.alert:
                call.record.key_budget_alert = True
        self._allowed(key)
        return None

    def _allowed(self, key: AccessKey) -> None:
        counter = key.allowed
        if counter is not None:
            counter.n += 1
        else:
            self._access.allowed(key)  # makes the key's counter


class ModelsForKey(Stage[Call]):
    """`GET /v1/models` for a key limited to some models: only those, and the aliases of those
    (a key that may use every
    model gets the prebuilt list from `ListModels`, the next stage)."""

    def __init__(self, body: bytes) -> None:
        self._models: list[dict[str, Any]] = orjson.loads(body)["data"]

    async def __call__(self, call: Call) -> Outcome:
        key: AccessKey = call.scope[KEY]
        if key.any_model:
            return None
        data = [m for m in self._models if key.allows(_names(m.get("root") or m["id"]))]
        body = orjson.dumps({"object": "list", "data": data})
        await send_bytes(call.send, 200, [JSON_CT], body)
        return DONE


def _names(model: str) -> tuple[str, str]:
    """A listed model's names for a key's allow-list (an alias is judged by its target)."""
    return model, model.partition("/")[2]
