"""OpenAI Responses <-> IR: requests and whole responses (streams: `openai_responses_stream`).

Mapping notes: `instructions` is a leading system message; `input` items become messages
(consecutive `function_call` items join one assistant message, `function_call_output` items are
tool messages, `reasoning` items are `Thinking` parts whose `encrypted_content` carries an
Anthropic signature across); `text.format` is the chat `response_format`. Hosted tools
(web_search, file_search, code_interpreter, computer use, MCP) and `item_reference` inputs cannot
be translated for a non-Responses upstream and are refused with 400.
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate import openai_responses_items as resp_items
from plano.translate import openai_responses_stream as stream
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
    str_or,
)

# --- client side ------------------------------------------------------------------------------


def _content(raw: Any, where: str) -> list[ir.Part]:
    if isinstance(raw, str):
        return [ir.Text(raw)]
    out: list[ir.Part] = []
    for i, item in enumerate(array(raw, where) if raw is not None else ()):
        at = path_of(where, i)
        part = obj(item, at)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            out.append(ir.Text(req_str(part, "text", at)))
        elif kind == "refusal":
            out.append(ir.Refusal(str_or(part, "refusal", at)))
        elif kind == "input_image" and isinstance(part.get("image_url"), str):
            url: str = part["image_url"]
            detail = opt_str(part, "detail", at)
            if url.startswith("data:") and ";base64," in url:
                head, data = url[5:].split(";base64,", 1)
                out.append(ir.Image(data=data, media_type=head or None, detail=detail))
            else:
                out.append(ir.Image(url=url, detail=detail))
        else:
            raise BadRequest(f"input content type {kind!r} cannot be translated", param="input")
    return out


def _assistant(out: list[ir.Message]) -> ir.Message:
    if out and out[-1].role == "assistant":
        return out[-1]
    msg = ir.Message("assistant")
    out.append(msg)
    return msg


def _item(item: Any, out: list[ir.Message], where: str) -> None:
    if not isinstance(item, dict):
        raise BadRequest(f"{where}: expected an object", param="input")
    kind = item.get("type", "message")
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise BadRequest(f"unknown input role {role!r}", param="input")
        parts = _content(item.get("content"), path_of(where, "content"))
        if role == "assistant":
            _assistant(out).content.extend(parts)
        elif role in ("system", "developer"):
            out.append(ir.Message("system", parts, developer=role == "developer"))
        else:
            out.append(ir.Message("user", parts))
    elif kind == "function_call":
        call = ir.ToolCall(
            str_or(item, "call_id", where),
            str_or(item, "name", where),
            str_or(item, "arguments", where) or "{}",
        )
        _assistant(out).content.append(call)
    elif kind == "function_call_output":
        output = item.get("output")
        at = path_of(where, "output")
        parts = [ir.Text(output)] if isinstance(output, str) else _content(output, at)
        result = ir.ToolResult(
            str_or(item, "call_id", where), [p for p in parts if isinstance(p, ir.Text | ir.Image)]
        )
        out.append(ir.Message("tool", [result]))
    elif kind == "reasoning":
        _assistant(out).content.append(_reasoning_item(item, where))
    else:
        raise BadRequest(f"input item type {kind!r} cannot be translated", param="input")


def _reasoning_item(item: dict[str, Any], where: str) -> ir.Thinking:
    texts = []
    at = path_of(where, "summary")
    for i, s in enumerate(opt_list(item, "summary", where)):
        if isinstance(s, dict):
            texts.append(str_or(s, "text", path_of(at, i)))
    return ir.Thinking("".join(texts), opt_str(item, "encrypted_content", where))


def input_messages(raw: Any) -> list[ir.Message]:
    if isinstance(raw, str):
        return [ir.Message("user", [ir.Text(raw)])]
    if not isinstance(raw, list):
        raise BadRequest("`input` must be a string or a list of items", param="input")
    out: list[ir.Message] = []
    for i, item in enumerate(raw):
        _item(item, out, path_of("input", i))
    return out


def _tools(raw: Any) -> list[ir.Tool]:
    tools = []
    for i, t in enumerate(array(raw, "tools") if raw is not None else ()):
        if not isinstance(t, dict) or t.get("type") != "function" or "name" not in t:
            kind = t.get("type") if isinstance(t, dict) else None
            raise BadRequest(
                f"tool type {kind!r} is only available on Responses upstreams", param="tools"
            )
        where = path_of("tools", i)
        params = opt_obj(t, "parameters", where) or {"type": "object", "properties": {}}
        tools.append(
            ir.Tool(
                str_or(t, "name", where),
                opt_str(t, "description", where),
                params,
                opt_bool(t, "strict", where),
            )
        )
    return tools


def _tool_choice(raw: Any) -> ir.ToolChoice | None:
    if raw is None:
        return None
    if raw in ("auto", "none", "required"):
        return ir.ToolChoice(raw)
    if isinstance(raw, dict) and raw.get("type") == "function" and isinstance(raw.get("name"), str):
        return ir.ToolChoice("tool", raw["name"])
    raise BadRequest("tool_choice cannot be translated", param="tool_choice")


def _format(text: Any) -> dict[str, Any] | None:
    if text is None:
        return None
    fmt = opt_obj(obj(text, "text"), "format", "text")
    if fmt is None or fmt.get("type") == "text":
        return None
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": str_or(fmt, "type", "text.format")}


def _reasoning(raw: Any) -> ir.Reasoning | None:
    if raw is None:
        return None
    reasoning = obj(raw, "reasoning")
    return ir.Reasoning(
        effort=opt_str(reasoning, "effort", "reasoning"),
        summary=opt_str(reasoning, "summary", "reasoning"),
    )


class ResponsesClient:
    """OpenAI Responses as clients speak it to the gateway."""

    def parse_request(self, doc: dict[str, Any]) -> ir.Request:
        messages = input_messages(doc.get("input"))
        instructions = opt_str(doc, "instructions")
        if instructions:
            messages.insert(0, ir.Message("system", [ir.Text(instructions)]))
        prev = opt_str(doc, "previous_response_id")
        return ir.Request(
            model=str(doc.get("model") or ""),
            messages=messages,
            tools=_tools(doc.get("tools")),
            tool_choice=_tool_choice(doc.get("tool_choice")),
            parallel_tool_calls=opt_bool(doc, "parallel_tool_calls"),
            max_tokens=opt_int(doc, "max_output_tokens"),
            temperature=opt_number(doc, "temperature"),
            top_p=opt_number(doc, "top_p"),
            stream=doc.get("stream") is True,
            reasoning=_reasoning(doc.get("reasoning")),
            response_format=_format(doc.get("text")),
            user=opt_str(doc, "user"),
            metadata=opt_obj(doc, "metadata"),
            previous_response_id=prev,
            store=opt_bool(doc, "store"),
        )

    def encode_response(self, response: ir.Response) -> bytes:
        return orjson.dumps(response_doc(response))

    def stream_encoder(self, request: ir.Request) -> stream.ResponsesStreamEncoder:
        return stream.ResponsesStreamEncoder()


def response_doc(response: ir.Response) -> dict[str, Any]:
    """A whole `response` object; ids of the output items are derived from the response id."""
    rid = resp_items.response_id(response.id)
    output = [resp_items.output_item(p, f"{i}_{rid[5:]}") for i, p in enumerate(response.content)]
    status, incomplete = resp_items.status_of(response.stop_reason)
    return resp_items.envelope(
        rid,
        response.model,
        response.created or int(time.time()),
        status,
        [o for o in output if o],
        response.usage,
        incomplete,
    )


# --- upstream side ----------------------------------------------------------------------------


def output_items(messages: list[ir.Message]) -> list[dict[str, Any]]:
    """IR messages -> Responses input items (also used to keep conversation state)."""
    items: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        if m.role == "tool":
            for r in m.content:
                if isinstance(r, ir.ToolResult):
                    text = "".join(p.text for p in r.content if isinstance(p, ir.Text))
                    items.append(
                        {"type": "function_call_output", "call_id": r.tool_call_id, "output": text}
                    )
        elif m.role == "assistant":
            for j, p in enumerate(m.content):
                item = resp_items.output_item(p, f"{i}_{j}")
                if item is not None:
                    items.append(item)
        else:
            role = "developer" if m.developer else m.role
            items.append(
                {"type": "message", "role": role, "content": [_input_part(p) for p in m.content]}
            )
    return items


def _input_part(p: ir.Part) -> dict[str, Any]:
    if isinstance(p, ir.Image):
        url = p.url if p.url is not None else f"data:{p.media_type};base64,{p.data}"
        return {"type": "input_image", "image_url": url, "detail": p.detail or "auto"}
    return {"type": "input_text", "text": getattr(p, "text", "")}


class ResponsesUpstream:
    """OpenAI Responses as the gateway speaks it to a provider."""

    def build_request(self, request: ir.Request, model_id: str) -> dict[str, Any]:
        doc: dict[str, Any] = {"model": model_id, "input": output_items(request.messages)}
        if request.tools:
            doc["tools"] = [
                {
                    "type": "function",
                    "name": t.name,
                    "description": t.description,
                    "parameters": t.parameters,
                    "strict": bool(t.strict),
                }
                for t in request.tools
            ]
        c = request.tool_choice
        if c is not None:
            doc["tool_choice"] = (
                {"type": "function", "name": c.name} if c.mode == "tool" else c.mode
            )
        if request.parallel_tool_calls is not None:
            doc["parallel_tool_calls"] = request.parallel_tool_calls
        if request.max_tokens is not None:
            doc["max_output_tokens"] = request.max_tokens
        for key in ("temperature", "top_p", "user", "metadata"):
            if getattr(request, key) is not None:
                doc[key] = getattr(request, key)
        r = request.reasoning
        effort = r.openai_effort() if r is not None else None
        if r is not None and (effort or r.summary):
            doc["reasoning"] = {k: v for k, v in (("effort", effort), ("summary", r.summary)) if v}
        fmt = request.response_format
        if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
            doc["text"] = {"format": {"type": "json_schema", **(fmt.get("json_schema") or {})}}
        elif isinstance(fmt, dict):
            doc["text"] = {"format": {"type": fmt.get("type")}}
        if request.stream:
            doc["stream"] = True
        doc["store"] = False  # the gateway keeps conversation state itself when it translates
        return doc

    def parse_response(self, doc: dict[str, Any]) -> ir.Response:
        output = doc.get("output")
        if doc.get("object") != "response" or not isinstance(output, list):
            raise UpstreamProtocolError("upstream reply is not an OpenAI response object")
        parts: list[ir.Part] = []
        for item in output:
            parts.extend(resp_items.parts_of_item(item))
        return ir.Response(
            id=str(doc.get("id", "")),
            model=str(doc.get("model", "")),
            content=parts,
            stop_reason=resp_items.stop_of(doc, parts),
            usage=resp_items.usage_of(doc.get("usage")),
            created=doc.get("created_at"),
        )

    def stream_decoder(self) -> stream.ResponsesStreamDecoder:
        return stream.ResponsesStreamDecoder()


CLIENT: Final = ResponsesClient()
UPSTREAM: Final = ResponsesUpstream()
