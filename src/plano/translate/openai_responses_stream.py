"""OpenAI Responses streams <-> IR events, plus the item shapes both directions share.

Encoder lifecycle: `response.created`, `response.in_progress`; per IR block an output item
(`output_item.added`, then for messages `content_part.added`, `output_text.delta`/`.done`
(or `refusal.*`), `content_part.done`; for function calls `function_call_arguments.delta`/`.done`;
for reasoning `reasoning_summary_part.added`, `reasoning_summary_text.delta`/`.done`,
`reasoning_summary_part.done`), `output_item.done`; finally `response.completed` (or
`response.incomplete`) with the whole output and usage. Every event has a `sequence_number`.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano import ir
from plano.translate.openai_responses_items import (
    envelope,
    parts_of_item,
    response_id,
    status_of,
    stop_of,
    usage_of,
)
from plano.translate.sse_json import JsonEventDecoder


class ResponsesStreamDecoder(JsonEventDecoder):
    """Upstream Responses events -> IR events. Blocks are numbered in the order they start."""

    TERMINAL = "response.completed"
    # of response.output_text.delta (the other deltas: full decoder)
    FRAME_KEY: bytes | None = b'"delta":'
    FRAME_NUMBER: bytes | None = b'"sequence_number":'

    def __init__(self) -> None:
        super().__init__()
        self._blocks: dict[tuple[int, int], int] = {}  # (output_index, content_index) -> block
        self._parts: list[ir.Part] = []

    def _open(
        self, key: tuple[int, int], kind: ir.BlockKind, out: list[ir.Event], **kw: Any
    ) -> None:
        index = self._blocks[key] = len(self._blocks)
        out.append(ir.BlockStart(index, kind, **kw))

    def _event(self, doc: dict[str, Any], out: list[ir.Event]) -> None:
        kind = doc.get("type", "")
        oi = doc.get("output_index", 0)
        if kind == "response.output_text.delta":
            out.append(
                ir.TextDelta(
                    self._blocks.get((oi, doc.get("content_index", 0)), 0), doc.get("delta", "")
                )
            )
        elif kind == "response.function_call_arguments.delta":
            out.append(ir.ToolArgsDelta(self._blocks.get((oi, -1), 0), doc.get("delta", "")))
        elif kind == "response.reasoning_summary_text.delta":
            out.append(ir.ThinkingDelta(self._blocks.get((oi, -1), 0), doc.get("delta", "")))
        elif kind == "response.refusal.delta":
            out.append(
                ir.RefusalDelta(
                    self._blocks.get((oi, doc.get("content_index", 0)), 0), doc.get("delta", "")
                )
            )
        elif kind == "response.content_part.added":
            part = doc.get("part") or {}
            self._open(
                (oi, doc.get("content_index", 0)),
                "refusal" if part.get("type") == "refusal" else "text",
                out,
            )
        elif kind == "response.content_part.done":
            index = self._blocks.get((oi, doc.get("content_index", 0)))
            if index is not None:
                out.append(ir.BlockStop(index))
        elif kind == "response.output_item.added":
            item = doc.get("item") or {}
            if item.get("type") == "function_call":
                self._open(
                    (oi, -1),
                    "tool_call",
                    out,
                    tool_call_id=item.get("call_id"),
                    tool_name=item.get("name"),
                )
            elif item.get("type") == "reasoning":
                self._open((oi, -1), "thinking", out)
        elif kind == "response.output_item.done":
            self._item_done(oi, doc.get("item") or {}, out)
        elif kind == "response.created":
            r = doc.get("response") or {}
            out.append(
                ir.MessageStart(
                    str(r.get("id", "")), str(r.get("model", "")), created=r.get("created_at")
                )
            )
        elif kind in ("response.completed", "response.incomplete"):
            r = doc.get("response") or {}
            self._done = True
            out.append(ir.MessageDelta(stop_of(r, self._parts), usage=usage_of(r.get("usage"))))
            out.append(ir.MessageStop())
        elif kind in ("response.failed", "error"):
            err = (doc.get("response") or {}).get("error") or doc
            self._done = True
            out.append(ir.StreamError(str(err.get("message") or "upstream response failed")))

    def _item_done(self, oi: int, item: dict[str, Any], out: list[ir.Event]) -> None:
        self._parts.extend(parts_of_item(item))
        index = self._blocks.get((oi, -1))
        if index is None:
            return
        if item.get("type") == "reasoning" and item.get("encrypted_content"):
            out.append(ir.ThinkingDelta(index, "", signature=item["encrypted_content"]))
        out.append(ir.BlockStop(index))


class ResponsesStreamEncoder:
    """IR events -> Responses SSE bytes (`event:` named, `sequence_number` on every event)."""

    def __init__(self) -> None:
        self._seq = 0
        self._rid = ""
        self._model = ""
        self._created = 0
        self._items: dict[int, dict[str, Any]] = {}  # block index -> item being built
        self._pieces: dict[int, list[str]] = {}  # block index -> its text so far, in pieces
        self._heads: dict[int, tuple[bytes, bytes]] = {}  # block index -> delta event framing
        self._pos: dict[int, int] = {}  # block index -> output_index
        self._output: list[dict[str, Any]] = []
        self._stop: ir.StopReason | None = None
        self._usage = ir.Usage()
        self._finished = False

    @property
    def output(self) -> list[dict[str, Any]]:
        """The output items finished so far (all of them once the response completed)."""
        return self._output

    def resume(
        self,
        rid: str,
        model: str,
        created: int,
        seq: int,
        done: list[dict[str, Any]],
        open_text: tuple[int, str, list[str]] | None,
    ) -> None:
        """Prime the encoder as a client's stream stands (mid-stream failover): its response,
        the next `sequence_number`, the items it finished and the message whose `output_text`
        part (content index 0) is still open (output index, item id, its text so far). Events
        encoded next go on from there: no second `response.created`; a text block started at
        that output index continues the open part."""
        self._rid, self._model, self._created, self._seq = rid, model, created, seq
        self._output = list(done)
        if open_text is not None:
            pos, item_id, pieces = open_text
            self._pos[pos] = pos
            self._items[pos] = {
                "id": item_id,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "", "annotations": []}],
            }
            self._pieces[pos] = list(pieces)
            kind = "response.output_text.delta"
            self._delta_head(pos, kind, item_id, '"content_index":0,', '"logprobs":[],')

    def _ev(self, kind: str, doc: dict[str, Any], out: list[bytes]) -> None:
        doc["type"] = kind
        doc["sequence_number"] = self._seq
        self._seq += 1
        out.append(b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(doc) + b"\n\n")

    def encode(self, events: list[ir.Event]) -> bytes:
        out: list[bytes] = []
        for ev in events:
            if self._finished:
                break
            kind = type(ev)
            if kind is ir.TextDelta or kind is ir.ToolArgsDelta or kind is ir.RefusalDelta:
                index: int = ev.index  # type: ignore[union-attr]
                head = self._heads.get(index)
                if head is None:
                    continue  # a delta for a block never started (or already closed): dropped
                text: str = ev.partial_json if kind is ir.ToolArgsDelta else ev.text  # type: ignore[union-attr]
                self._pieces[index].append(text)
                out += (head[0], orjson.dumps(text), head[1], str(self._seq).encode(), b"}\n\n")
                self._seq += 1
            elif kind is ir.TextRun:
                self._run(ev, out)  # type: ignore[arg-type]
            else:
                self._other(ev, out)
        return b"".join(out)

    def _run(self, ev: ir.TextRun, out: list[bytes]) -> None:
        """Consecutive text deltas: the literals spliced into the block's delta framing."""
        head = self._heads.get(ev.index)
        if head is None:
            return  # a block never started (or already closed): dropped
        self._pieces[ev.index] += ev.texts
        lits = ev.literals or [orjson.dumps(text) for text in ev.texts]
        first, after = head
        seq = self._seq
        for lit in lits:
            out += (first, lit, after, str(seq).encode(), b"}\n\n")
            seq += 1
        self._seq = seq

    def _delta_head(self, index: int, kind: str, item_id: str, fields: str, tail: str) -> None:
        """The constant framing of a block's delta events: all but the delta and the number."""
        pos = self._pos[index]
        head = f'event: {kind}\ndata: {{"item_id":"{item_id}","output_index":{pos},{fields}"delta":'
        self._heads[index] = (head.encode(), f',{tail}"type":"{kind}","sequence_number":'.encode())

    def _response(self, status: str) -> dict[str, Any]:
        incomplete = status_of(self._stop)[1] if status == "incomplete" else None
        usage = self._usage if status != "in_progress" else None
        return envelope(
            self._rid,
            self._model,
            self._created,
            status,
            self._output if usage else [],
            usage,
            incomplete,
        )

    def _other(self, ev: ir.Event, out: list[bytes]) -> None:
        if isinstance(ev, ir.MessageStart):
            self._rid, self._model = response_id(ev.id), ev.model
            self._created = ev.created or 0
            self._usage.merge(ev.usage)
            envelope_json = orjson.dumps(self._response("in_progress"))  # once for both events
            for kind in ("response.created", "response.in_progress"):
                head = f'event: {kind}\ndata: {{"response":'.encode()
                tail = f',"type":"{kind}","sequence_number":{self._seq}}}\n\n'.encode()
                out.append(head + envelope_json + tail)
                self._seq += 1
        elif isinstance(ev, ir.BlockStart):
            self._start(ev, out)
        elif isinstance(ev, ir.ThinkingDelta):
            self._thinking(ev, out)
        elif isinstance(ev, ir.BlockStop):
            self._finish_item(ev.index, out)
        elif isinstance(ev, ir.MessageDelta):
            self._usage.merge(ev.usage)
            self._stop = ev.stop_reason or self._stop
        elif isinstance(ev, ir.MessageStop):
            for index in list(self._items):
                self._finish_item(index, out)
            status = status_of(self._stop)[0]
            kind = "response.completed" if status == "completed" else "response.incomplete"
            self._ev(kind, {"response": self._response(status)}, out)
            self._finished = True
        elif isinstance(ev, ir.StreamError):
            self._ev("error", {"code": ev.type, "message": ev.message, "param": None}, out)
            self._finished = True

    def _start(self, ev: ir.BlockStart, out: list[bytes]) -> None:
        pos = self._pos[ev.index] = len(self._output) + len(self._items)
        suffix = f"{pos}_{self._rid[5:]}"
        item: dict[str, Any]
        if ev.kind == "tool_call":
            item = {
                "id": "fc_" + suffix,
                "type": "function_call",
                "status": "in_progress",
                "arguments": "",
                "call_id": ev.tool_call_id or "",
                "name": ev.tool_name or "",
            }
        elif ev.kind == "thinking":
            item = {"id": "rs_" + suffix, "type": "reasoning", "summary": []}
        else:
            item = {
                "id": "msg_" + suffix,
                "type": "message",
                "status": "in_progress",
                "role": "assistant",
                "content": [],
            }
        self._items[ev.index] = item
        self._ev(
            "response.output_item.added",
            {
                "output_index": pos,
                "item": dict(item, content=[]) if "content" in item else dict(item),
            },
            out,
        )
        if ev.kind in ("text", "refusal"):
            part = (
                {"type": "refusal", "refusal": ""}
                if ev.kind == "refusal"
                else {"type": "output_text", "text": "", "annotations": []}
            )
            item["content"].append(part)
            self._ev(
                "response.content_part.added",
                {
                    "item_id": item["id"],
                    "output_index": pos,
                    "content_index": 0,
                    "part": dict(part),
                },
                out,
            )
        self._pieces[ev.index] = []
        if ev.kind == "text":
            kind = "response.output_text.delta"
            self._delta_head(ev.index, kind, item["id"], '"content_index":0,', '"logprobs":[],')
        elif ev.kind == "refusal":
            self._delta_head(
                ev.index, "response.refusal.delta", item["id"], '"content_index":0,', ""
            )
        elif ev.kind == "tool_call":
            kind = "response.function_call_arguments.delta"
            self._delta_head(ev.index, kind, item["id"], "", "")

    def _thinking(self, ev: ir.ThinkingDelta, out: list[bytes]) -> None:
        item = self._items.get(ev.index)
        if item is None:
            return
        if ev.signature or ev.redacted:
            item["encrypted_content"] = (item.get("encrypted_content") or "") + (
                ev.signature or ev.redacted or ""
            )
        if not ev.text:
            return
        base = {"item_id": item["id"], "output_index": self._pos[ev.index], "summary_index": 0}
        if not item["summary"]:
            item["summary"].append({"type": "summary_text", "text": ""})
            self._ev(
                "response.reasoning_summary_part.added",
                dict(base, part={"type": "summary_text", "text": ""}),
                out,
            )
        self._pieces[ev.index].append(ev.text)
        self._ev("response.reasoning_summary_text.delta", dict(base, delta=ev.text), out)

    def _finish_item(self, index: int, out: list[bytes]) -> None:
        item = self._items.pop(index, None)
        if item is None:
            return
        self._heads.pop(index, None)
        joined = "".join(self._pieces.pop(index, ()))
        if item["type"] == "message":
            part = item["content"][0]
            part["refusal" if part["type"] == "refusal" else "text"] = joined
        elif item["type"] == "function_call":
            item["arguments"] = joined
        elif item["summary"]:
            item["summary"][0]["text"] = joined
        pos = self._pos[index]
        base = {"item_id": item["id"], "output_index": pos}
        if item["type"] == "message":
            part = item["content"][0]
            if part["type"] == "output_text":
                self._ev(
                    "response.output_text.done",
                    dict(base, content_index=0, text=part["text"], logprobs=[]),
                    out,
                )
            else:
                self._ev(
                    "response.refusal.done",
                    dict(base, content_index=0, refusal=part["refusal"]),
                    out,
                )
            self._ev("response.content_part.done", dict(base, content_index=0, part=part), out)
        elif item["type"] == "function_call":
            self._ev(
                "response.function_call_arguments.done",
                dict(base, arguments=item["arguments"], name=item["name"]),
                out,
            )
        elif item["summary"]:
            text = item["summary"][0]["text"]
            self._ev(
                "response.reasoning_summary_text.done", dict(base, summary_index=0, text=text), out
            )
            self._ev(
                "response.reasoning_summary_part.done",
                dict(base, summary_index=0, part=item["summary"][0]),
                out,
            )
        if "status" in item:
            item["status"] = "completed"
        self._output.append(item)
        self._ev("response.output_item.done", {"output_index": pos, "item": item}, out)
