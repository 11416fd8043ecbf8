"""Valid request bodies per client dialect, and their type mutations: the fuzzers' material.

`SEEDS[dialect]` are well-formed requests that reach every field the gateway reads (system,
content blocks of each kind, tools, tool_choice, reasoning/thinking, sampling, metadata,
response_format, input items). `leaves(doc)` lists every JSON path of a body (objects, arrays
and scalars alike); `mutate(doc, path, value)` replaces the value at one path. `WRONG_VALUES`
are the replacements: each JSON type, huge and negative numbers, and deep nesting; `DROP`
removes the member or element instead.

Used by `tests/fuzz/` (hypothesis picks the seed, the path and the value) and by
`bench/fuzz_inputs.py` (a seeded `random.Random` does, for ≥ 10^5 cases).
"""

from __future__ import annotations

import copy
import json
from typing import Any, Final

PATHS: Final = {
    "openai_chat": "/v1/chat/completions",
    "anthropic_messages": "/v1/messages",
    "openai_responses": "/v1/responses",
}

COUNT_PATH: Final = "/v1/messages/count_tokens"  # Anthropic clients count tokens here too
_IMAGE: Final = "data:image/png;base64,iVBORw0KGgo="
_SCHEMA: Final = {"type": "object", "properties": {"city": {"type": "string"}}}

_CHAT: Final[list[dict[str, Any]]] = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
            {
                "role": "user",
                "name": "ann",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {"type": "image_url", "image_url": {"url": _IMAGE, "detail": "low"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "thinking",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "weather",
                    "description": "Weather",
                    "parameters": _SCHEMA,
                    "strict": True,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "weather"}},
        "parallel_tool_calls": False,
        "max_completion_tokens": 64,
        "max_tokens": 64,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "reasoning_effort": "low",
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": _SCHEMA}},
        "user": "u1",
        "metadata": {"k": "v"},
        "stream_options": {"include_usage": True},
    },
    {"messages": [{"role": "user", "content": "hi"}], "tool_choice": "auto", "stop": "x"},
]

_MESSAGES: Final[list[dict[str, Any]]] = [
    {
        "max_tokens": 64,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Weather?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"},
                    },
                    {"type": "image", "source": {"type": "url", "url": "https://x/y.png"}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "abc"},
                    {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "P"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "tu_1",
                        "is_error": False,
                        "content": [{"type": "text", "text": "sunny"}],
                    },
                    {"type": "text", "text": "thanks"},
                ],
            },
        ],
        "tools": [
            {
                "name": "weather",
                "description": "Weather",
                "input_schema": _SCHEMA,
                "cache_control": {"type": "ephemeral"},
            }
        ],
        "tool_choice": {"type": "tool", "name": "weather", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 5,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u1"},
    },
    {"max_tokens": 16, "system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]},
]

_RESPONSES: Final[list[dict[str, Any]]] = [
    {
        "instructions": "Be brief.",
        "input": [
            {"role": "developer", "content": "Use tools."},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Weather?"},
                    {"type": "input_image", "image_url": _IMAGE, "detail": "low"},
                ],
            },
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "hm"}],
                "encrypted_content": "enc",
            },
            {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "It is sunny."}]},
            {"role": "user", "content": "thanks"},
        ],
        "tools": [
            {
                "type": "function",
                "name": "weather",
                "description": "Weather",
                "parameters": _SCHEMA,
                "strict": True,
            }
        ],
        "tool_choice": {"type": "function", "name": "weather"},
        "parallel_tool_calls": True,
        "max_output_tokens": 64,
        "temperature": 0.5,
        "top_p": 0.9,
        "reasoning": {"effort": "low", "summary": "auto"},
        "text": {"format": {"type": "json_schema", "name": "x", "schema": _SCHEMA}},
        "user": "u1",
        "metadata": {"k": "v"},
        "store": False,
    },
    {"input": "hi", "tool_choice": "none", "text": {"format": {"type": "json_object"}}},
]

SEEDS: Final[dict[str, list[dict[str, Any]]]] = {
    "openai_chat": _CHAT,
    "anthropic_messages": _MESSAGES,
    "openai_responses": _RESPONSES,
}


def _deep(depth: int) -> Any:
    value: Any = "x"
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


# Not a value: `mutate` removes the member (or array element) at the path instead.
DROP: Final = "\u0000plano-fuzz-drop"

WRONG_VALUES: Final[tuple[Any, ...]] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -(2**63),
    2**63 - 1,
    10**30,
    1e308,
    "",
    "x",
    "\u0000\ud7ff",
    [],
    ["low"],
    [1],
    [None],
    {},
    {"type": None},
    {"text": None},
    _deep(40),
    DROP,
)

Path = tuple[str | int, ...]


def leaves(doc: Any, prefix: Path = ()) -> list[Path]:
    """Every path inside `doc` (each object member and array element, nested ones included)."""
    out: list[Path] = []
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list):
        items = enumerate(doc)
    else:
        return out
    for key, value in items:
        path = (*prefix, key)
        out.append(path)
        out.extend(leaves(value, path))
    return out


def mutate(doc: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    """A deep copy of `doc` with the value at `path` replaced by `value` (removed: `DROP`)."""
    out = copy.deepcopy(doc)
    target: Any = out
    for key in path[:-1]:
        target = target[key]
    if value == DROP:
        del target[path[-1]]
    else:
        target[path[-1]] = copy.deepcopy(value)
    return out


def encode(doc: Any) -> bytes:
    """The body's bytes (the standard library's encoder: orjson refuses integers past 64 bits)."""
    return json.dumps(doc, separators=(",", ":")).encode()


def body_for(doc: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """A seed as sent for one pair: with its model and stream flag, which are mutated too."""
    return {"model": model, "stream": stream, **doc}
