"""Gemini `streamGenerateContent?alt=sse` → IR stream events.

Each SSE event is a whole `GenerateContentResponse` holding the next parts; Gemini has no block
events, so the decoder synthesises them: consecutive text parts share a text block, consecutive
thought parts a thinking block, and each `functionCall` (always sent whole) is a block of its own
with one arguments delta. `usageMetadata` is cumulative (the last one wins). The chunk carrying a
`finishReason` ends the message; an `{"error": ...}` event becomes a `StreamError`.
"""

from __future__ import annotations

import os
from typing import Any

import orjson

from plano import ir
from plano.codec.sse import SseDecoder
from plano.translate.gemini_response import CallIds, first_candidate, part_to_ir, stop_reason, usage
from plano.wire.gemini import parse_error


class GeminiStreamDecoder:
    __slots__ = (
        "_done",
        "_ids",
        "_kind",
        "_next",
        "_saw_call",
        "_sse",
        "_started",
        "_usage",
        "runs",
    )

    def __init__(self) -> None:
        self._sse = SseDecoder()
        self.runs = False  # never emits `ir.TextRun`
        self._ids = CallIds()
        self._started = False
        self._done = False  # a terminal event (MessageStop or StreamError) went out
        self._kind: ir.BlockKind | None = None  # kind of the open block
        self._next = 0  # index of the next block
        self._saw_call = False
        self._usage = ir.Usage()

    def feed(self, chunk: bytes) -> list[ir.Event]:
        if self._done:
            return []
        out: list[ir.Event] = []
        for event in self._sse.feed(chunk):
            self._event(event.data, out)
            if self._done:
                break
        return out

    def close(self) -> list[ir.Event]:
        if self._done:
            return []
        out: list[ir.Event] = []
        for event in self._sse.close():
            self._event(event.data, out)
        if not self._done:
            self._close_block(out)
            what = "ended before its finish reason" if self._started else "ended without a response"
            out.append(ir.StreamError(f"Gemini stream {what}", 502))
            self._done = True
        return out

    def _event(self, data: str, out: list[ir.Event]) -> None:
        if not data.strip():
            return
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._fail(out, ir.StreamError("Gemini sent a stream event that is not JSON", 502))
            return
        err = parse_error(doc)
        if err is not None or not isinstance(doc, dict):
            status, message = err or (502, "Gemini sent a stream event that is not an object")
            self._fail(out, ir.StreamError(message, status))
            return
        if not self._started:
            self._started = True
            rid = str(doc.get("responseId") or f"gen-{os.urandom(12).hex()}")
            start_usage = usage(doc.get("usageMetadata"))
            out.append(ir.MessageStart(rid, str(doc.get("modelVersion") or ""), start_usage))
        candidate = first_candidate(doc)
        parts = (candidate.get("content") or {}).get("parts")
        for part in parts if isinstance(parts, list) else ():
            for piece in part_to_ir(part, self._ids):
                self._piece(piece, out)
        if isinstance(doc.get("usageMetadata"), dict):
            self._usage = usage(doc["usageMetadata"])
        blocked = (doc.get("promptFeedback") or {}).get("blockReason")
        if candidate.get("finishReason") or (blocked and not candidate):
            self._finish(candidate.get("finishReason"), blocked if not candidate else None, out)

    def _piece(self, piece: ir.Part, out: list[ir.Event]) -> None:
        if isinstance(piece, ir.Thinking):
            index = self._open("thinking", out)
            if piece.text:
                out.append(ir.ThinkingDelta(index, piece.text))
            if piece.signature:
                out.append(ir.ThinkingDelta(index, signature=piece.signature))
        elif isinstance(piece, ir.Text):
            if piece.text:
                out.append(ir.TextDelta(self._open("text", out), piece.text))
        elif isinstance(piece, ir.ToolCall):
            self._close_block(out)
            index = self._next
            self._next += 1
            self._saw_call = True
            out.append(ir.BlockStart(index, "tool_call", piece.id, piece.name))
            out.append(ir.ToolArgsDelta(index, piece.arguments))
            out.append(ir.BlockStop(index))

    def _open(self, kind: ir.BlockKind, out: list[ir.Event]) -> int:
        if self._kind != kind:
            self._close_block(out)
            self._kind = kind
            out.append(ir.BlockStart(self._next, kind))
            self._next += 1
        return self._next - 1

    def _close_block(self, out: list[ir.Event]) -> None:
        if self._kind is not None:
            out.append(ir.BlockStop(self._next - 1))
            self._kind = None

    def _finish(self, reason: Any, blocked: Any, out: list[ir.Event]) -> None:
        if blocked:
            index = self._open("refusal", out)
            out.append(ir.RefusalDelta(index, f"the prompt was blocked by Gemini ({blocked})"))
            stop = ir.StopReason.CONTENT_FILTER
        else:
            marker: list[ir.Part] = [ir.ToolCall("", "")] if self._saw_call else []
            stop = stop_reason(reason, marker)
        self._close_block(out)
        out.append(ir.MessageDelta(stop, usage=self._usage))
        out.append(ir.MessageStop())
        self._done = True

    def _fail(self, out: list[ir.Event], error: ir.StreamError) -> None:
        self._close_block(out)
        out.append(error)
        self._done = True
