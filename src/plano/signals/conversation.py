"""A conversation as the analysers see it: ShareGPT-style rows, plus converters between dialects.

Rows keep the index of the input message they came from, so a signal points at the caller's message
(an assistant message with two tool calls yields two `function_call` rows with the same index).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple, TypeGuard

HUMAN: Final = "human"
GPT: Final = "gpt"
FUNCTION_CALL: Final = "function_call"
OBSERVATION: Final = "observation"

_OPENAI_ROLES: Final[Mapping[str, str]] = {
    "user": HUMAN,
    "assistant": GPT,
    "tool": OBSERVATION,
    "function": OBSERVATION,
}
_SHAREGPT_ROLES: Final[Mapping[str, str]] = {
    "human": HUMAN,
    "user": HUMAN,
    "gpt": GPT,
    "assistant": GPT,
    "function_call": FUNCTION_CALL,
    "observation": OBSERVATION,
    "tool": OBSERVATION,
}
_TEXT_PART_TYPES: Final = ("text", "input_text", "output_text")  # a tuple: `in` never hashes


class Row(NamedTuple):
    """One analysed row: `role` is human | gpt | function_call | observation."""

    role: str
    text: str
    message_index: int  # position of the message in the caller's list
    tool_name: str = ""
    tool_args: str = ""


# A row without the NamedTuple constructor's Python-level call (the hot loop builds one a message).
_new_row: Final = tuple.__new__


def content_text(content: Any) -> str:
    """The text of an OpenAI / Anthropic / Responses content value (string or list of parts)."""
    if type(content) is str:
        return content
    if content is None:
        return ""
    if isinstance(content, Mapping):
        content = [content]
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping):
            kind = part.get("type", "text")
            if kind in _TEXT_PART_TYPES and isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif kind == "tool_result":
                texts.append(content_text(part.get("content")))
    return "\n".join(t for t in texts if t)


def canonical_args(arguments: Any) -> str:
    """Tool-call arguments as canonical JSON (sorted keys) when they parse, else the raw text."""
    if isinstance(arguments, str):
        return (
            _canonical_text(arguments)
            if len(arguments) <= _CACHE_ARGS_UP_TO
            else _canonical(arguments)
        )
    return _canonical(arguments)


_CACHE_ARGS_UP_TO: Final = 2000


@functools.lru_cache(maxsize=1024)
def _canonical_text(arguments: str) -> str:
    return _canonical(arguments)


def _canonical(arguments: Any) -> str:
    value = arguments
    if isinstance(arguments, str):
        try:
            value = json.loads(arguments)
        except ValueError:
            return arguments.strip()
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


def _openai_rows(messages: Sequence[Any], start: int) -> list[Row]:
    rows: list[Row] = []
    append = rows.append
    roles = _OPENAI_ROLES
    for index, message in enumerate(messages, start):
        if type(message) is not dict and not isinstance(message, Mapping):
            continue
        role = message.get("role", "")
        role = roles.get(role if type(role) is str else str(role))
        if role is None:
            continue
        content = message.get("content")
        text = content if type(content) is str else content_text(content)
        if role != GPT:
            append(_new_row(Row, (role, text, index, "", "")))
            continue
        if text:
            append(_new_row(Row, (GPT, text, index, "", "")))
        calls = message.get("tool_calls")
        if calls is None or type(calls) is not list:
            legacy = message.get("function_call")
            calls = [{"function": legacy}] if legacy is not None and _is_mapping(legacy) else []
        for call in calls:
            function = call.get("function") if _is_mapping(call) else None
            if _is_mapping(function):
                rows.append(_call_row(function.get("name"), function.get("arguments"), index))
    return rows


def _call_row(name: Any, arguments: Any, index: int) -> Row:
    name_text = name if isinstance(name, str) else ""
    args = canonical_args(arguments if arguments is not None else {})
    return Row(FUNCTION_CALL, f"{name_text}({args})", index, name_text, args)


def _sharegpt_rows(messages: Sequence[Any], start: int) -> list[Row]:
    rows: list[Row] = []
    for index, message in enumerate(messages, start):
        if not isinstance(message, Mapping):
            continue
        role = _SHAREGPT_ROLES.get(str(message.get("from", "")))
        if role is None:
            continue
        value = message.get("value")
        if role != FUNCTION_CALL:
            rows.append(Row(role, content_text(value), index))
            continue
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                rows.append(Row(FUNCTION_CALL, value, index, value.strip(), ""))
                continue
        if isinstance(value, Mapping):
            rows.append(_call_row(value.get("name"), value.get("arguments"), index))
    return rows


def to_rows(
    messages: Sequence[Any], shape: Literal["openai", "sharegpt"] = "openai", start: int = 0
) -> list[Row]:
    """Rows of a conversation in the OpenAI chat shape or the ShareGPT replay shape
    (`start`: the index of its first message, when `messages` continues earlier ones)."""
    if shape == "sharegpt":
        return _sharegpt_rows(messages, start)
    return _openai_rows(messages, start)


def from_anthropic(messages: Sequence[Any], system: Any = None) -> list[dict[str, Any]]:
    """Anthropic Messages (text / tool_use / tool_result blocks) → OpenAI chat messages."""
    out: list[dict[str, Any]] = []
    system_text = content_text(system)
    if system_text:
        out.append({"role": "system", "content": system_text})
    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        content = message.get("content")
        blocks = content if isinstance(content, list) else [content]
        if role == "assistant":
            out.append(_anthropic_assistant(blocks))
        elif role == "user":
            texts: list[str] = []
            for block in blocks:
                if isinstance(block, Mapping) and block.get("type") == "tool_result":
                    out.append(
                        {
                            "role": "tool",
                            "tool_call_id": str(block.get("tool_use_id", "")),
                            "content": content_text(block.get("content")),
                        }
                    )
                else:
                    texts.append(content_text(block))
            text = "\n".join(t for t in texts if t)
            if text:
                out.append({"role": "user", "content": text})
    return out


def _anthropic_assistant(blocks: list[Any]) -> dict[str, Any]:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if isinstance(block, Mapping) and block.get("type") == "tool_use":
            calls.append(
                {
                    "id": str(block.get("id", "")),
                    "type": "function",
                    "function": {
                        "name": str(block.get("name", "")),
                        "arguments": canonical_args(block.get("input", {})),
                    },
                }
            )
        else:
            texts.append(content_text(block))
    message: dict[str, Any] = {"role": "assistant", "content": "\n".join(t for t in texts if t)}
    if calls:
        message["tool_calls"] = calls
    return message


def from_responses(input_items: Any) -> list[dict[str, Any]]:
    """Responses API `input` (a string or message / function_call / function_call_output items)."""
    if isinstance(input_items, str):
        return [{"role": "user", "content": input_items}]
    if not isinstance(input_items, list):
        return []
    out: list[dict[str, Any]] = []
    for item in input_items:
        if not isinstance(item, Mapping):
            continue
        kind = item.get("type", "message")
        if kind == "message" and isinstance(item.get("role"), str):
            out.append({"role": item["role"], "content": content_text(item.get("content"))})
        elif kind == "function_call":
            call = {
                "id": str(item.get("call_id", "")),
                "type": "function",
                "function": {
                    "name": str(item.get("name", "")),
                    "arguments": canonical_args(item.get("arguments", "{}")),
                },
            }
            out.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else content_text(output)
            out.append(
                {"role": "tool", "tool_call_id": str(item.get("call_id", "")), "content": text}
            )
    return out
