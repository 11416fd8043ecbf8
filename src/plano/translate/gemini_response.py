"""Gemini response pieces shared by the whole-body parser and the stream decoder."""

from __future__ import annotations

import os
from typing import Any, Final

import orjson

from plano import ir

STOP_REASONS: Final = {
    "STOP": ir.StopReason.END_TURN,
    "MAX_TOKENS": ir.StopReason.MAX_TOKENS,
    "SAFETY": ir.StopReason.CONTENT_FILTER,
    "RECITATION": ir.StopReason.CONTENT_FILTER,
    "LANGUAGE": ir.StopReason.CONTENT_FILTER,
    "BLOCKLIST": ir.StopReason.CONTENT_FILTER,
    "PROHIBITED_CONTENT": ir.StopReason.CONTENT_FILTER,
    "SPII": ir.StopReason.CONTENT_FILTER,
    "IMAGE_SAFETY": ir.StopReason.CONTENT_FILTER,
    "MALFORMED_FUNCTION_CALL": ir.StopReason.ERROR,
    "UNEXPECTED_TOOL_CALL": ir.StopReason.ERROR,
    "OTHER": ir.StopReason.END_TURN,
    "FINISH_REASON_UNSPECIFIED": ir.StopReason.END_TURN,
}


class CallIds:
    """Ids for Gemini function calls (Gemini sends none, or its own `id`)."""

    __slots__ = ("_n", "_salt")

    def __init__(self) -> None:
        self._salt = os.urandom(6).hex()
        self._n = 0

    def new(self, given: object) -> str:
        if isinstance(given, str) and given:
            return given
        self._n += 1
        return f"call_{self._salt}{self._n:04x}"


def first_candidate(doc: dict[str, Any]) -> dict[str, Any]:
    candidates = doc.get("candidates")
    if isinstance(candidates, list) and candidates and isinstance(candidates[0], dict):
        return candidates[0]
    return {}


def part_to_ir(part: Any, ids: CallIds) -> list[ir.Part]:
    if not isinstance(part, dict):
        return []
    out: list[ir.Part] = []
    signature = part.get("thoughtSignature")
    if part.get("thought") is True:
        return [ir.Thinking(str(part.get("text") or ""), signature=signature)]
    if isinstance(signature, str):
        out.append(ir.Thinking("", signature=signature))
    if isinstance(part.get("text"), str):
        out.append(ir.Text(part["text"]))
    call = part.get("functionCall")
    if isinstance(call, dict):
        args = call.get("args") if isinstance(call.get("args"), dict) else {}
        name = str(call.get("name") or "")
        out.append(ir.ToolCall(ids.new(call.get("id")), name, orjson.dumps(args).decode()))
    return out


def stop_reason(reason: object, content: list[ir.Part]) -> ir.StopReason:
    stop = STOP_REASONS.get(str(reason), ir.StopReason.END_TURN)
    if stop is ir.StopReason.END_TURN and any(isinstance(p, ir.ToolCall) for p in content):
        return ir.StopReason.TOOL_USE
    return stop


def usage(meta: Any) -> ir.Usage:
    if not isinstance(meta, dict):
        return ir.Usage()

    def num(key: str) -> int | None:
        value = meta.get(key)
        return value if isinstance(value, int) else None

    candidates, thoughts = num("candidatesTokenCount"), num("thoughtsTokenCount")
    output = None
    if candidates is not None or thoughts is not None:
        output = (candidates or 0) + (thoughts or 0)
    return ir.Usage(
        input=num("promptTokenCount"),
        output=output,
        cache_read=num("cachedContentTokenCount"),
        reasoning=thoughts,
    )
