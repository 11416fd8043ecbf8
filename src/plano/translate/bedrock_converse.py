"""Bedrock Converse as an upstream API: IR request → Converse body, Converse body → IR.

Request mapping: system messages → `system` text blocks (an Anthropic `cache_control` marker
becomes a `cachePoint` after its block); roles alternate strictly, so consecutive turns of one
role are merged and tool results join the user turn as `toolResult` blocks; tool calls →
`toolUse` with a parsed `input`; thinking → `reasoningContent` (`reasoningText` with its
signature, or `redactedContent`); images must be inline (base64 or a data URL): Bedrock cannot
fetch URLs, so an image URL is a 400 naming the message; sampling → `inferenceConfig`; tools →
`toolConfig` (`auto` / `any` / `tool`; Bedrock has no `none`, so "none" sends the tools only
when the conversation already holds tool blocks, without a choice); a thinking budget →
`additionalModelRequestFields.thinking`, and `top_k` likewise, for Claude models only (others
have no documented field; with thinking, `maxTokens` is raised above the budget and temperature /
top-p / top-k are left out, as Claude requires). The model id is in the URL path, not the body.
`response_format` has no Converse equivalent and is not sent.

Response mapping: `output.message.content` blocks back to IR parts, `stopReason` via
`STOP_REASONS`, usage incl. `cacheReadInputTokens` / `cacheWriteInputTokens`.
"""

from __future__ import annotations

import os
from typing import Any, Final

import orjson

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.bedrock_stream import BedrockStreamDecoder, usage
from plano.translate.images import inline

STOP_REASONS: Final = {
    "end_turn": ir.StopReason.END_TURN,
    "tool_use": ir.StopReason.TOOL_USE,
    "max_tokens": ir.StopReason.MAX_TOKENS,
    "stop_sequence": ir.StopReason.STOP_SEQUENCE,
    "guardrail_intervened": ir.StopReason.CONTENT_FILTER,
    "content_filtered": ir.StopReason.CONTENT_FILTER,
    "model_context_window_exceeded": ir.StopReason.MAX_TOKENS,
}
EFFORT_BUDGET: Final = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}
_FORMATS: Final = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def _image(image: ir.Image) -> dict[str, Any]:
    data = inline(image)
    if data is None:
        raise BadRequest(
            "Bedrock Converse accepts images only inline (base64 data or a data: URL), not by URL",
            param="messages",
        )
    fmt = _FORMATS.get(data[0])
    if fmt is None:
        raise BadRequest(
            f"Bedrock Converse does not accept images of type {data[0]}", param="messages"
        )
    return {"image": {"format": fmt, "source": {"bytes": data[1]}}}


def _tool_use(call: ir.ToolCall) -> dict[str, Any]:
    try:
        value = orjson.loads(call.arguments or "{}")
    except orjson.JSONDecodeError:
        raise BadRequest(
            f"arguments of tool call '{call.id}' are not valid JSON", param="messages"
        ) from None
    return {"toolUse": {"toolUseId": call.id, "name": call.name, "input": value}}


def _tool_result(result: ir.ToolResult) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for part in result.content:
        content.append({"text": part.text} if isinstance(part, ir.Text) else _image(part))
    out: dict[str, Any] = {"toolUseId": result.tool_call_id, "content": content or [{"text": ""}]}
    if result.is_error:
        out["status"] = "error"
    return {"toolResult": out}


def _reasoning(thinking: ir.Thinking) -> dict[str, Any] | None:
    if thinking.redacted is not None:
        return {"reasoningContent": {"redactedContent": thinking.redacted}}
    if not thinking.text and not thinking.signature:
        return None
    text: dict[str, Any] = {"text": thinking.text}
    if thinking.signature:
        text["signature"] = thinking.signature
    return {"reasoningContent": {"reasoningText": text}}


def _block(part: ir.Part) -> list[dict[str, Any]]:
    if isinstance(part, ir.Text):
        out: list[dict[str, Any]] = [{"text": part.text}] if part.text else []
        if part.cache_control is not None:
            out.append({"cachePoint": {"type": "default"}})
        return out
    if isinstance(part, ir.Refusal):
        return [{"text": part.text}]
    if isinstance(part, ir.Image):
        return [_image(part)]
    if isinstance(part, ir.ToolCall):
        return [_tool_use(part)]
    if isinstance(part, ir.ToolResult):
        return [_tool_result(part)]
    reasoning = _reasoning(part)
    return [reasoning] if reasoning else []


def _messages(request: ir.Request) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for msg in request.messages:
        if msg.role == "system":
            for part in msg.content:
                if isinstance(part, ir.Text):
                    system.extend(_block(part))
            continue
        role = "assistant" if msg.role == "assistant" else "user"
        blocks = [b for part in msg.content for b in _block(part)]
        if not blocks:
            continue
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    return system, messages


def _tool_config(request: ir.Request, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not request.tools:
        return None
    choice = request.tool_choice
    if choice is not None and choice.mode == "none":
        has_tool_blocks = any(
            "toolUse" in b or "toolResult" in b for m in messages for b in m["content"]
        )
        if not has_tool_blocks:
            return None
    tools: list[dict[str, Any]] = []
    for tool in request.tools:
        spec: dict[str, Any] = {"name": tool.name, "inputSchema": {"json": tool.parameters}}
        if tool.description:
            spec["description"] = tool.description
        tools.append({"toolSpec": spec})
        if tool.cache_control is not None:
            tools.append({"cachePoint": {"type": "default"}})
    config: dict[str, Any] = {"tools": tools}
    if choice is not None and choice.mode == "required":
        config["toolChoice"] = {"any": {}}
    elif choice is not None and choice.mode == "tool" and choice.name:
        config["toolChoice"] = {"tool": {"name": choice.name}}
    elif choice is not None and choice.mode == "auto":
        config["toolChoice"] = {"auto": {}}
    return config


def _is_anthropic(model_id: str) -> bool:
    """Claude on Bedrock (ids like `anthropic.claude-…`, `us.anthropic.claude-…`, ARNs)."""
    low = model_id.lower()
    return "anthropic." in low or "claude" in low


def _additional(request: ir.Request, model_id: str, inference: dict[str, Any]) -> dict[str, Any]:
    """Model-specific fields. Only Claude's are known (`top_k`, `thinking`); Claude with thinking
    needs `maxTokens` above the budget and no sampling overrides, so `inference` is adjusted."""
    extra: dict[str, Any] = {}
    if not _is_anthropic(model_id):
        return extra
    if request.top_k is not None:
        extra["top_k"] = request.top_k
    reasoning = request.reasoning
    if reasoning is not None and reasoning.enabled:
        budget = reasoning.budget_tokens
        if budget is None and reasoning.effort is not None:
            budget = EFFORT_BUDGET.get(reasoning.effort)
        if budget:
            extra["thinking"] = {"type": "enabled", "budget_tokens": budget}
            extra.pop("top_k", None)
            inference.pop("temperature", None)
            inference.pop("topP", None)
            max_tokens = inference.get("maxTokens")
            if max_tokens is not None and max_tokens <= budget:
                inference["maxTokens"] = budget + max_tokens
    return extra


class BedrockConverseUpstream:
    """The `UpstreamCodec` for Bedrock Converse / ConverseStream."""

    def build_request(self, request: ir.Request, model_id: str) -> dict[str, Any]:
        system, messages = _messages(request)
        body: dict[str, Any] = {"messages": messages}
        if system:
            body["system"] = system
        inference: dict[str, Any] = {}
        for key, value in (
            ("maxTokens", request.max_tokens),
            ("temperature", request.temperature),
            ("topP", request.top_p),
        ):
            if value is not None:
                inference[key] = value
        if request.stop:
            inference["stopSequences"] = list(request.stop)
        extra = _additional(request, model_id, inference)
        if inference:
            body["inferenceConfig"] = inference
        tool_config = _tool_config(request, messages)
        if tool_config is not None:
            body["toolConfig"] = tool_config
        if extra:
            body["additionalModelRequestFields"] = extra
        return body

    def parse_response(self, doc: dict[str, Any]) -> ir.Response:
        message = (doc.get("output") or {}).get("message") if isinstance(doc, dict) else None
        if not isinstance(message, dict):
            raise UpstreamProtocolError("Bedrock answered with a body that is not a Converse reply")
        content: list[ir.Part] = []
        for block in message.get("content") or []:
            part = block_to_ir(block)
            if part is not None:
                content.append(part)
        return ir.Response(
            id=f"msg_bdrk_{os.urandom(12).hex()}",
            model="",
            content=content,
            stop_reason=STOP_REASONS.get(str(doc.get("stopReason")), ir.StopReason.END_TURN),
            usage=usage(doc.get("usage")),
        )

    def stream_decoder(self) -> BedrockStreamDecoder:
        return BedrockStreamDecoder(STOP_REASONS)


def block_to_ir(block: Any) -> ir.Part | None:
    if not isinstance(block, dict):
        return None
    if isinstance(block.get("text"), str):
        return ir.Text(block["text"])
    use = block.get("toolUse")
    if isinstance(use, dict):
        args = orjson.dumps(use.get("input") if use.get("input") is not None else {}).decode()
        return ir.ToolCall(str(use.get("toolUseId") or ""), str(use.get("name") or ""), args)
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict):
        if "redactedContent" in reasoning:
            return ir.Thinking(redacted=str(reasoning["redactedContent"]))
        text = reasoning.get("reasoningText") or {}
        return ir.Thinking(str(text.get("text") or ""), signature=text.get("signature"))
    return None


UPSTREAM: Final = BedrockConverseUpstream()
