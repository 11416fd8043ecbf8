"""Gemini `generateContent` as an upstream API: IR request → Gemini body, Gemini body → IR.

Request mapping: system messages → `systemInstruction`; `assistant` → role `model`; tool results
→ `functionResponse` parts in a `user` turn (named after the call they answer; the response is
the result's JSON object, else `{"result": text}` / `{"error": text}`); images → `inlineData`
(base64 or data URLs) or `fileData` (other URLs); thinking with text → a `thought` part, a
signature-only thinking part → `thoughtSignature` on the next part; tools →
`functionDeclarations` with Gemini-safe parameter schemas (`gemini_schema`); tool choice →
`functionCallingConfig` (AUTO / NONE / ANY + allowed name); sampling and reasoning →
`generationConfig` (`thinkingConfig`). Consecutive turns of one role are merged.

Response mapping: `thought` parts → Thinking (signature kept); a `thoughtSignature` on any other
part → a signature-only Thinking before it; `functionCall` → ToolCall with a generated id (Gemini
does not send ids); finish reasons as in `STOP_REASONS` (STOP with a function call → tool use);
usage: output counts thoughts too (`reasoning` = thoughts), `cache_read` = cached content tokens.
"""

from __future__ import annotations

import os
from typing import Any, Final

import orjson

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.gemini_response import (
    CallIds,
    first_candidate,
    part_to_ir,
    stop_reason,
    usage,
)
from plano.translate.gemini_schema import sanitize
from plano.translate.gemini_stream import GeminiStreamDecoder
from plano.translate.images import inline, media_type_of_url

# Thinking budgets for an OpenAI-style effort (Gemini wants a token count).
# 128 is the smallest budget every thinking model accepts (2.5 Pro rejects less).
EFFORT_BUDGET: Final = {"minimal": 128, "low": 1024, "medium": 8192, "high": 24576}
_TOOL_CHOICE: Final = {"auto": "AUTO", "none": "NONE", "required": "ANY", "tool": "ANY"}


def _args(call: ir.ToolCall) -> dict[str, Any]:
    try:
        value = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        raise BadRequest(
            f"arguments of tool call '{call.id}' are not valid JSON", param="messages"
        ) from None
    if not isinstance(value, dict):
        raise BadRequest(
            f"arguments of tool call '{call.id}' must be a JSON object", param="messages"
        )
    return value


def _image(image: ir.Image) -> dict[str, Any]:
    data = inline(image)
    if data is not None:
        return {"inlineData": {"mimeType": data[0], "data": data[1]}}
    url = image.url or ""
    return {"fileData": {"mimeType": image.media_type or media_type_of_url(url), "fileUri": url}}


def _result(result: ir.ToolResult, names: dict[str, str]) -> dict[str, Any]:
    name = result.name or names.get(result.tool_call_id)
    if name is None:
        raise BadRequest(
            f"tool result '{result.tool_call_id}' answers no tool call in the conversation",
            param="messages",
        )
    text = "".join(p.text for p in result.content if isinstance(p, ir.Text))
    response: Any = None
    if text.lstrip().startswith("{"):
        try:
            response = orjson.loads(text)
        except orjson.JSONDecodeError:
            response = None
    if not isinstance(response, dict):
        response = {"error" if result.is_error else "result": text}
    return {"functionResponse": {"name": name, "response": response}}


def _parts(msg: ir.Message, names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    signature: str | None = None  # from a signature-only thinking part, for the next part
    for p in msg.content:
        out: dict[str, Any]
        if isinstance(p, ir.Text | ir.Refusal):
            if not p.text and signature is None:
                continue  # Gemini rejects empty text parts
            out = {"text": p.text}
        elif isinstance(p, ir.Image):
            out = _image(p)
        elif isinstance(p, ir.ToolCall):
            out = {"functionCall": {"name": p.name, "args": _args(p)}}
        elif isinstance(p, ir.ToolResult):
            out = _result(p, names)
            parts.extend(_image(i) for i in p.content if isinstance(i, ir.Image))
        elif isinstance(p, ir.Thinking):
            if not p.text:
                signature = p.signature or signature
                continue
            out = {"text": p.text, "thought": True}
            if p.signature:
                out["thoughtSignature"] = p.signature
            parts.append(out)
            continue
        else:  # pragma: no cover - exhaustive over ir.Part
            continue
        if signature is not None:
            out["thoughtSignature"] = signature
            signature = None
        parts.append(out)
    return parts


def _contents(request: ir.Request) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    names = {
        p.id: p.name
        for m in request.messages
        if m.role == "assistant"
        for p in m.content
        if isinstance(p, ir.ToolCall)
    }
    system: list[dict[str, Any]] = []
    contents: list[dict[str, Any]] = []
    for msg in request.messages:
        if msg.role == "system":
            system.extend({"text": p.text} for p in msg.content if isinstance(p, ir.Text))
            continue
        role = "model" if msg.role == "assistant" else "user"
        parts = _parts(msg, names)
        if not parts:
            continue
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return system, contents


def _generation_config(request: ir.Request) -> dict[str, Any]:
    cfg: dict[str, Any] = {}
    for key, value in (
        ("maxOutputTokens", request.max_tokens),
        ("temperature", request.temperature),
        ("topP", request.top_p),
        ("topK", request.top_k),
    ):
        if value is not None:
            cfg[key] = value
    if request.stop:
        cfg["stopSequences"] = list(request.stop)
    fmt = request.response_format
    if fmt and fmt.get("type") in ("json_object", "json_schema"):
        cfg["responseMimeType"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            cfg["responseSchema"] = sanitize(schema)
    reasoning = request.reasoning
    # Thinking switched off is left to the model's default: budget 0 is an error on models that
    # always think (2.5 Pro), and without `includeThoughts` no thought text comes back anyway.
    if reasoning is not None and reasoning.enabled:
        budget = reasoning.budget_tokens
        if budget is None and reasoning.effort is not None:
            budget = EFFORT_BUDGET.get(reasoning.effort)
        thinking: dict[str, Any] = {"includeThoughts": True}
        if budget is not None:
            thinking["thinkingBudget"] = budget
        cfg["thinkingConfig"] = thinking
    return cfg


def _declaration(tool: ir.Tool) -> dict[str, Any]:
    decl: dict[str, Any] = {"name": tool.name}
    if tool.description:
        decl["description"] = tool.description
    params = sanitize(tool.parameters)
    # Gemini rejects an OBJECT without properties; a function without arguments has no schema.
    if params.get("type") != "OBJECT" or params.get("properties"):
        decl["parameters"] = params
    return decl


class GeminiUpstream:
    """The `UpstreamCodec` for Gemini generateContent / streamGenerateContent."""

    def build_request(self, request: ir.Request, model_id: str) -> dict[str, Any]:
        system, contents = _contents(request)
        body: dict[str, Any] = {"contents": contents}
        if system:
            body["systemInstruction"] = {"parts": system}
        if request.tools and not (request.tool_choice and request.tool_choice.mode == "none"):
            body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
        choice = request.tool_choice
        if choice is not None and (request.tools or choice.mode == "none"):
            config: dict[str, Any] = {"mode": _TOOL_CHOICE[choice.mode]}
            if choice.mode == "tool" and choice.name:
                config["allowedFunctionNames"] = [choice.name]
            body["toolConfig"] = {"functionCallingConfig": config}
        cfg = _generation_config(request)
        if cfg:
            body["generationConfig"] = cfg
        return body

    def parse_response(self, doc: dict[str, Any]) -> ir.Response:
        if not isinstance(doc, dict) or not (
            "candidates" in doc or "promptFeedback" in doc or "usageMetadata" in doc
        ):
            raise UpstreamProtocolError("Gemini answered with a body that is not a response")
        ids = CallIds()
        candidate = first_candidate(doc)
        parts = (candidate.get("content") or {}).get("parts") or []
        content: list[ir.Part] = []
        for part in parts if isinstance(parts, list) else []:
            content.extend(part_to_ir(part, ids))
        stop = stop_reason(candidate.get("finishReason"), content)
        blocked = (doc.get("promptFeedback") or {}).get("blockReason")
        if not candidate and blocked:
            content = [ir.Refusal(f"the prompt was blocked by Gemini ({blocked})")]
            stop = ir.StopReason.CONTENT_FILTER
        return ir.Response(
            id=str(doc.get("responseId") or f"gen-{os.urandom(12).hex()}"),
            model=str(doc.get("modelVersion") or ""),
            content=content,
            stop_reason=stop,
            usage=usage(doc.get("usageMetadata")),
        )

    def stream_decoder(self) -> GeminiStreamDecoder:
        return GeminiStreamDecoder()


UPSTREAM: Final = GeminiUpstream()
