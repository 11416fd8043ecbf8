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
from plano.translate.shapes import (
    array,
    obj,
    opt_bool,
    opt_int,
    opt_list,
    opt_number,
    opt_obj,
    opt_str,
    path_of,
    req_str,
    stop_list,
    str_or,
)

FINISH_TO_IR: Final = {
    "stop": ir.StopReason.END_TURN,
    "length": ir.StopReason.MAX_TOKENS,
    "tool_calls": ir.StopReason.TOOL_USE,
    "function_call": ir.StopReason.TOOL_USE,
    "content_filter": ir.StopReason.CONTENT_FILTER,
}
FINISH_FROM_IR: Final[dict[ir.StopReason, str]] = stream.FINISH_FROM_IR


# --- client side: requests in, responses out --------------------------------------------------


def _image_of(part: dict[str, Any], where: str) -> ir.Image:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str):
        raise BadRequest(f"{where}.image_url.url: expected a string", param="messages")
    detail = None
    if isinstance(spec, dict):
        detail = opt_str(spec, "detail", path_of(where, "image_url"))
    if url.startswith("data:") and ";base64," in url:
        head, data = url[5:].split(";base64,", 1)
        return ir.Image(data=data, media_type=head or None, detail=detail)
    return ir.Image(url=url, detail=detail)


def _parts(content: Any, role: str, where: str) -> list[ir.Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ir.Text(content)] if content or role != "assistant" else []
    if not isinstance(content, list):
        raise BadRequest(f"{where}: expected a string or an array of parts", param="messages")
    out: list[ir.Part] = []
    for i, raw in enumerate(content):
        at = path_of(where, i)
        part = obj(raw, at)
        kind = part.get("type")
        if kind == "text":
            out.append(ir.Text(req_str(part, "text", at), opt_obj(part, "cache_control", at)))
        elif kind == "image_url":
            out.append(_image_of(part, at))
        elif kind == "refusal":
            out.append(ir.Refusal(str_or(part, "refusal", at)))
        else:
            raise BadRequest(f"content part type {kind!r} is not supported", param="messages")
    return out


def _message(msg: Any, where: str) -> ir.Message:
    if not isinstance(msg, dict):
        raise BadRequest(f"{where}: expected an object", param="messages")
    role = msg.get("role")
    name = opt_str(msg, "name", where)
    content = path_of(where, "content")
    if role in ("system", "developer"):
        parts = _parts(msg.get("content"), "system", content)
        return ir.Message("system", parts, name, role == "developer")
    if role == "user":
        return ir.Message("user", _parts(msg.get("content"), "user", content), name)
    if role == "tool":
        call_id = msg.get("tool_call_id")
        if not isinstance(call_id, str):
            raise BadRequest("tool messages need a tool_call_id", param="messages")
        results = [
            p
            for p in _parts(msg.get("content"), "tool", content)
            if isinstance(p, ir.Text | ir.Image)
        ]
        return ir.Message("tool", [ir.ToolResult(call_id, results)])
    if role == "assistant":
        return _assistant(msg, where, name)
    raise BadRequest(f"unknown message role {role!r}", param="messages")


def _assistant(msg: dict[str, Any], where: str, name: str | None) -> ir.Message:
    out: list[ir.Part] = []
    reasoning = msg.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        out.append(ir.Thinking(reasoning))
    out.extend(_parts(msg.get("content"), "assistant", path_of(where, "content")))
    if isinstance(msg.get("refusal"), str):
        out.append(ir.Refusal(msg["refusal"]))
    calls = path_of(where, "tool_calls")
    for i, call in enumerate(opt_list(msg, "tool_calls", where)):
        at = path_of(calls, i)
        fn = obj(call, at).get("function")
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise BadRequest(f"{at}: tool calls need function.name", param="messages")
        args = str_or(fn, "arguments", path_of(at, "function")) or "{}"
        out.append(ir.ToolCall(str_or(call, "id", at), fn["name"], args))
    return ir.Message("assistant", out, name)


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
    for i, tool in enumerate(array(value, "tools") if value is not None else ()):
        where = path_of("tools", i)
        fn = obj(tool, where).get("function")
        if tool.get("type") != "function" or not isinstance(fn, dict) or "name" not in fn:
            raise BadRequest("only function tools can be translated", param="tools")
        at = path_of(where, "function")
        params = opt_obj(fn, "parameters", at) or {"type": "object", "properties": {}}
        tools.append(
            ir.Tool(
                str_or(fn, "name", at),
                opt_str(fn, "description", at),
                params,
                opt_bool(fn, "strict", at),
            )
        )
    return tools


def _response_format(doc: dict[str, Any]) -> dict[str, Any] | None:
    fmt = opt_obj(doc, "response_format")
    if fmt is not None:
        opt_str(fmt, "type", "response_format")
        schema = opt_obj(fmt, "json_schema", "response_format")
        if schema is not None:
            opt_obj(schema, "schema", "response_format.json_schema")
    return fmt


class ChatClient:
    """OpenAI Chat Completions as clients speak it to the gateway."""

    def parse_request(self, doc: dict[str, Any]) -> ir.Request:
        messages = doc.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("`messages` must be a non-empty list", param="messages")
        effort = opt_str(doc, "reasoning_effort")
        opts = opt_obj(doc, "stream_options")
        max_tokens = opt_int(doc, "max_completion_tokens")
        return ir.Request(
            model=str(doc.get("model") or ""),
            messages=[_message(m, path_of("messages", i)) for i, m in enumerate(messages)],
            tools=_tools(doc.get("tools")),
            tool_choice=_tool_choice(doc.get("tool_choice")),
            parallel_tool_calls=opt_bool(doc, "parallel_tool_calls"),
            max_tokens=max_tokens or opt_int(doc, "max_tokens"),
            temperature=opt_number(doc, "temperature"),
            top_p=opt_number(doc, "top_p"),
            stop=stop_list(doc, "stop"),
            stream=doc.get("stream") is True,
            reasoning=ir.Reasoning(effort=effort) if effort is not None else None,
            response_format=_response_format(doc),
            user=opt_str(doc, "user"),
            metadata=opt_obj(doc, "metadata"),
            stream_usage=opts is not None and opts.get("include_usage") is True,
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
        if not isinstance(message, dict):
            raise UpstreamProtocolError("upstream chat completion message is not an object")
        try:
            parts = _assistant(message, "choices[0].message", None).content
        except BadRequest as exc:
            raise UpstreamProtocolError(f"upstream chat completion: {exc.message}") from None
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
