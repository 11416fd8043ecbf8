"""OpenAI Responses: the item and envelope shapes that responses and their streams share.

An IR part as a Responses output item and back, the `response` envelope (status, usage,
incomplete details) and the ids the gateway gives responses; used by the whole-response
translator (`openai_responses`) and the stream translator (`openai_responses_stream`).
"""

from __future__ import annotations

import os
from typing import Any

from plano import ir


def response_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("resp_") else "resp_" + os.urandom(16).hex()


def status_of(stop: ir.StopReason | None) -> tuple[str, dict[str, Any] | None]:
    if stop is ir.StopReason.MAX_TOKENS:
        return "incomplete", {"reason": "max_output_tokens"}
    if stop in (ir.StopReason.CONTENT_FILTER, ir.StopReason.REFUSAL):
        return "incomplete", {"reason": "content_filter"}
    return "completed", None


def usage_of(doc: Any) -> ir.Usage:
    if not isinstance(doc, dict):
        return ir.Usage()
    inp, out = doc.get("input_tokens_details"), doc.get("output_tokens_details")
    return ir.Usage(
        input=doc.get("input_tokens"),
        output=doc.get("output_tokens"),
        cache_read=inp.get("cached_tokens") if isinstance(inp, dict) else None,
        reasoning=out.get("reasoning_tokens") if isinstance(out, dict) else None,
    )


def usage_doc(u: ir.Usage) -> dict[str, Any]:
    return {
        "input_tokens": u.input or 0,
        "input_tokens_details": {
            "cached_tokens": u.cache_read or 0,
            "cache_write_tokens": u.cache_write or 0,
        },
        "output_tokens": u.output or 0,
        "output_tokens_details": {"reasoning_tokens": u.reasoning or 0},
        "total_tokens": u.total or 0,
    }


def envelope(
    rid: str,
    model: str,
    created: int,
    status: str,
    output: list[Any],
    usage: ir.Usage | None,
    incomplete: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": None,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": None,
        "truncation": "disabled",
        "usage": None if usage is None else usage_doc(usage),
        "metadata": {},
    }


def output_item(p: ir.Part, suffix: str) -> dict[str, Any] | None:
    """One IR part as a completed Responses output item (None for parts that have none)."""
    if isinstance(p, ir.Text):
        part = {"type": "output_text", "text": p.text, "annotations": []}
        return {
            "type": "message",
            "id": "msg_" + suffix,
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    if isinstance(p, ir.Refusal):
        part = {"type": "refusal", "refusal": p.text}
        return {
            "type": "message",
            "id": "msg_" + suffix,
            "status": "completed",
            "role": "assistant",
            "content": [part],
        }
    if isinstance(p, ir.ToolCall):
        return {
            "type": "function_call",
            "id": "fc_" + suffix,
            "call_id": p.id,
            "name": p.name,
            "arguments": p.arguments,
            "status": "completed",
        }
    if isinstance(p, ir.Thinking):
        item: dict[str, Any] = {"type": "reasoning", "id": "rs_" + suffix, "summary": []}
        if p.text:
            item["summary"] = [{"type": "summary_text", "text": p.text}]
        if p.signature or p.redacted:
            item["encrypted_content"] = p.signature or p.redacted
        return item
    return None


def parts_of_item(item: Any) -> list[ir.Part]:
    kind = item.get("type") if isinstance(item, dict) else None
    if kind == "message":
        out: list[ir.Part] = []
        for c in item.get("content") or ():
            if c.get("type") == "output_text":
                out.append(ir.Text(c.get("text", "")))
            elif c.get("type") == "refusal":
                out.append(ir.Refusal(c.get("refusal", "")))
        return out
    if kind == "function_call":
        return [
            ir.ToolCall(
                str(item.get("call_id", "")),
                str(item.get("name", "")),
                item.get("arguments") or "{}",
            )
        ]
    if kind == "reasoning":
        text = "".join(s.get("text", "") for s in item.get("summary") or ())
        return [ir.Thinking(text, item.get("encrypted_content"))]
    return []


def stop_of(doc: dict[str, Any], parts: list[ir.Part]) -> ir.StopReason:
    details = doc.get("incomplete_details") or {}
    if doc.get("status") == "incomplete":
        if details.get("reason") == "content_filter":
            return ir.StopReason.CONTENT_FILTER
        return ir.StopReason.MAX_TOKENS
    if any(isinstance(p, ir.ToolCall) for p in parts):
        return ir.StopReason.TOOL_USE
    return ir.StopReason.END_TURN
