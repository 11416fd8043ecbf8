"""Putting the values back in what the client receives: a whole response body, or the complete
server-sent events of a stream (chat completions chunks, Anthropic Messages events, Responses
events), in the client's dialect.

Stream text deltas go through a `StreamRestorer`; where a text ends (a chat choice's
`finish_reason`, Anthropic's `content_block_stop`, Responses' `*.done` events, and the stream's
end) what it still held back is sent as one more delta of that text, just before the event that
ends it. Every other event gets the placeholders it carries whole replaced.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Final

import orjson

from plano.codec.sse_scan import event_data, event_lines, split_events
from plano.filters.pii.restore import StreamRestorer
from plano.filters.pii.session import Session, restore_text

_ESCAPED_KEYS: Final = frozenset({"arguments", "partial_json"})
_TEXT_DONE: Final = {
    "response.output_text.done": ("output_text", "response.output_text.delta"),
    "response.function_call_arguments.done": (
        "arguments",
        "response.function_call_arguments.delta",
    ),
}
_ENDS: Final = frozenset({"message_stop", "response.completed", "response.incomplete"})


def restore_doc(node: Any, originals: dict[str, str], escaped: bool = False) -> Any:
    """Every string in `node` (a decoded JSON document) restored, in place; the new node."""
    if isinstance(node, str):
        return restore_text(node, originals, escaped=escaped)
    if isinstance(node, dict):
        for k, v in node.items():
            if isinstance(v, str | dict | list):
                node[k] = restore_doc(v, originals, k in _ESCAPED_KEYS)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, str | dict | list):
                node[i] = restore_doc(v, originals, escaped)
    return node


def restore_whole(body: bytes, session: Session, doc: Any = None) -> bytes:
    """A whole JSON response with its placeholders restored (unchanged when it has none);
    `doc`: the body, already decoded."""
    if b"<" not in body and b"\\u003c" not in body:
        return body
    if doc is None:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
    return orjson.dumps(restore_doc(doc, session.originals))


class SseRestorer:
    """One response stream's restorer: fed blocks of complete events, in order."""

    __slots__ = ("_last_chunk", "_session", "_text")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._text = StreamRestorer(session)
        self._last_chunk: dict[str, Any] | None = None  # chat: the shape of a synthetic chunk

    def feed(self, block: bytes) -> bytes:
        out: list[bytes] = []
        for event in split_events(block):
            self._event(event, out)
        return b"".join(out)

    def _event(self, raw: bytes, out: list[bytes]) -> None:
        payload = event_data(raw)
        if payload is None:
            out.append(raw)
            return
        if payload == b"[DONE]":
            self._chat_end(out)
            out.append(raw)
            return
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            out.append(raw)
            return
        if not isinstance(doc, dict):
            out.append(raw)
            return
        maybe = b"<" in payload or b"\\u003c" in payload
        name = _event_name(raw) if raw.startswith(b"event") else None
        if self._rewrite(doc, name, out, maybe):
            out.append(_encode(name, doc))
        else:
            out.append(raw)

    def _rewrite(
        self, doc: dict[str, Any], name: str | None, out: list[bytes], maybe: bool
    ) -> bool:
        """Restore `doc` (one event's data) in place; False when it is left as it was. `maybe`:
        the event's data has a `<` (a placeholder may be whole in it)."""
        if isinstance(doc.get("choices"), list):
            return self._chat(doc)
        kind = doc.get("type")
        if not isinstance(kind, str):
            kind = None
        if kind == "content_block_delta":
            return self._anthropic_delta(doc)
        if kind == "content_block_stop":
            self._anthropic_end(_index(doc, "index"), name, out)
            return False
        if kind == "response.output_text.delta":
            key = ("r", _index(doc, "output_index"), _index(doc, "content_index"))
            return self._delta(doc, "delta", key, False)
        if kind == "response.function_call_arguments.delta":
            return self._delta(doc, "delta", ("f", _index(doc, "output_index")), True)
        if kind in _TEXT_DONE:
            self._responses_end(doc, kind, name, out)
        elif kind in _ENDS:
            self._flush_all(name, out)
        if not maybe:
            return False
        restore_doc(doc, self._session.originals)
        return True

    def _delta(self, doc: dict[str, Any], field: str, key: Hashable, escaped: bool) -> bool:
        text = doc.get(field)
        if not isinstance(text, str):
            return False
        new = self._text.feed(key, text, escaped=escaped)
        if new == text:
            return False
        doc[field] = new
        return True

    # -- chat completions ------------------------------------------------------------------

    def _chat(self, doc: dict[str, Any]) -> bool:
        self._last_chunk = doc
        changed = False
        for choice in doc["choices"]:
            if not isinstance(choice, dict):
                continue
            idx = _index(choice, "index")
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                delta = None
            if delta is not None:
                changed |= self._delta(delta, "content", ("c", idx), False)
                calls = delta.get("tool_calls")
                for call in calls if isinstance(calls, list) else ():
                    fn = call.get("function") if isinstance(call, dict) else None
                    if isinstance(fn, dict):
                        key = ("t", idx, _index(call, "index"))
                        changed |= self._delta(fn, "arguments", key, True)
            if choice.get("finish_reason") is not None:
                changed |= self._chat_choice_end(choice, idx)
        return changed

    def _chat_choice_end(self, choice: dict[str, Any], idx: Any) -> bool:
        """A choice ended: what it held back goes into this last chunk's delta."""
        changed = False
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = choice["delta"] = {}
        tail = self._text.flush(("c", idx))
        if tail:
            delta["content"] = (delta.get("content") or "") + tail
            changed = True
        for key in self._text.pending():
            if isinstance(key, tuple) and key[0] == "t" and key[1] == idx:
                calls = delta.get("tool_calls")
                if not isinstance(calls, list):
                    calls = delta["tool_calls"] = []
                calls.append({"index": key[2], "function": {"arguments": self._text.flush(key)}})
                changed = True
        return changed

    def _chat_end(self, out: list[bytes]) -> None:
        """The stream ended (`[DONE]`) with text still held back: one more chunk carries it."""
        last = self._last_chunk
        choices = []
        for key in self._text.pending():
            if isinstance(key, tuple) and key[0] == "c":
                choices.append(
                    {
                        "index": key[1],
                        "delta": {"content": self._text.flush(key)},
                        "finish_reason": None,
                    }
                )
        if choices and last is not None:
            chunk = {k: v for k, v in last.items() if k in ("id", "object", "created", "model")}
            chunk["choices"] = choices
            out.append(_encode(None, chunk))

    # -- Anthropic Messages ------------------------------------------------------------------

    def _anthropic_delta(self, doc: dict[str, Any]) -> bool:
        delta = doc.get("delta")
        if not isinstance(delta, dict):
            return False
        key = ("b", _index(doc, "index"))
        if delta.get("type") == "text_delta":
            return self._delta(delta, "text", key, False)
        if delta.get("type") == "input_json_delta":
            return self._delta(delta, "partial_json", ("j", key[1]), True)
        return False

    def _anthropic_end(self, index: Any, name: str | None, out: list[bytes]) -> None:
        tail = self._text.flush(("b", index))
        if tail:
            delta = {"type": "text_delta", "text": tail}
            out.append(_encode(name and "content_block_delta", _block_delta(index, delta)))
        tail = self._text.flush(("j", index))
        if tail:
            delta = {"type": "input_json_delta", "partial_json": tail}
            out.append(_encode(name and "content_block_delta", _block_delta(index, delta)))

    # -- Responses ---------------------------------------------------------------------------

    def _responses_end(
        self, doc: dict[str, Any], kind: str, name: str | None, out: list[bytes]
    ) -> None:
        if kind == "response.output_text.done":
            key: Hashable = ("r", _index(doc, "output_index"), _index(doc, "content_index"))
        else:
            key = ("f", _index(doc, "output_index"))
        tail = self._text.flush(key)
        if tail:
            delta_type = _TEXT_DONE[kind][1]
            synthetic = {k: v for k, v in doc.items() if k not in ("text", "arguments", "type")}
            synthetic = {"type": delta_type, **synthetic, "delta": tail}
            out.append(_encode(name and delta_type, synthetic))

    def _flush_all(self, name: str | None, out: list[bytes]) -> None:
        """The response ended: texts that never saw their end give back what they held."""
        for key in self._text.pending():
            if not isinstance(key, tuple):
                continue
            if key[0] in ("b", "j"):
                self._anthropic_end(key[1], name and "content_block_delta", out)
            elif key[0] == "r":
                doc = {
                    "type": "response.output_text.done",
                    "output_index": key[1],
                    "content_index": key[2],
                }
                self._responses_end(doc, "response.output_text.done", name, out)
            elif key[0] == "f":
                doc = {"type": "response.function_call_arguments.done", "output_index": key[1]}
                self._responses_end(doc, "response.function_call_arguments.done", name, out)


def _event_name(raw: bytes) -> str | None:
    for line in event_lines(raw):
        if line.startswith(b"event:"):
            return line[6:].strip().decode("utf-8", "replace")
    return None


def _index(doc: dict[str, Any], field: str) -> int | str | None:
    """A position field of an event (`index`, `output_index`...), when it is one."""
    value = doc.get(field, 0 if field == "index" else None)
    return value if isinstance(value, int | str) else None


def _block_delta(index: Any, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def _encode(name: str | None, doc: dict[str, Any]) -> bytes:
    data = orjson.dumps(doc)
    if name:
        return b"event: " + name.encode() + b"\ndata: " + data + b"\n\n"
    return b"data: " + data + b"\n\n"
