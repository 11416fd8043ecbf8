"""OpenAI Chat Completions streams <-> IR events.

Decoder: `chat.completion.chunk` events have no block structure, so blocks are synthesised: a text
(or reasoning, or refusal) block opens with its first delta, each tool-call index is one block, and
a block closes when another kind starts. `finish_reason` and the usage chunk are held until
`[DONE]`, which closes everything (`MessageDelta`, `MessageStop`).

Encoder: a role chunk first, content / `reasoning_content` / `refusal` deltas, tool calls with
index, id and name then argument fragments, a `finish_reason` chunk, a usage chunk only when the
client set `stream_options.include_usage`, then `data: [DONE]`.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

from plano import ir
from plano.codec.sse import DONE
from plano.errors import UpstreamProtocolError
from plano.translate.sse_json import DeltaFrame, JsonSse, event_json

FINISH_FROM_IR: Final[dict[ir.StopReason, str]] = {
    ir.StopReason.END_TURN: "stop",
    ir.StopReason.STOP_SEQUENCE: "stop",
    ir.StopReason.PAUSE: "stop",
    ir.StopReason.ERROR: "stop",
    ir.StopReason.MAX_TOKENS: "length",
    ir.StopReason.TOOL_USE: "tool_calls",
    ir.StopReason.CONTENT_FILTER: "content_filter",
    ir.StopReason.REFUSAL: "content_filter",
}
_FINISH_TO_IR: Final = {
    "stop": ir.StopReason.END_TURN,
    "length": ir.StopReason.MAX_TOKENS,
    "tool_calls": ir.StopReason.TOOL_USE,
    "function_call": ir.StopReason.TOOL_USE,
    "content_filter": ir.StopReason.CONTENT_FILTER,
}


def usage_of(doc: Any) -> ir.Usage:
    if not isinstance(doc, dict):
        return ir.Usage()
    details = doc.get("prompt_tokens_details")
    out_details = doc.get("completion_tokens_details")
    return ir.Usage(
        input=doc.get("prompt_tokens"),
        output=doc.get("completion_tokens"),
        cache_read=details.get("cached_tokens") if isinstance(details, dict) else None,
        reasoning=out_details.get("reasoning_tokens") if isinstance(out_details, dict) else None,
    )


def usage_doc(usage: ir.Usage) -> dict[str, Any]:
    prompt, completion = usage.input or 0, usage.output or 0
    doc: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if usage.cache_read is not None:
        doc["prompt_tokens_details"] = {"cached_tokens": usage.cache_read}
    if usage.reasoning is not None:
        doc["completion_tokens_details"] = {"reasoning_tokens": usage.reasoning}
    return doc


class ChatStreamDecoder:
    """Upstream chat-completion chunks -> IR events."""

    def __init__(self) -> None:
        self._sse = JsonSse()
        self._started = False
        self._done = False
        self._next = 0  # next block index
        self._open: tuple[str, int] | None = None  # (key, block index) of the open block
        self._tools: dict[int, int] = {}  # upstream tool-call index -> block index
        self._stop: ir.StopReason | None = None
        self._usage = ir.Usage()
        # The bytes around a text delta's string, once one text event was read in full (None
        # before, False when that event could not give one): later text events parse the string.
        self._frame: DeltaFrame | bool | None = None
        self.runs = False  # the consumer takes `ir.TextRun` (framed text deltas read at once)

    def feed(self, chunk: bytes) -> list[ir.Event]:
        try:
            events = self._sse.events(chunk)
        except UpstreamProtocolError as err:
            return self._fail(err.message)
        out: list[ir.Event] = []
        i, n = 0, len(events)
        while i < n:
            event = events[i]
            i += 1
            if self._done:
                break
            block = self._open
            text_open = block is not None and block[0] == "text"
            frame = self._frame
            if frame and text_open:
                if self.runs and i < n:
                    run = frame.run(events, i - 1)  # type: ignore[union-attr]
                    if run is not None:
                        _text_run(block[1], run.texts, run.literals, out)  # type: ignore[index]
                        i = run.end
                        continue
                text = frame.text(event)  # type: ignore[union-attr]
                if text is not None:
                    if text:
                        out.append(ir.TextDelta(block[1], text))  # type: ignore[index]
                    continue
            try:
                doc = event_json(event)
            except UpstreamProtocolError as err:
                out.extend(self._fail(err.message))
                break
            if doc is None:
                out.extend(self._finish())
                continue
            # The hot path, inline: one more text delta for the open text block (most chunks).
            if text_open and type(doc) is dict:
                choices = doc.get("choices")
                if choices and len(choices) == 1 and not doc.get("usage"):
                    choice = choices[0]
                    delta = choice.get("delta")
                    if delta and len(delta) == 1 and not choice.get("finish_reason"):
                        text = delta.get("content")
                        if type(text) is str:
                            if text:
                                out.append(ir.TextDelta(block[1], text))  # type: ignore[index]
                            if frame is None:
                                self._frame = DeltaFrame.learn(event, _CONTENT, text) or False
                            continue
            self._chunk(doc, out)
        return out

    def close(self) -> list[ir.Event]:
        """End of body: `[DONE]` is the terminal event (a finish_reason alone is not: the
        usage chunk may still be owed), so a stream without it ends with a StreamError."""
        if self._done:
            return []
        try:
            out = self._close_sse()
        except UpstreamProtocolError as err:
            return self._fail(err.message)
        if self._done:
            return out
        return out + self._fail("upstream stream ended before data: [DONE]")

    def _close_sse(self) -> list[ir.Event]:
        out: list[ir.Event] = []
        for doc in self._sse.close():
            if doc is None:
                out.extend(self._finish())
            elif not self._done:
                self._chunk(doc, out)
        return out

    def _fail(self, message: str) -> list[ir.Event]:
        self._done = True
        self._frame = False
        return [ir.StreamError(message)]

    def _chunk(self, doc: Any, out: list[ir.Event]) -> None:
        if not isinstance(doc, dict):
            return
        if "error" in doc and "choices" not in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {}
            out.extend(self._fail(str(err.get("message") or "upstream stream error")))
            return
        if not self._started:
            self._started = True
            out.append(
                ir.MessageStart(
                    str(doc.get("id", "")), str(doc.get("model", "")), created=doc.get("created")
                )
            )
        usage = doc.get("usage")
        if usage:
            self._usage.merge(usage_of(usage))
        for choice in doc.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta:
                self._delta(delta, out)
            finish = choice.get("finish_reason")
            if finish:
                self._stop = _FINISH_TO_IR.get(finish, ir.StopReason.END_TURN)

    def _block(self, key: str, kind: ir.BlockKind, out: list[ir.Event], **kw: Any) -> int:
        if self._open is not None and self._open[0] == key:
            return self._open[1]
        if self._open is not None:
            out.append(ir.BlockStop(self._open[1]))
        index = self._next
        self._next += 1
        self._open = (key, index)
        out.append(ir.BlockStart(index, kind, **kw))
        return index

    def _delta(self, delta: dict[str, Any], out: list[ir.Event]) -> None:
        if len(delta) == 1 and "content" in delta:  # the common text-only delta
            text = delta["content"]
            if text:
                out.append(ir.TextDelta(self._block("text", "text", out), text))
            return
        reasoning = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(reasoning, str) and reasoning:
            out.append(ir.ThinkingDelta(self._block("thinking", "thinking", out), reasoning))
        text = delta.get("content")
        if text:
            out.append(ir.TextDelta(self._block("text", "text", out), text))
        refusal = delta.get("refusal")
        if refusal:
            out.append(ir.RefusalDelta(self._block("refusal", "refusal", out), refusal))
        for call in delta.get("tool_calls") or ():
            self._tool_delta(call, out)

    def _tool_delta(self, call: dict[str, Any], out: list[ir.Event]) -> None:
        pos = call.get("index", 0)
        fn = call.get("function") or {}
        index = self._tools.get(pos)
        if index is None:
            index = self._block(
                f"tool{pos}",
                "tool_call",
                out,
                tool_call_id=call.get("id") or "",
                tool_name=fn.get("name") or "",
            )
            self._tools[pos] = index
        args = fn.get("arguments")
        if args:
            out.append(ir.ToolArgsDelta(index, args))

    def _finish(self) -> list[ir.Event]:
        out: list[ir.Event] = []
        if not self._started:
            out.append(ir.MessageStart("", ""))
        if self._open is not None:
            out.append(ir.BlockStop(self._open[1]))
            self._open = None
        self._done = True
        out.append(ir.MessageDelta(self._stop or ir.StopReason.END_TURN, usage=self._usage))
        out.append(ir.MessageStop())
        return out


def _text_run(
    index: int, texts: list[str], literals: list[bytes] | None, out: list[ir.Event]
) -> None:
    """The text deltas of a run, less the empty ones (a chunk with empty content adds none)."""
    if "" in texts:
        kept = [i for i, text in enumerate(texts) if text]
        if not kept:
            return
        texts = [texts[i] for i in kept]
        literals = None if literals is None else [literals[i] for i in kept]
    out.append(ir.TextRun(index, texts, literals))


_CONTENT: Final = b'"delta":{"content":'
_TEXT_HEAD: Final = b'"choices":[{"index":0,"delta":{"content":'
_TEXT_TAIL: Final = b'},"logprobs":null,"finish_reason":null}]}\n\n'


class ChatStreamEncoder:
    """IR events -> `chat.completion.chunk` SSE bytes for an OpenAI client."""

    def __init__(self, include_usage: bool) -> None:
        self._include_usage = include_usage
        self._head = b""  # `{"id":..,"object":..,"created":..,"model":..,` computed once
        self._text_head = b"data: " + _TEXT_HEAD
        self._tool_pos: dict[int, int] = {}  # block index -> tool_calls index
        self._usage = ir.Usage()
        self._finished = False

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return b"data: " + self._head + b'"choices":' + orjson.dumps([choice]) + b"}\n\n"

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[bytes] = []
        for ev in events:
            if self._finished:
                break
            kind = type(ev)
            if kind is ir.TextDelta:  # the hot path: framing computed once per stream
                out += (self._text_head, orjson.dumps(ev.text), _TEXT_TAIL)  # type: ignore[union-attr]
            elif kind is ir.TextRun:  # consecutive deltas: their literals spliced in one join
                self._run(ev, out)  # type: ignore[arg-type]
            elif isinstance(ev, ir.ToolArgsDelta):
                pos = self._tool_pos.get(ev.index, 0)
                part = {"index": pos, "function": {"arguments": ev.partial_json}}
                out.append(self._chunk({"tool_calls": [part]}))
            else:
                self._other(ev, out)
        return b"".join(out)

    def _run(self, ev: ir.TextRun, out: list[bytes]) -> None:
        lits = ev.literals or [orjson.dumps(text) for text in ev.texts]
        head = self._text_head
        out.append(head + (_TEXT_TAIL + head).join(lits) + _TEXT_TAIL)

    def _other(self, ev: ir.Event, out: list[bytes]) -> None:
        if isinstance(ev, ir.MessageStart):
            head = {
                "id": ev.id or "chatcmpl-plano",
                "object": "chat.completion.chunk",
                "created": ev.created or int(time.time()),
                "model": ev.model,
            }
            self._head = orjson.dumps(head)[:-1] + b","
            self._text_head = b"data: " + self._head + _TEXT_HEAD
            self._usage.merge(ev.usage)
            out.append(self._chunk({"role": "assistant", "content": ""}))
        elif isinstance(ev, ir.BlockStart) and ev.kind == "tool_call":
            pos = self._tool_pos[ev.index] = len(self._tool_pos)
            fn = {"name": ev.tool_name or "", "arguments": ""}
            head = {"index": pos, "id": ev.tool_call_id or "", "type": "function", "function": fn}
            out.append(self._chunk({"tool_calls": [head]}))
        elif isinstance(ev, ir.ThinkingDelta) and ev.text:
            out.append(self._chunk({"reasoning_content": ev.text}))
        elif isinstance(ev, ir.RefusalDelta):
            out.append(self._chunk({"refusal": ev.text}))
        elif isinstance(ev, ir.MessageDelta):
            self._usage.merge(ev.usage)
            out.append(self._chunk({}, FINISH_FROM_IR[ev.stop_reason or ir.StopReason.END_TURN]))
        elif isinstance(ev, ir.MessageStop):
            if self._include_usage:
                out.append(
                    b"data: "
                    + self._head
                    + b'"choices":[],"usage":'
                    + orjson.dumps(usage_doc(self._usage))
                    + b"}\n\n"
                )
            out.append(DONE)
            self._finished = True
        elif isinstance(ev, ir.StreamError):
            err = {"error": {"message": ev.message, "type": ev.type, "param": None, "code": None}}
            out.append(b"data: " + orjson.dumps(err) + b"\n\n")
            self._finished = True
