"""The control API under ``/_mock/`` (never recorded, never scripted).

=======================  =====================================================================
``POST /_mock/script``   append a JSON list of reply specs (or one spec) to the FIFO queue;
                         answers ``{"queued": n, "pending": m}``; 400 names a bad field
``GET /_mock/script``    the specs still queued
``DELETE /_mock/script`` empty the queue: ``{"cleared": n}``
``GET /_mock/requests``  recorded requests, oldest first: ``[{method, path, query, headers,
                         body, raw_body_len}]`` (``body`` parsed JSON or null)
``DELETE /_mock/requests`` forget them: ``{"cleared": n}``
=======================  =====================================================================
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Protocol

import orjson

from plano.mock.openai_chat import error_body
from plano.mock.request import MockRequest
from plano.mock.response import Reply
from plano.mock.script import ScriptQueue, SpecError, parse_script


class Controlled(Protocol):
    """What the control API reads and changes (the mock's `MockApp`)."""

    @property
    def queue(self) -> ScriptQueue: ...

    @property
    def recorded(self) -> Collection[MockRequest]: ...

    def clear_requests(self) -> int: ...


def handle(app: Controlled, req: MockRequest) -> Reply:
    route = (req.method, req.path.rstrip("/"))
    if route == ("POST", "/_mock/script"):
        return _post_script(app, req)
    if route == ("GET", "/_mock/script"):
        return _json([spec.to_json() for spec in app.queue.pending()])
    if route == ("DELETE", "/_mock/script"):
        return _json({"cleared": app.queue.clear()})
    if route == ("GET", "/_mock/requests"):
        return _json([r.to_json() for r in app.recorded])
    if route == ("DELETE", "/_mock/requests"):
        return _json({"cleared": app.clear_requests()})
    if route[1] in ("/_mock/script", "/_mock/requests"):
        return error_reply(405, f"Method {req.method} not allowed on {req.path}")
    return error_reply(404, f"Unknown control endpoint: {req.path}")


def _post_script(app: Controlled, req: MockRequest) -> Reply:
    if req.body is None:
        return error_reply(400, "the body must be a JSON list of reply specs")
    try:
        specs = parse_script(req.body)
    except SpecError as exc:
        return error_reply(400, str(exc))
    queued = app.queue.extend(specs)
    return _json({"queued": queued, "pending": len(app.queue)})


def _json(obj: Any) -> Reply:
    return Reply(body=orjson.dumps(obj))


def error_reply(status: int, message: str) -> Reply:
    """An OpenAI-style error envelope (what the control API and unknown paths answer)."""
    return Reply(status=status, body=error_body(status, message))
