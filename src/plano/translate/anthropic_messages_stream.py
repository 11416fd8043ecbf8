"""Anthropic Messages streams <-> IR events.

The IR's event lifecycle is Anthropic's, so both directions are close to one-to-one. The encoder
guarantees `message_start`, `message_delta` and `message_stop` exactly once each and closes every
block it opened; a thinking block's start is held until its first delta, because a redacted
thinking block is a different block type that only its first delta reveals.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano import ir
from plano.translate.sse_json import JsonEventDecoder

STOP_TO_IR: Final[dict[str, ir.StopReason]] = {
    "end_turn": ir.StopReason.END_TURN,
    "max_tokens": ir.StopReason.MAX_TOKENS,
    "stop_sequence": ir.StopReason.STOP_SEQUENCE,
    "tool_use": ir.StopReason.TOOL_USE,
    "refusal": ir.StopReason.REFUSAL,
    "pause_turn": ir.StopReason.PAUSE,
    "model_context_window_exceeded": ir.StopReason.MAX_TOKENS,
}
STOP_FROM_IR: Final = {
    ir.StopReason.END_TURN: "end_turn",
    ir.StopReason.MAX_TOKENS: "max_tokens",
    ir.StopReason.STOP_SEQUENCE: "stop_sequence",
    ir.StopReason.TOOL_USE: "tool_use",
    ir.StopReason.CONTENT_FILTER: "refusal",
    ir.StopReason.REFUSAL: "refusal",
    ir.StopReason.PAUSE: "pause_turn",
    ir.StopReason.ERROR: "end_turn",
}


def usage_of(doc: Any) -> ir.Usage:
    """Anthropic usage -> IR (whose `input` includes cache reads and writes)."""
    if not isinstance(doc, dict):
        return ir.Usage()
    read, write = doc.get("cache_read_input_tokens"), doc.get("cache_creation_input_tokens")
    given = doc.get("input_tokens")
    total = None if given is None else given + (read or 0) + (write or 0)
    return ir.Usage(
        input=total, output=doc.get("output_tokens"), cache_read=read, cache_write=write
    )


def usage_doc(usage: ir.Usage) -> dict[str, Any]:
    cached = (usage.cache_read or 0) + (usage.cache_write or 0)
    return {
        "input_tokens": max((usage.input or 0) - cached, 0),
        "output_tokens": usage.output or 0,
        "cache_read_input_tokens": usage.cache_read or 0,
        "cache_creation_input_tokens": usage.cache_write or 0,
    }


class MessagesStreamDecoder(JsonEventDecoder):
    """Upstream Anthropic SSE events -> IR events."""

    TERMINAL = "message_stop"
    FRAME_KEY: bytes | None = b'"text_delta","text":'

    def _event(self, doc: dict[str, Any], out: list[ir.Event]) -> None:
        kind = doc.get("type")
        if kind == "content_block_delta":
            d = doc.get("delta") or {}
            index, dk = doc.get("index", 0), d.get("type")
            if dk == "text_delta":
                out.append(ir.TextDelta(index, d.get("text", "")))
            elif dk == "input_json_delta":
                out.append(ir.ToolArgsDelta(index, d.get("partial_json", "")))
            elif dk == "thinking_delta":
                out.append(ir.ThinkingDelta(index, d.get("thinking", "")))
            elif dk == "signature_delta":
                out.append(ir.ThinkingDelta(index, "", signature=d.get("signature")))
        elif kind == "content_block_start":
            self._block_start(doc.get("index", 0), doc.get("content_block") or {}, out)
        elif kind == "content_block_stop":
            out.append(ir.BlockStop(doc.get("index", 0)))
        elif kind == "message_start":
            msg = doc.get("message") or {}
            out.append(
                ir.MessageStart(
                    str(msg.get("id", "")), str(msg.get("model", "")), usage_of(msg.get("usage"))
                )
            )
        elif kind == "message_delta":
            d = doc.get("delta") or {}
            stop = STOP_TO_IR.get(d.get("stop_reason") or "", None)
            out.append(
                ir.MessageDelta(stop, d.get("stop_sequence"), _delta_usage(doc.get("usage")))
            )
        elif kind == "message_stop":
            self._done = True
            out.append(ir.MessageStop())
        elif kind == "error":
            err = doc.get("error") or {}
            self._done = True
            out.append(
                ir.StreamError(
                    str(err.get("message", "upstream error")),
                    502,
                    str(err.get("type", "api_error")),
                )
            )

    def _block_start(self, index: int, block: dict[str, Any], out: list[ir.Event]) -> None:
        kind = block.get("type")
        if kind == "tool_use":
            out.append(ir.BlockStart(index, "tool_call", block.get("id"), block.get("name")))
            if block.get("input"):  # a server-filled input arrives whole
                out.append(ir.ToolArgsDelta(index, orjson.dumps(block["input"]).decode()))
        elif kind in ("thinking", "redacted_thinking"):
            out.append(ir.BlockStart(index, "thinking"))
            if kind == "redacted_thinking":
                out.append(ir.ThinkingDelta(index, redacted=block.get("data")))
        else:
            out.append(ir.BlockStart(index, "text"))
            if block.get("text"):
                out.append(ir.TextDelta(index, block["text"]))


def _delta_usage(doc: Any) -> ir.Usage:
    """message_delta usage: output always; input fields only when the event carries them."""
    usage = usage_of(doc)
    if isinstance(doc, dict) and doc.get("input_tokens") is None:
        usage.input = None
    return usage


_DELTA_HEAD: Final = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":'
_TEXT: Final = b',"delta":{"type":"text_delta","text":'
_JSON: Final = b',"delta":{"type":"input_json_delta","partial_json":'


_END: Final = b"}}\n\n"
_dumps = orjson.dumps


def _index(index: int) -> bytes:
    return _DELTA_HEAD + str(index).encode()


_INDEX: Final = [_index(i) for i in range(64)]  # the head of a delta event, per block index


def _delta(index: int, kind: bytes, value: str) -> bytes:
    """A text or input-JSON delta event, built from constant pieces (the hot path)."""
    return b"".join((_index(index), kind, _dumps(value), _END))


def _ev(name: bytes, doc: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(doc) + b"\n\n"


def _stop_event(index: int) -> bytes:
    return _ev(b"content_block_stop", {"type": "content_block_stop", "index": index})


def _text_start(index: int) -> bytes:
    block = {"type": "text", "text": ""}
    doc = {"type": "content_block_start", "index": index, "content_block": block}
    return _ev(b"content_block_start", doc)


# Constant events, encoded once.
_STOP: Final = [_stop_event(i) for i in range(64)]
_TEXT_START: Final = [_text_start(i) for i in range(64)]
_MESSAGE_STOP: Final = _ev(b"message_stop", {"type": "message_stop"})


class MessagesStreamEncoder:
    """IR events -> Anthropic SSE bytes, the full lifecycle exactly once."""

    def __init__(self) -> None:
        self._started = False
        self._delta_sent = False
        self._finished = False
        self._open: set[int] = set()
        self._held: set[int] = set()  # thinking blocks whose start waits for the first delta
        self._usage = ir.Usage()

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[bytes] = []
        is_open = self._open.__contains__
        for ev in events:
            if self._finished:
                break
            kind = type(ev)
            if kind is ir.TextDelta:  # deltas of unknown or closed blocks are dropped
                if is_open(ev.index):  # type: ignore[union-attr]
                    out += (_INDEX[ev.index] if ev.index < 64 else _index(ev.index), _TEXT)  # type: ignore[union-attr]
                    out += (_dumps(ev.text), _END)  # type: ignore[union-attr]
            elif kind is ir.TextRun:  # consecutive deltas: their literals spliced in one join
                if is_open(ev.index):  # type: ignore[union-attr]
                    self._run(ev, out)  # type: ignore[arg-type]
            elif kind is ir.ToolArgsDelta:
                if is_open(ev.index):  # type: ignore[union-attr]
                    out += (_index(ev.index), _JSON, _dumps(ev.partial_json), _END)  # type: ignore[union-attr]
            else:
                self._other(ev, out)
        return b"".join(out)

    def _run(self, ev: ir.TextRun, out: list[bytes]) -> None:
        head = (_INDEX[ev.index] if ev.index < 64 else _index(ev.index)) + _TEXT
        lits = ev.literals or [_dumps(text) for text in ev.texts]
        out.append(head + (_END + head).join(lits) + _END)

    def _start(self, out: list[bytes], msg_id: str = "", model: str = "") -> None:
        self._started = True
        message: dict[str, Any] = {
            "id": msg_id if msg_id.startswith("msg_") else "msg_" + msg_id,
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": model,
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_doc(self._usage),
        }
        out.append(_ev(b"message_start", {"type": "message_start", "message": message}))

    def _block_start(self, index: int, block: dict[str, Any], out: list[bytes]) -> None:
        self._open.add(index)
        out.append(
            _ev(
                b"content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )

    def _other(self, ev: ir.Event, out: list[bytes]) -> None:
        if isinstance(ev, ir.MessageStart):
            if not self._started:
                self._usage.merge(ev.usage)
                self._start(out, ev.id, ev.model)
            return
        if not self._started and not isinstance(ev, ir.StreamError):
            self._start(out)
        if isinstance(ev, ir.BlockStart):
            self._on_block_start(ev, out)
        elif isinstance(ev, ir.ThinkingDelta):
            self._thinking(ev, out)
        elif isinstance(ev, ir.RefusalDelta):
            d = {"type": "text_delta", "text": ev.text}
            out.append(
                _ev(
                    b"content_block_delta",
                    {"type": "content_block_delta", "index": ev.index, "delta": d},
                )
            )
        elif isinstance(ev, ir.BlockStop):
            self._stop_block(ev.index, out)
        elif isinstance(ev, ir.MessageDelta):
            self._usage.merge(ev.usage)
            if not self._delta_sent:
                self._close_blocks(out)
                self._delta_sent = True
                stop = STOP_FROM_IR[ev.stop_reason or ir.StopReason.END_TURN]
                usage = usage_doc(self._usage)
                delta = {"stop_reason": stop, "stop_sequence": ev.stop_sequence}
                out.append(
                    _ev(b"message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
                )
        elif isinstance(ev, ir.MessageStop):
            self._close_blocks(out)
            if not self._delta_sent:
                self._other(ir.MessageDelta(ir.StopReason.END_TURN), out)
            out.append(_MESSAGE_STOP)
            self._finished = True
        elif isinstance(ev, ir.StreamError):
            err = {"type": "error", "error": {"type": ev.type, "message": ev.message}}
            out.append(_ev(b"error", err))
            self._finished = True

    def _on_block_start(self, ev: ir.BlockStart, out: list[bytes]) -> None:
        if ev.kind == "thinking":
            self._held.add(ev.index)
        elif ev.kind == "tool_call":
            block = {
                "type": "tool_use",
                "id": ev.tool_call_id or "",
                "name": ev.tool_name or "",
                "input": {},
            }
            self._block_start(ev.index, block, out)
        else:
            self._open.add(ev.index)
            out.append(_TEXT_START[ev.index] if ev.index < 64 else _text_start(ev.index))

    def _thinking(self, ev: ir.ThinkingDelta, out: list[bytes]) -> None:
        if ev.index in self._held:
            self._held.discard(ev.index)
            if ev.redacted is not None:
                self._block_start(ev.index, {"type": "redacted_thinking", "data": ev.redacted}, out)
                return
            self._block_start(ev.index, {"type": "thinking", "thinking": "", "signature": ""}, out)
        if ev.text:
            d: dict[str, Any] = {"type": "thinking_delta", "thinking": ev.text}
            out.append(
                _ev(
                    b"content_block_delta",
                    {"type": "content_block_delta", "index": ev.index, "delta": d},
                )
            )
        if ev.signature:
            d = {"type": "signature_delta", "signature": ev.signature}
            out.append(
                _ev(
                    b"content_block_delta",
                    {"type": "content_block_delta", "index": ev.index, "delta": d},
                )
            )

    def _stop_block(self, index: int, out: list[bytes]) -> None:
        if index in self._held:  # an empty thinking block: start it so that it can stop
            self._held.discard(index)
            self._block_start(index, {"type": "thinking", "thinking": "", "signature": ""}, out)
        if index in self._open:
            self._open.discard(index)
            out.append(_STOP[index] if index < 64 else _stop_event(index))

    def _close_blocks(self, out: list[bytes]) -> None:
        for index in sorted(self._open | self._held):
            self._stop_block(index, out)
