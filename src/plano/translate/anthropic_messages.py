"""Anthropic Messages <-> IR: requests and whole responses (streams: `anthropic_messages_stream`).

Mapping notes: the top-level `system` becomes leading system messages (and all system messages are
hoisted back into `system` on the way out); `tool_result` blocks in a user turn become `tool`
messages (and consecutive tool messages merge back into one user turn); Anthropic `input_tokens`
excludes cache reads and writes, the IR's `input` includes them. Server tools (web search, code
execution...) and documents have no IR equivalent and are refused when translating.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate import anthropic_messages_stream as stream
from plano.translate.shapes import (
    array,
    obj,
    opt_bool,
    opt_int,
    opt_number,
    opt_obj,
    opt_str,
    path_of,
    req_str,
    stop_list,
    str_or,
)

DEFAULT_MAX_TOKENS: Final = 4096
_EFFORT_BUDGET: Final = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
STOP_TO_IR: Final[dict[str, ir.StopReason]] = stream.STOP_TO_IR


# --- client side ------------------------------------------------------------------------------


def _image(block: dict[str, Any], where: str) -> ir.Image:
    src = opt_obj(block, "source", where) or {}
    at = path_of(where, "source")
    if src.get("type") == "base64":
        return ir.Image(data=opt_str(src, "data", at), media_type=opt_str(src, "media_type", at))
    if src.get("type") == "url":
        return ir.Image(url=opt_str(src, "url", at))
    raise BadRequest(f"{at}: image source must be base64 or url", param="messages")


def _result_content(content: Any, where: str) -> list[ir.Text | ir.Image]:
    if content is None:
        return []
    if isinstance(content, str):
        return [ir.Text(content)]
    out: list[ir.Text | ir.Image] = []
    for i, raw in enumerate(array(content, where)):
        at = path_of(where, i)
        b = obj(raw, at)
        if b.get("type") == "text":
            out.append(ir.Text(req_str(b, "text", at), opt_obj(b, "cache_control", at)))
        elif b.get("type") == "image":
            out.append(_image(b, at))
    return out


def _block(raw: Any, where: str) -> ir.Part:
    b = obj(raw, where)
    kind = b.get("type")
    if kind == "text":
        return ir.Text(req_str(b, "text", where), opt_obj(b, "cache_control", where))
    if kind == "image":
        return _image(b, where)
    if kind == "tool_use":
        args = orjson.dumps(opt_obj(b, "input", where) or {}).decode()
        return ir.ToolCall(str_or(b, "id", where), str_or(b, "name", where), args)
    if kind == "tool_result":
        content = _result_content(b.get("content"), path_of(where, "content"))
        return ir.ToolResult(
            str_or(b, "tool_use_id", where), content, opt_bool(b, "is_error", where) is True
        )
    if kind == "thinking":
        return ir.Thinking(str_or(b, "thinking", where), opt_str(b, "signature", where))
    if kind == "redacted_thinking":
        return ir.Thinking("", redacted=str_or(b, "data", where))
    raise BadRequest(f"content block type {kind!r} cannot be translated", param="messages")


def _messages(raw: Any) -> list[ir.Message]:
    if not isinstance(raw, list):
        raise BadRequest("`messages` must be a list", param="messages")
    out: list[ir.Message] = []
    for i, m in enumerate(raw):
        where = path_of("messages", i)
        role = obj(m, where).get("role")
        if role not in ("user", "assistant"):
            raise BadRequest(f"{where}.role: must be user or assistant", param="messages")
        content = m.get("content")
        at = path_of(where, "content")
        if isinstance(content, str):
            blocks: list[ir.Part] = [ir.Text(content)]
        else:
            blocks = [_block(b, path_of(at, j)) for j, b in enumerate(array(content, at))]
        rest: list[ir.Part] = []
        for part in blocks:
            if isinstance(part, ir.ToolResult):  # tool results leave the user turn, in order
                out.append(ir.Message("tool", [part]))
            else:
                rest.append(part)
        if rest or not blocks:
            out.append(ir.Message(role, rest))
    return out


def _system(raw: Any) -> list[ir.Message]:
    if raw is None:
        return []
    if isinstance(raw, str):
        return [ir.Message("system", [ir.Text(raw)])]
    parts: list[ir.Part] = []
    for i, b in enumerate(array(raw, "system")):
        where = path_of("system", i)
        block = obj(b, where)
        parts.append(ir.Text(req_str(block, "text", where), opt_obj(block, "cache_control", where)))
    return [ir.Message("system", parts)]


def _tools(raw: Any) -> list[ir.Tool]:
    tools = []
    for i, item in enumerate(array(raw, "tools") if raw is not None else ()):
        where = path_of("tools", i)
        t = obj(item, where)
        if t.get("type") not in (None, "custom") or "name" not in t:
            raise BadRequest(f"tool type {t.get('type')!r} cannot be translated", param="tools")
        schema = opt_obj(t, "input_schema", where) or {"type": "object", "properties": {}}
        tools.append(
            ir.Tool(
                str_or(t, "name", where),
                opt_str(t, "description", where),
                schema,
                opt_bool(t, "strict", where),
                opt_obj(t, "cache_control", where),
            )
        )
    return tools


def _tool_choice(raw: Any) -> tuple[ir.ToolChoice | None, bool | None]:
    if raw is None:
        return None, None
    choice = obj(raw, "tool_choice")
    kind = choice.get("type")
    disable = opt_bool(choice, "disable_parallel_tool_use", "tool_choice")
    parallel = False if disable is True else None
    mode = _CHOICES.get(kind) if isinstance(kind, str) else None
    if mode is None:
        raise BadRequest("tool_choice.type is not valid", param="tool_choice")
    return ir.ToolChoice(mode, opt_str(choice, "name", "tool_choice")), parallel  # type: ignore[arg-type]


_CHOICES: Final = {"auto": "auto", "any": "required", "none": "none", "tool": "tool"}


def _reasoning(raw: Any) -> ir.Reasoning | None:
    if raw is None:
        return None
    thinking = obj(raw, "thinking")
    if thinking.get("type") == "disabled":
        return ir.Reasoning(enabled=False)
    return ir.Reasoning(budget_tokens=opt_int(thinking, "budget_tokens", "thinking"))


class MessagesClient:
    """Anthropic Messages as clients speak it to the gateway."""

    def parse_request(self, doc: dict[str, Any]) -> ir.Request:
        max_tokens = doc.get("max_tokens")
        if type(max_tokens) is not int or max_tokens < 1:
            raise BadRequest("max_tokens: Field required (a positive integer)", param="max_tokens")
        choice, parallel = _tool_choice(doc.get("tool_choice"))
        metadata = opt_obj(doc, "metadata")
        return ir.Request(
            model=str(doc.get("model") or ""),
            messages=_system(doc.get("system")) + _messages(doc.get("messages")),
            tools=_tools(doc.get("tools")),
            tool_choice=choice,
            parallel_tool_calls=parallel,
            max_tokens=max_tokens,
            temperature=opt_number(doc, "temperature"),
            top_p=opt_number(doc, "top_p"),
            top_k=opt_int(doc, "top_k"),
            stop=stop_list(doc, "stop_sequences"),
            stream=doc.get("stream") is True,
            reasoning=_reasoning(doc.get("thinking")),
            user=opt_str(metadata, "user_id", "metadata") if metadata else None,
        )

    def encode_response(self, response: ir.Response) -> bytes:
        return orjson.dumps(message_doc(response))

    def stream_encoder(self, request: ir.Request) -> stream.MessagesStreamEncoder:
        return stream.MessagesStreamEncoder()


def block_doc(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.Text):
        return _cached({"type": "text", "text": part.text}, part.cache_control)
    if isinstance(part, ir.Refusal):
        return {"type": "text", "text": part.text}
    if isinstance(part, ir.Thinking):
        if part.redacted is not None:
            return {"type": "redacted_thinking", "data": part.redacted}
        return {"type": "thinking", "thinking": part.text, "signature": part.signature or ""}
    if isinstance(part, ir.ToolCall):
        return {
            "type": "tool_use",
            "id": part.id,
            "name": part.name,
            "input": _args(part.arguments),
        }
    if isinstance(part, ir.Image):
        if part.url is not None:
            return {"type": "image", "source": {"type": "url", "url": part.url}}
        src = {"type": "base64", "media_type": part.media_type, "data": part.data}
        return {"type": "image", "source": src}
    if isinstance(part, ir.ToolResult):
        content = [d for p in part.content if (d := block_doc(p)) is not None]
        doc: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": part.tool_call_id,
            "content": content,
        }
        if part.is_error:
            doc["is_error"] = True
        return doc
    return None


def _cached(doc: dict[str, Any], cache_control: dict[str, Any] | None) -> dict[str, Any]:
    if cache_control is not None:
        doc["cache_control"] = cache_control
    return doc


def _args(text: str) -> Any:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        raise BadRequest("tool call arguments are not valid JSON", param="messages") from None
    return value if isinstance(value, dict) else {"value": value}


def message_doc(response: ir.Response) -> dict[str, Any]:
    return {
        "id": response.id if response.id.startswith("msg_") else "msg_" + response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": [d for p in response.content if (d := block_doc(p)) is not None],
        "stop_reason": stream.STOP_FROM_IR[response.stop_reason],
        "stop_sequence": response.stop_sequence,
        "usage": stream.usage_doc(response.usage),
    }


# --- upstream side ----------------------------------------------------------------------------


def _turns(messages: list[ir.Message]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for m in messages:
        # Anthropic accepts earlier thinking only with its signature: unsigned reasoning (from
        # another vendor) is dropped.
        blocks = [
            d
            for p in m.content
            if not (isinstance(p, ir.Thinking) and not p.signature and p.redacted is None)
            and (d := block_doc(p)) is not None
        ]
        if m.role == "system":
            system.extend(b for b in blocks if b["type"] == "text")
            continue
        role = "assistant" if m.role == "assistant" else "user"
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:  # tool results must open their user turn
        turn["content"].sort(key=lambda b: b["type"] != "tool_result")
    return system, turns


def _tool_choice_out(choice: ir.ToolChoice | None, parallel: bool | None) -> dict[str, Any] | None:
    if choice is None and parallel is not False:
        return None
    mode = choice.mode if choice else "auto"
    doc: dict[str, Any] = {"type": {"required": "any"}.get(mode, mode)}
    if mode == "tool":
        doc["name"] = choice.name if choice else None
    if parallel is False and mode != "none":
        doc["disable_parallel_tool_use"] = True
    return doc


def _thinking_out(request: ir.Request, doc: dict[str, Any]) -> None:
    r = request.reasoning
    if r is None:
        return
    if not r.enabled:
        doc["thinking"] = {"type": "disabled"}
        return
    budget = r.budget_tokens or _EFFORT_BUDGET.get(r.effort or "", 0)
    if budget < 1024:
        return
    doc["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if doc["max_tokens"] <= budget:
        doc["max_tokens"] = budget + DEFAULT_MAX_TOKENS
    doc.pop("temperature", None)  # thinking only allows the default sampling
    doc.pop("top_k", None)


class MessagesUpstream:
    """Anthropic Messages as the gateway speaks it to a provider."""

    def build_request(self, request: ir.Request, model_id: str) -> dict[str, Any]:
        system, turns = _turns(request.messages)
        doc: dict[str, Any] = {
            "model": model_id,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": turns,
        }
        if system:
            plain = all("cache_control" not in b for b in system)
            doc["system"] = "\n\n".join(b["text"] for b in system) if plain else system
        if request.tools:
            doc["tools"] = [_tool_out(t) for t in request.tools]
        choice = _tool_choice_out(request.tool_choice, request.parallel_tool_calls)
        if choice is not None and request.tools:
            doc["tool_choice"] = choice
        for key in ("temperature", "top_p", "top_k"):
            if getattr(request, key) is not None:
                doc[key] = getattr(request, key)
        if request.stop:
            doc["stop_sequences"] = request.stop
        if request.user:
            doc["metadata"] = {"user_id": request.user}
        _thinking_out(request, doc)
        if request.stream:
            doc["stream"] = True
        return doc

    def parse_response(self, doc: dict[str, Any]) -> ir.Response:
        content = doc.get("content")
        if doc.get("type") != "message" or not isinstance(content, list):
            raise UpstreamProtocolError("upstream reply is not an Anthropic message")
        try:
            blocks = [
                _block(b, path_of("content", i))
                for i, b in enumerate(content)
                if not isinstance(b, dict) or b.get("type") != "tool_result"
            ]
        except BadRequest as exc:
            raise UpstreamProtocolError(f"upstream message: {exc.message}") from None
        return ir.Response(
            id=str(doc.get("id", "")),
            model=str(doc.get("model", "")),
            content=blocks,
            stop_reason=STOP_TO_IR.get(
                doc.get("stop_reason") or "end_turn", ir.StopReason.END_TURN
            ),
            stop_sequence=doc.get("stop_sequence"),
            usage=stream.usage_of(doc.get("usage")),
        )

    def stream_decoder(self) -> stream.MessagesStreamDecoder:
        return stream.MessagesStreamDecoder()


def _tool_out(t: ir.Tool) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": t.name, "input_schema": t.parameters}
    if t.description is not None:
        doc["description"] = t.description
    return _cached(doc, t.cache_control)


CLIENT: Final = MessagesClient()
UPSTREAM: Final = MessagesUpstream()
