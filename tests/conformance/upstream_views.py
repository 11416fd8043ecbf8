"""What an upstream request says, read in its own dialect's documented wire format.

Each view reads a request the fake upstream recorded and answers the same questions (model, stream
flag, system prompt, user text, max tokens, tools, tool calls and results in the history, whether
thinking was asked for), so one assertion works for every upstream dialect.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from plano.mock.request import MockRequest


@dataclass(frozen=True)
class Seen:
    """An upstream request, dialect-free."""

    path: str
    model: str
    streamed: bool
    system: str
    user_text: str  # every user text part, joined
    max_tokens: int | None
    tools: dict[str, Any]  # tool name -> JSON schema of its parameters
    history_calls: list[tuple[str, str, Any]]  # (id or name, name, arguments object)
    tool_results: list[tuple[str, str]]  # (id or name it answers, result text)
    thinking_requested: bool


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text(p.get("text")) for p in content if isinstance(p, dict))
    return ""


def _json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str) else text


def openai_chat(req: MockRequest) -> Seen:
    body = req.body
    system, user, calls, results = [], [], [], []
    for msg in body.get("messages", []):
        role = msg.get("role")
        if role in ("system", "developer"):
            system.append(_text(msg.get("content")))
        elif role == "user":
            user.append(_text(msg.get("content")))
        elif role == "assistant":
            for call in msg.get("tool_calls") or []:
                fn = call["function"]
                calls.append((call["id"], fn["name"], _json(fn["arguments"])))
        elif role == "tool":
            results.append((msg.get("tool_call_id"), _text(msg.get("content"))))
    tools = {t["function"]["name"]: t["function"].get("parameters") for t in body.get("tools", [])}
    return Seen(
        path=req.path,
        model=body.get("model"),
        streamed=body.get("stream") is True,
        system="\n".join(system),
        user_text="\n".join(user),
        max_tokens=body.get("max_completion_tokens") or body.get("max_tokens"),
        tools=tools,
        history_calls=calls,
        tool_results=results,
        thinking_requested=body.get("reasoning_effort") is not None,
    )


def anthropic_messages(req: MockRequest) -> Seen:
    body = req.body
    user, calls, results = [], [], []
    for msg in body.get("messages", []):
        content = msg.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        for block in blocks:
            kind = block.get("type")
            if kind == "text" and msg.get("role") == "user":
                user.append(block["text"])
            elif kind == "tool_use":
                calls.append((block["id"], block["name"], block["input"]))
            elif kind == "tool_result":
                results.append((block["tool_use_id"], _text(block.get("content"))))
    thinking = body.get("thinking")
    return Seen(
        path=req.path,
        model=body.get("model"),
        streamed=body.get("stream") is True,
        system=_text(body.get("system")),
        user_text="\n".join(user),
        max_tokens=body.get("max_tokens"),
        tools={t["name"]: t.get("input_schema") for t in body.get("tools", [])},
        history_calls=calls,
        tool_results=results,
        thinking_requested=isinstance(thinking, dict) and thinking.get("type") == "enabled",
    )


def openai_responses(req: MockRequest) -> Seen:
    body = req.body
    items = body.get("input")
    items = [{"role": "user", "content": items}] if isinstance(items, str) else items or []
    system = [body["instructions"]] if body.get("instructions") else []
    user, calls, results = [], [], []
    for item in items:
        kind, role = item.get("type", "message"), item.get("role")
        if kind == "message" and role in ("system", "developer"):
            system.append(_text(item.get("content")))
        elif kind == "message" and role == "user":
            user.append(_text(item.get("content")))
        elif kind == "function_call":
            calls.append((item["call_id"], item["name"], _json(item["arguments"])))
        elif kind == "function_call_output":
            results.append((item["call_id"], _text(item.get("output"))))
    tools = {t["name"]: t.get("parameters") for t in body.get("tools", []) if "name" in t}
    reasoning = body.get("reasoning")
    return Seen(
        path=req.path,
        model=body.get("model"),
        streamed=body.get("stream") is True,
        system="\n".join(system),
        user_text="\n".join(user),
        max_tokens=body.get("max_output_tokens"),
        tools=tools,
        history_calls=calls,
        tool_results=results,
        thinking_requested=isinstance(reasoning, dict) and reasoning.get("effort") is not None,
    )


def _lower_types(schema: Any) -> Any:
    """A Gemini schema with its ``type`` enum names (``OBJECT``) in JSON Schema's lower case."""
    if isinstance(schema, dict):
        return {
            k: v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def gemini(req: MockRequest) -> Seen:
    """``/v1beta/models/{model}:generateContent`` or ``:streamGenerateContent?alt=sse``."""
    body = req.body
    name, _, method = unquote(req.path.rsplit("/models/", 1)[-1]).partition(":")
    user, calls, results = [], [], []
    for content in body.get("contents", []):
        for part in content.get("parts", []):
            if "text" in part and content.get("role", "user") == "user":
                user.append(part["text"])
            elif "functionCall" in part:
                call = part["functionCall"]
                calls.append((call.get("id") or call["name"], call["name"], call.get("args")))
            elif "functionResponse" in part:
                resp = part["functionResponse"]
                results.append((resp.get("id") or resp["name"], json.dumps(resp.get("response"))))
    tools = {
        fn["name"]: _lower_types(fn.get("parameters", fn.get("parametersJsonSchema")))
        for tool in body.get("tools", [])
        for fn in tool.get("functionDeclarations", [])
    }
    config = body.get("generationConfig") or {}
    return Seen(
        path=req.path,
        model=name,
        streamed=method == "streamGenerateContent",
        system=_text((body.get("systemInstruction") or {}).get("parts")),
        user_text="\n".join(user),
        max_tokens=config.get("maxOutputTokens"),
        tools=tools,
        history_calls=calls,
        tool_results=results,
        thinking_requested="thinkingConfig" in config,
    )


def bedrock_converse(req: MockRequest) -> Seen:
    """``/model/{modelId}/converse`` or ``/converse-stream``."""
    body = req.body
    _, _, rest = req.path.partition("/model/")
    model, _, action = rest.rpartition("/")
    user, calls, results = [], [], []
    for msg in body.get("messages", []):
        for block in msg.get("content", []):
            if "text" in block and msg.get("role") == "user":
                user.append(block["text"])
            elif "toolUse" in block:
                use = block["toolUse"]
                calls.append((use["toolUseId"], use["name"], use.get("input")))
            elif "toolResult" in block:
                res = block["toolResult"]
                parts = res.get("content", [])
                text = "".join(p.get("text") or json.dumps(p.get("json")) for p in parts)
                results.append((res["toolUseId"], text))
    tools = {
        t["toolSpec"]["name"]: t["toolSpec"].get("inputSchema", {}).get("json")
        for t in (body.get("toolConfig") or {}).get("tools", [])
        if "toolSpec" in t
    }
    extra = body.get("additionalModelRequestFields") or {}
    return Seen(
        path=req.path,
        model=unquote(model),
        streamed=action == "converse-stream",
        system="\n".join(s.get("text", "") for s in body.get("system", [])),
        user_text="\n".join(user),
        max_tokens=(body.get("inferenceConfig") or {}).get("maxTokens"),
        tools=tools,
        history_calls=calls,
        tool_results=results,
        thinking_requested="thinking" in extra or "reasoning_config" in extra,
    )


VIEWS = {
    "openai_chat": openai_chat,
    "anthropic_messages": anthropic_messages,
    "openai_responses": openai_responses,
    "gemini": gemini,
    "bedrock_converse": bedrock_converse,
}
