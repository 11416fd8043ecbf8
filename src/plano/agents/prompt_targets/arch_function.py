"""The Arch-Function protocol: the function-calling model's prompt, the conversation rewritten
for it, the prefilled answer, and the reading (with repair) of its three JSON answer shapes.

The prompt wording is ours; the shapes are the original's: `<tools>` holds one JSON function per
line, and the model answers `{"response": ...}` (no function fits), `{"required_functions": [...],
"clarification": ...}` (a required parameter is missing) or `{"tool_calls": [{"name",
"arguments"}]}`, continuing a prefilled assistant message.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Sequence
from typing import Any, Final

import orjson

from plano.agents.prompt_targets.answer import Detection, ToolCall
from plano.agents.prompt_targets.repair import loads_repaired, strip_fences

ARCH_FUNCTION_NAMES: Final = ("arch-function", "katanemo/arch-function")
PREFILL: Final = '```json\n{"'
CLARIFY_PREFILL: Final = '```json\n{"required_functions": '
MAX_TOKENS: Final = 1024
_CHARS_PER_TOKEN: Final = 4

TASK_PROMPT: Final = (
    "You decide whether the user's latest request can be served by one of the functions below,"
    " and if so, which one and with which arguments. The functions are described as JSON"
    " objects, one per line, between <tools> and </tools>:\n<tools>\n{tools}\n</tools>"
)
FORMAT_PROMPT: Final = (
    "Answer with exactly one JSON object, in a ```json code block, of one of three shapes:\n"
    '1. No function fits the request: {"response": "<your short answer>"}\n'
    "2. A function fits but a required argument is not given in the conversation:"
    ' {"required_functions": ["<function name>"], "clarification": "<a question asking the'
    ' user for what is missing>"}\n'
    '3. A function fits and every required argument is known: {"tool_calls": [{"name":'
    ' "<function name>", "arguments": {"<parameter>": <value>}}]}\n'
    "Never guess a value the user did not give; ask instead."
)


def is_arch_function(model_id: str) -> bool:
    """Whether a model is served under one of the original's Arch-Function names."""
    low = model_id.lower()
    return any(low.startswith(n) for n in ARCH_FUNCTION_NAMES) or low.startswith("arch-agent")


def system_prompt(tools: Sequence[Any]) -> str:
    lines = "\n".join(orjson.dumps(t.get("function", t)).decode() for t in tools)
    return TASK_PROMPT.replace("{tools}", lines) + "\n\n" + FORMAT_PROMPT


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def rewrite(messages: Sequence[Any], *, optimize_context: bool = False) -> list[dict[str, Any]]:
    """The client's conversation as Arch-Function reads it: tool calls as `<tool_call>` text,
    tool results as user `<tool_response>` text; system messages left out (ours leads)."""
    names: dict[str, str] = {}
    out: list[dict[str, Any]] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        calls = m.get("tool_calls")
        if role == "assistant" and isinstance(calls, list) and calls:
            parts = [_tool_call_text(c, names) for c in calls if isinstance(c, dict)]
            out.append({"role": "assistant", "content": "\n".join(parts)})
        elif role == "tool":
            if optimize_context:
                text = "<tool_response>\n\n</tool_response>"
            else:
                name = names.get(str(m.get("tool_call_id")), "")
                result = orjson.dumps({"name": name, "result": _text(m.get("content"))}).decode()
                text = f"<tool_response>\n{result}\n</tool_response>"
            out.append({"role": "user", "content": text})
        elif role in ("user", "assistant"):
            out.append({"role": role, "content": _text(m.get("content"))})
    return out


def _tool_call_text(call: dict[str, Any], names: dict[str, str]) -> str:
    """An assistant tool call as Arch-Function's `<tool_call>` text (its name noted by id)."""
    fn = call.get("function")
    fn = fn if isinstance(fn, dict) else {}
    names[str(call.get("id"))] = str(fn.get("name", ""))
    args = fn.get("arguments", {})
    if isinstance(args, str):
        with contextlib.suppress(orjson.JSONDecodeError):
            args = orjson.loads(args)
    try:
        text = orjson.dumps({"name": fn.get("name"), "arguments": args}).decode()
    except TypeError:  # not JSON-serialisable: cannot come from a JSON request, but be safe
        text = "{}"
    return f"<tool_call>\n{text}\n</tool_call>"


def truncate(system: str, messages: list[dict[str, Any]], budget: int = MAX_TOKENS) -> list[Any]:
    """The most recent messages that fit `budget` tokens (characters / 4) beside the system
    prompt; the last message is always kept."""
    room = budget * _CHARS_PER_TOKEN - len(system)
    kept: list[dict[str, Any]] = []
    for m in reversed(messages):
        size = len(m["content"])
        if kept and size > room:
            break
        kept.append(m)
        room -= size
    return kept[::-1]


def request_body(
    model: str,
    tools: Sequence[Any],
    messages: Sequence[Any],
    *,
    optimize_context: bool = False,
    prefill: str = PREFILL,
    agent: bool = False,
    system: str | None = None,
) -> dict[str, Any] | None:
    """The chat request to Arch-Function, or None when the conversation does not end with a
    user turn (nothing to detect). `system` is `system_prompt(tools)` when built beforehand."""
    rewritten = rewrite(messages, optimize_context=optimize_context)
    if not rewritten or rewritten[-1]["role"] != "user":
        return None
    system = system if system is not None else system_prompt(tools)
    history = truncate(system, rewritten)
    return {
        "model": model,
        "messages": [
            {"role": "system", "content": system},
            *history,
            {"role": "assistant", "content": prefill},
        ],
        "continue_final_message": True,
        "add_generation_prompt": False,
        "temperature": 0.01 if agent else 0.1,
        "top_p": 1.0,
        "top_k": 10,
        "max_tokens": MAX_TOKENS,
        "stop_token_ids": [151645],
        "logprobs": True,
        "top_logprobs": 10,
        "stream": False,
    }


def full_text(content: str, prefill: str = PREFILL) -> str:
    """The answer with its prefill: servers that continue the prefilled message return only
    the continuation; some echo the prefill."""
    stripped = content.lstrip()
    if stripped.startswith("```") or stripped.startswith("{"):
        return content
    return prefill + content


def parse_answer(content: str, prefill: str = PREFILL) -> tuple[dict[str, Any] | None, str]:
    """The model's JSON object (repaired when needed, None when unreadable) and its fenced form
    (the `x-arch-fc-model-response` the original reports)."""
    text = strip_fences(full_text(content, prefill))
    value = loads_repaired(text)
    obj = value if isinstance(value, dict) else None
    fenced = "```json\n" + (orjson.dumps(obj).decode() if obj is not None else text) + "\n```"
    return obj, fenced


def call_id() -> str:
    """`call_<1000-10999>`, as the original numbers them."""
    return f"call_{random.randrange(1000, 11000)}"


def detection(obj: dict[str, Any] | None, raw: str) -> Detection:
    """The answer's meaning: tool calls, a clarification, or no intent (`response`, or an
    answer of no known shape)."""
    if obj is None:
        return Detection(raw=raw)
    calls = obj.get("tool_calls")
    if isinstance(calls, list) and calls:
        out = []
        for c in calls:
            if isinstance(c, dict) and isinstance(c.get("name"), str):
                out.append(ToolCall(call_id(), c["name"], c.get("arguments", {})))
        if out:
            return Detection(calls=tuple(out), raw=raw)
    clarification = obj.get("clarification")
    if "required_functions" in obj or clarification:
        text = clarification if isinstance(clarification, str) else ""
        return Detection(clarification=text or "Could you give more details?", raw=raw)
    return Detection(raw=raw)
