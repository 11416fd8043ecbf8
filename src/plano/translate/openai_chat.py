"""OpenAI Chat Completions <-> IR: requests and whole responses (streams: `openai_chat_stream`).

Mapping notes: `developer` messages are system messages with `developer=True`; image `data:` URLs
become inline base64 images (and back); assistant `refusal` is a `Refusal` part; reasoning text
(`reasoning_content`, as DeepSeek/vLLM/OpenRouter send it) is a `Thinking` part. `n > 1`,
`logprobs`, audio and `web_search_options` have no IR equivalent and are dropped when translating.
"""

from __future__ import annotations

import os
import time
from typing import Any, Final

import orjson

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate import openai_chat_stream as stream

FINISH_TO_IR: Final = {
    "stop": ir.StopReason.END_TURN,
    "length": ir.StopReason.MAX_TOKENS,
    "tool_calls": ir.StopReason.TOOL_USE,
    "function_call": ir.StopReason.TOOL_USE,
    "content_filter": ir.StopReason.CONTENT_FILTER,
}
FINISH_FROM_IR: Final = stream.FINISH_FROM_IR


# --- client side: requests in, responses out --------------------------------------------------


def _image_of(part: dict[str, Any]) -> ir.Image:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str):
        raise BadRequest("image_url.url must be a string", param="messages")
    detail = spec.get("detail") if isinstance(spec, dict) else None
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return ir.Image(data=data, media_type=head or None, detail=detail)
    return ir.Image(url=url, detail=detail)


def _parts(content: Any, role: str) -> list[ir.Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ir.Text(content)] if content or role != "assistant" else []
    if not isinstance(content, list):
        raise BadRequest("message content must be a string or a list of parts", param="messages")
    out: list[ir.Part] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            out.append(ir.Text(str(part.get("text", "")), part.get("cache_control")))
        elif kind == "image_url":
            out.append(_image_of(part))
        elif kind == "refusal":
            out.append(ir.Refusal(str(part.get("refusal", ""))))
        else:
            raise BadRequest(f"content part type {kind!r} is not supported", param="messages")
    return out


def _message(msg: Any) -> ir.Message:
    if not isinstance(msg, dict):
        raise BadRequest("each message must be an object", param="messages")
    role = msg.get("role")
    name = msg.get("name")
    if role in ("system", "developer"):
        return ir.Message("system", _parts(msg.get("content"), "system"), name, role == "developer")
    if role == "user":
        return ir.Message("user", _parts(msg.get("content"), "user"), name)
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if not isinstance(call_id, str):
            raise BadRequest("tool messages need a tool_call_id", param="messages")
        parts = [p for p in _parts(msg.get("content"), "tool") if isinstance(p, ir.Text | ir.Image)]
        return ir.Message("tool", [ir.ToolResult(call_id, parts)])
    if role == "assistant":
        out: list[ir.Part] = []
        reasoning = msg.get("reasoning_content")
        if isinstance(reasoning, str) and reasoning:
            out.append(ir.Thinking(reasoning))
        out.extend(_parts(msg.get("content"), "assistant"))
        if isinstance(msg.get("refusal"), str):
            out.append(ir.Refusal(msg["refusal"]))
        for call in msg.get("tool_calls") or ():
            fn = call.get("function") if isinstance(call, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
                raise BadRequest("tool_calls need function.name", param="messages")
            out.append(
                ir.ToolCall(str(call.get("id", "")), fn["name"], fn.get("arguments") or "{}")
            )
        return ir.Message("assistant", out, name)
    raise BadRequest(f"unknown message role {role!r}", param="messages")


def _tool_choice(value: Any) -> ir.ToolChoice | None:
    if value is None:
        return None
    if value in ("auto", "none", "required"):
        return ir.ToolChoice(value)
    if isinstance(value, dict):
        fn = value.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return ir.ToolChoice("tool", fn["name"])
    raise BadRequest("tool_choice is not valid", param="tool_choice")


def _tools(value: Any) -> list[ir.Tool]:
    tools = []
    for tool in value or ():
        fn = tool.get("function") if isinstance(tool, dict) else None
        if tool.get("type") != "function" or not isinstance(fn, dict) or "name" not in fn:
            raise BadRequest("only function tools can be translated", param="tools")
        params = fn.get("parameters") or {"type": "object", "properties": {}}
        tools.append(ir.Tool(fn["name"], fn.get("description"), params, fn.get("strict")))
    return tools


def _stop(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(s) for s in value]


class ChatClient:
    """OpenAI Chat Completions as clients speak it to the gateway."""

    def parse_request(self, doc: dict[str, Any]) -> ir.Request:
        messages = doc.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("`messages` must be a non-empty list", param="messages")
        effort = doc.get("reasoning_effort")
        opts = doc.get("stream_options")
        return ir.Request(
            model=str(doc.get("model") or ""),
            messages=[_message(m) for m in messages],
            tools=_tools(doc.get("tools")),
            tool_choice=_tool_choice(doc.get("tool_choice")),
            parallel_tool_calls=doc.get("parallel_tool_calls"),
            max_tokens=doc.get("max_completion_tokens") or doc.get("max_tokens"),
            temperature=doc.get("temperature"),
            top_p=doc.get("top_p"),
            stop=_stop(doc.get("stop")),
            stream=doc.get("stream") is True,
            reasoning=ir.Reasoning(effort=effort) if isinstance(effort, str) else None,
            response_format=doc.get("response_format"),
            user=doc.get("user"),
            metadata=doc.get("metadata"),
            stream_usage=isinstance(opts, dict) and opts.get("include_usage") is True,
        )

    def encode_response(self, response: ir.Response) -> bytes:
        return orjson.dumps(completion_doc(response))

    def stream_encoder(self, request: ir.Request) -> stream.ChatStreamEncoder:
        return stream.ChatStreamEncoder(request.stream_usage)


def completion_doc(response: ir.Response) -> dict[str, Any]:
    texts, refusals, thinking, calls = [], [], [], []
    for part in response.content:
        if isinstance(part, ir.Text):
            texts.append(part.text)
        elif isinstance(part, ir.Refusal):
            refusals.append(part.text)
        elif isinstance(part, ir.Thinking):
            thinking.append(part.text)
        elif isinstance(part, ir.ToolCall):
            fn = {"name": part.name, "arguments": part.arguments}
            calls.append({"id": part.id, "type": "function", "function": fn})
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": "".join(refusals) if refusals else None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    return {
        "id": response.id,
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": FINISH_FROM_IR[response.stop_reason],
            }
        ],
        "usage": stream.usage_doc(response.usage),
    }


# --- upstream side: requests out, responses in ------------------------------------------------


def _content_out(parts: list[ir.Part]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, ir.Text) and p.cache_control is None for p in parts):
        return "".join(p.text for p in parts if isinstance(p, ir.Text))
    out: list[dict[str, Any]] = []
    for p in parts:
        if isinstance(p, ir.Text):
            out.append({"type": "text", "text": p.text})
        elif isinstance(p, ir.Image):
            url = p.url if p.url is not None else f"data:{p.media_type};base64,{p.data}"
            spec: dict[str, Any] = {"url": url}
            if p.detail:
                spec["detail"] = p.detail
            out.append({"type": "image_url", "image_url": spec})
    return out


def _messages_out(messages: list[ir.Message]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "tool":
            for r in m.content:
                if isinstance(r, ir.ToolResult):
                    out.append(_tool_result(r))
            continue
        if m.role == "assistant":
            out.append(_assistant_out(m))
            continue
        role = "developer" if m.developer else m.role
        doc: dict[str, Any] = {"role": role, "content": _content_out(m.content)}
        if m.name:
            doc["name"] = m.name
        out.append(doc)
    return out


def _tool_result(r: ir.ToolResult) -> dict[str, Any]:
    content = _content_out(list(r.content))
    if r.is_error and isinstance(content, str):
        content = content or "error"
    return {"role": "tool", "tool_call_id": r.tool_call_id, "content": content}


def _assistant_out(m: ir.Message) -> dict[str, Any]:
    texts = [p.text for p in m.content if isinstance(p, ir.Text)]
    calls = [
        {"id": p.id, "type": "function", "function": {"name": p.name, "arguments": p.arguments}}
        for p in m.content
        if isinstance(p, ir.ToolCall)
    ]
    doc: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts else None}
    refusals = [p.text for p in m.content if isinstance(p, ir.Refusal)]
    if refusals:
        doc["refusal"] = "".join(refusals)
    if calls:
        doc["tool_calls"] = calls
    if m.name:
        doc["name"] = m.name
    return doc


def _tool_choice_out(choice: ir.ToolChoice) -> Any:
    if choice.mode == "tool":
        return {"type": "function", "function": {"name": choice.name}}
    return choice.mode


class ChatUpstream:
    """OpenAI Chat Completions as the gateway speaks it to a provider."""

    def build_request(self, request: ir.Request, model_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"model": model_id, "messages": _messages_out(request.messages)}
        if request.tools:
            doc["tools"] = [_tool_out(t) for t in request.tools]
        if request.tool_choice is not None:
            doc["tool_choice"] = _tool_choice_out(request.tool_choice)
        if request.parallel_tool_calls is not None and request.tools:
            doc["parallel_tool_calls"] = request.parallel_tool_calls
        if request.max_tokens is not None:
            doc["max_completion_tokens"] = request.max_tokens
        for key in ("temperature", "top_p", "response_format", "user", "metadata"):
            value = getattr(request, key)
            if value is not None:
                doc[key] = value
        if request.stop:
            doc["stop"] = request.stop
        effort = request.reasoning.openai_effort() if request.reasoning is not None else None
        if effort:
            doc["reasoning_effort"] = effort
        if request.stream:
            doc["stream"] = True
            doc["stream_options"] = {"include_usage": True}
        return doc

    def parse_response(self, doc: dict[str, Any]) -> ir.Response:
        choices = doc.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise UpstreamProtocolError("upstream chat completion has no choices")
        choice = choices[0]
        message = choice.get("message") or {}
        parts = _message(dict(message, role="assistant")).content
        return ir.Response(
            id=str(doc.get("id") or new_id("chatcmpl-")),
            model=str(doc.get("model") or ""),
            content=parts,
            stop_reason=FINISH_TO_IR.get(
                choice.get("finish_reason") or "stop", ir.StopReason.END_TURN
            ),
            usage=stream.usage_of(doc.get("usage")),
            created=doc.get("created"),
        )

    def stream_decoder(self) -> stream.ChatStreamDecoder:
        return stream.ChatStreamDecoder()


def _tool_out(t: ir.Tool) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": t.name, "parameters": t.parameters}
    if t.description is not None:
        fn["description"] = t.description
    if t.strict is not None:
        fn["strict"] = t.strict
    return {"type": "function", "function": fn}


def new_id(prefix: str) -> str:
    return prefix + os.urandom(12).hex()


CLIENT: Final = ChatClient()
UPSTREAM: Final = ChatUpstream()
