"""The `type: pii` filter: one config entry, named in a listener's input and output chains, works
as a pair through the request's `FilterContext.state`.

On a request body (input chain) it rewrites the texts (`request.Rewriter`) and keeps the request's
placeholders (`session.Session`); on what goes back to the client (output chain: a whole JSON
body, or blocks of complete server-sent events) it restores them (`response`). A response of a
request that got no placeholder passes untouched, unparsed.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano.config.guards import PiiFilterConfig
from plano.filters.pii.detect import Detector
from plano.filters.pii.request import Rewriter
from plano.filters.pii.response import SseRestorer, restore_whole
from plano.filters.pii.session import Session
from plano.filters.types import FilterContext, Headers

_SPAN: Final = "pii_filter ({})"


class PiiFilter:
    """A compiled `type: pii` filter (patterns built once, here)."""

    __slots__ = ("_key", "_restore", "_rewriter", "id", "span_name")

    def __init__(self, config: PiiFilterConfig) -> None:
        self.id = config.id
        self.span_name = _SPAN.format(config.id)
        actions = config.actions()
        self._rewriter = Rewriter(config.id, Detector(actions, config.names), actions)
        self._restore = config.restore
        self._key = "pii:" + config.id  # its entry in ctx.state

    async def apply(self, body: bytes, path: str, headers: Headers, ctx: FilterContext) -> bytes:
        return self.run(body, ctx)

    def run(self, body: bytes, ctx: FilterContext) -> bytes:
        """`apply`, synchronously (it never waits)."""
        state = ctx.state.get(self._key)
        if state is not None:
            if not self._restore or not state["session"].originals:
                # nothing to restore; and a second pass over the request would find nothing
                # the first one did not already rewrite
                return body
            if state.get("output"):  # the output side already started
                return self._output(body, state)
        head = body.lstrip()[:1]
        if head != b"{":
            return self._output(body, state) if state is not None else body
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # not ours to judge: the listener answers 400
        if not _is_request(doc):
            if state is None:
                return body
            state["output"] = True
            return restore_whole(body, state["session"], doc)
        if state is None:
            state = ctx.state[self._key] = {"session": Session()}
        session: Session = state["session"]
        try:
            changed = self._rewriter.rewrite(doc, session)
        finally:
            _note(ctx, self.id, session)
        return orjson.dumps(doc) if changed else body

    def _output(self, body: bytes, state: dict[str, Any]) -> bytes:
        session: Session = state["session"]
        if not self._restore or not session.originals:
            return body
        state["output"] = True
        if body.lstrip()[:1] == b"{":
            return restore_whole(body, session)
        sse = state.get("sse")
        if sse is None:
            sse = state["sse"] = SseRestorer(session)
        restored: bytes = sse.feed(body)
        return restored

    async def close(self) -> None:
        return None


def _is_request(doc: Any) -> bool:
    """A request body (messages or input), not a response (choices, output, a message)."""
    if not isinstance(doc, dict):
        return False
    if "choices" in doc or "output" in doc or doc.get("type") == "message":
        return False
    return "messages" in doc or "input" in doc or "prompt" in doc


def _note(ctx: FilterContext, filter_id: str, session: Session) -> None:
    """What was found, for the request's span and metrics (counts only)."""
    record = ctx.record
    if record is None or not session.counts:
        return
    found = record.pii_found
    if found is None:
        found = record.pii_found = {}
    for (entity, action), n in session.counts.items():
        found[(filter_id, entity, action)] = n
