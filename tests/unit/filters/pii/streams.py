"""Event streams of the three client dialects carrying given text pieces, and the text a client
reads back from them (what the PII tests restore and check)."""

from __future__ import annotations

from typing import Any

import orjson


def _sse(name: str | None, doc: dict[str, Any]) -> bytes:
    data = b"data: " + orjson.dumps(doc) + b"\n\n"
    return b"event: " + name.encode() + b"\n" + data if name else data


def chat_events(pieces: list[str]) -> list[bytes]:
    head = {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    out = [
        _sse(
            None, {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
        )
    ]
    for p in pieces:
        out.append(
            _sse(
                None,
                {**head, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]},
            )
        )
    out.append(
        _sse(None, {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    )
    out.append(b"data: [DONE]\n\n")
    return out


def anthropic_events(pieces: list[str]) -> list[bytes]:
    message = {"id": "m1", "type": "message", "role": "assistant", "content": [], "model": "m"}
    out = [
        _sse("message_start", {"type": "message_start", "message": message}),
        _sse(
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
    ]
    for p in pieces:
        delta = {"type": "text_delta", "text": p}
        out.append(
            _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta})
        )
    out.append(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
    out.append(
        _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"}})
    )
    out.append(_sse("message_stop", {"type": "message_stop"}))
    return out


def responses_events(pieces: list[str]) -> list[bytes]:
    text = "".join(pieces)
    where = {"item_id": "msg_1", "output_index": 0, "content_index": 0}
    part = {"type": "output_text", "text": text, "annotations": []}
    item = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [part],
    }
    out = [
        _sse(
            "response.created", {"type": "response.created", "response": {"id": "r1", "output": []}}
        )
    ]
    for p in pieces:
        out.append(
            _sse(
                "response.output_text.delta",
                {"type": "response.output_text.delta", **where, "delta": p},
            )
        )
    out.append(
        _sse(
            "response.output_text.done",
            {"type": "response.output_text.done", **where, "text": text},
        )
    )
    out.append(
        _sse(
            "response.content_part.done",
            {"type": "response.content_part.done", **where, "part": part},
        )
    )
    out.append(
        _sse(
            "response.output_item.done",
            {"type": "response.output_item.done", "output_index": 0, "item": item},
        )
    )
    done = {"id": "r1", "object": "response", "status": "completed", "output": [item]}
    out.append(_sse("response.completed", {"type": "response.completed", "response": done}))
    return out


BUILDERS = {"chat": chat_events, "anthropic": anthropic_events, "responses": responses_events}


def events_of(stream: bytes) -> list[dict[str, Any]]:
    out = []
    for block in stream.split(b"\n\n"):
        for line in block.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                out.append(orjson.loads(line[6:]))
    return out


def streamed_text(dialect: str, stream: bytes) -> str:
    """The text a client assembles from the deltas."""
    parts = []
    for ev in events_of(stream):
        if dialect == "chat":
            for c in ev["choices"]:
                parts.append(c.get("delta", {}).get("content") or "")
        elif ev.get("type") == "content_block_delta":
            parts.append(ev["delta"]["text"])
        elif ev.get("type") == "response.output_text.delta":
            parts.append(ev["delta"])
    return "".join(parts)


def final_texts(dialect: str, stream: bytes) -> list[str]:
    """The whole texts the stream's closing events repeat (Responses only)."""
    out = []
    for ev in events_of(stream):
        kind = ev.get("type")
        if kind == "response.output_text.done":
            out.append(ev["text"])
        elif kind == "response.content_part.done":
            out.append(ev["part"]["text"])
        elif kind == "response.output_item.done":
            out.append(ev["item"]["content"][0]["text"])
        elif kind == "response.completed":
            out.append(ev["response"]["output"][0]["content"][0]["text"])
    return out
