"""Bedrock ConverseStream (AWS event-stream frames) → IR stream events.

Frames carry ``:message-type`` (``event`` or ``exception``) and ``:event-type`` /
``:exception-type``; the payload is the event's JSON. Events: ``messageStart``,
``contentBlockStart`` (tool use only: id and name), ``contentBlockDelta`` (``text``,
``toolUse.input`` JSON fragments, ``reasoningContent`` text / signature / redacted bytes),
``contentBlockStop``,
``messageStop`` (stop reason), then ``metadata`` (usage). Text and reasoning blocks often have no
start event, so a block starts at its first event of any kind. Bedrock block indexes map to IR
indexes in order of first appearance. The message ends at ``metadata`` (or at the end of the body
after ``messageStop``); an exception frame or a corrupt frame becomes a `StreamError`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import orjson

from plano import ir
from plano.codec.aws_eventstream import EventStreamDecoder, EventStreamError, Frame
from plano.wire.bedrock_converse import status_of


def usage(doc: Any) -> ir.Usage:
    if not isinstance(doc, dict):
        return ir.Usage()

    def num(key: str) -> int | None:
        value = doc.get(key)
        return value if isinstance(value, int) else None

    return ir.Usage(
        input=num("inputTokens"),
        output=num("outputTokens"),
        cache_read=num("cacheReadInputTokens"),
        cache_write=num("cacheWriteInputTokens"),
    )


class BedrockStreamDecoder:
    __slots__ = ("_blocks", "_done", "_frames", "_open", "_started", "_stop", "_stops", "runs")

    def __init__(self, stop_reasons: Mapping[str, ir.StopReason]) -> None:
        self._frames = EventStreamDecoder()
        self.runs = False  # never emits `ir.TextRun`
        self._stops = stop_reasons
        self._blocks: dict[int, tuple[int, ir.BlockKind]] = {}  # bedrock index -> (ir, kind)
        self._open: set[int] = set()  # IR indexes of blocks started and not stopped
        self._started = False
        self._stop: ir.StopReason | None = None  # set by messageStop
        self._done = False

    def feed(self, chunk: bytes) -> list[ir.Event]:
        if self._done:
            return []
        out: list[ir.Event] = []
        try:
            frames = self._frames.feed(chunk)
        except EventStreamError as exc:
            self._fail(out, ir.StreamError(f"Bedrock stream is corrupt: {exc}", 502))
            return out
        for frame in frames:
            self._frame(frame, out)
            if self._done:
                break
        return out

    def close(self) -> list[ir.Event]:
        if self._done:
            return []
        out: list[ir.Event] = []
        if self._stop is not None:
            self._end(ir.Usage(), out)
        else:
            what = "ended before messageStop" if self._started else "ended without any event"
            self._fail(out, ir.StreamError(f"Bedrock stream {what}", 502))
        return out

    def _frame(self, frame: Frame, out: list[ir.Event]) -> None:
        kind = frame.header(":message-type")
        if kind in ("exception", "error"):
            name = frame.header(":exception-type") or frame.header(":error-code") or "error"
            message = frame.header(":error-message") or _message(frame.payload) or name
            self._fail(out, ir.StreamError(message, status_of(name), type=name))
            return
        try:
            doc = orjson.loads(frame.payload) if frame.payload else {}
        except orjson.JSONDecodeError:
            self._fail(out, ir.StreamError("Bedrock sent an event that is not JSON", 502))
            return
        if not isinstance(doc, dict):
            doc = {}
        event = frame.header(":event-type")
        if not self._started:
            self._started = True
            out.append(ir.MessageStart(f"msg_bdrk_{os.urandom(12).hex()}", ""))
        if event in ("contentBlockStart", "contentBlockDelta"):
            self._content(event, doc, out)
        elif event == "contentBlockStop":
            entry = self._blocks.get(_index(doc))
            if entry is not None and entry[0] in self._open:
                self._open.discard(entry[0])
                out.append(ir.BlockStop(entry[0]))
        elif event == "messageStop":
            self._close_all(out)
            self._stop = self._stops.get(str(doc.get("stopReason")), ir.StopReason.END_TURN)
        elif event == "metadata":
            self._end(usage(doc.get("usage")), out)

    def _content(self, event: str, doc: dict[str, Any], out: list[ir.Event]) -> None:
        key = _index(doc)
        if event == "contentBlockStart":
            use = (doc.get("start") or {}).get("toolUse") or {}
            self._block(key, "tool_call", out, use.get("toolUseId"), use.get("name"))
            return
        delta = doc.get("delta")
        if not isinstance(delta, dict):
            return
        if isinstance(delta.get("text"), str):
            index = self._block(key, "text", out)
            out.append(ir.TextDelta(index, delta["text"]))
        elif isinstance(delta.get("toolUse"), dict):
            index = self._block(key, "tool_call", out)
            out.append(ir.ToolArgsDelta(index, str(delta["toolUse"].get("input") or "")))
        elif isinstance(delta.get("reasoningContent"), dict):
            rc = delta["reasoningContent"]
            index = self._block(key, "thinking", out)
            if "redactedContent" in rc:
                out.append(ir.ThinkingDelta(index, redacted=str(rc["redactedContent"])))
            elif isinstance(rc.get("signature"), str):
                out.append(ir.ThinkingDelta(index, signature=rc["signature"]))
            else:
                out.append(ir.ThinkingDelta(index, str(rc.get("text") or "")))

    def _block(
        self,
        key: int,
        kind: ir.BlockKind,
        out: list[ir.Event],
        tool_id: Any = None,
        tool_name: Any = None,
    ) -> int:
        entry = self._blocks.get(key)
        if entry is not None:
            return entry[0]
        index = len(self._blocks)
        self._blocks[key] = (index, kind)
        self._open.add(index)
        if kind == "tool_call":
            out.append(ir.BlockStart(index, kind, str(tool_id or ""), str(tool_name or "")))
        else:
            out.append(ir.BlockStart(index, kind))
        return index

    def _close_all(self, out: list[ir.Event]) -> None:
        for index in sorted(self._open):
            out.append(ir.BlockStop(index))
        self._open.clear()

    def _end(self, final: ir.Usage, out: list[ir.Event]) -> None:
        self._close_all(out)
        out.append(ir.MessageDelta(self._stop or ir.StopReason.END_TURN, usage=final))
        out.append(ir.MessageStop())
        self._done = True

    def _fail(self, out: list[ir.Event], error: ir.StreamError) -> None:
        self._close_all(out)
        out.append(error)
        self._done = True


def _index(doc: dict[str, Any]) -> int:
    value = doc.get("contentBlockIndex")
    return value if isinstance(value, int) else 0


def _message(payload: bytes) -> str | None:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("message"), str):
        return str(doc["message"])
    return None
