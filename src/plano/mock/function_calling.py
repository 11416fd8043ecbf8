"""The mock as a function-calling model: it "learns" from the tools in the request.

When no reply is scripted (neither `text` nor `tool_calls` from a spec, header or option):

- a request with tools (OpenAI chat, Anthropic, Gemini or Bedrock shape) is answered as a
  tool-calling model would: the tool whose name and description share the most words with the
  latest user message is called with values found by simple patterns (enum values, numbers,
  yes/no, a capitalised place after "in"/"for"/"at", an id with digits, a three-letter code, a
  quoted string, or the whole answer to our previous question); a missing required value gets
  a question back; no tool fits: the reply a system message asks for (`reply with exactly
  "X"`), else the default text;
- a request in the Arch-Function protocol (a system prompt with a `<tools>` block, and the
  answer prefilled as the last, assistant message) is answered in Arch-Function's JSON shapes,
  continuing the prefill; a scripted `tool_calls` reply is written as its `{"tool_calls": ...}`
  answer. Scripted `uncertain` parameter names get high-entropy logprobs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Final

import orjson

from plano.mock.script import ReplySpec, ToolCallSpec

_WORD: Final = re.compile(r"[a-z0-9]+")
_STOP_WORDS: Final = (
    "a an the is are was be to of in on at for and or me my i you it what whats how can could"
    " please get set do does with this that there here give tell show about from by as"
)
_STOP: Final = frozenset(_STOP_WORDS.split())
_NUMBER: Final = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.])")
_PLACE: Final = re.compile(r"\b(?:in|for|at|near)\s+([A-Z][\w'\-]*(?:(?:,\s*|\s+)[A-Z][\w'\-]*)*)")
_ID: Final = re.compile(r"\b([A-Za-z][\w\-]*\d[\w\-]*|\d+[A-Za-z][\w\-]*)\b")
_CODE: Final = re.compile(r"\b([A-Z]{3})\b")
_QUOTED: Final = re.compile(r"\"([^\"]+)\"|'([^']+)'")
_YES: Final = re.compile(r"\b(yes|true|confirm(?:ed)?|sure)\b", re.I)
_NO: Final = re.compile(r"\b(no|false|don't|do not)\b", re.I)
_EXACT: Final = re.compile(r'reply with exactly "([^"]+)"')
_ARCH_TOOLS: Final = re.compile(r"<tools>\n(.*?)\n</tools>", re.S)
_CALLED: Final = re.compile(r'<tool_call>\s*\{"name":\s*"([^"]+)"')
_TOKEN: Final = re.compile(r"\w+|\s+|[^\w\s]")
_PLACE_WORDS: Final = ("location", "city", "place", "town", "country", "address")


def _words(text: str) -> set[str]:
    return {w.rstrip("s") or w for w in _WORD.findall(text.lower()) if w not in _STOP}


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(
            p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
        )
    return ""


def _declared(body: dict[str, Any]) -> list[Any]:
    """The function declarations of any dialect: OpenAI `tools[].function`, Anthropic
    `tools[]`, Gemini `tools[].functionDeclarations[]`, Bedrock `toolConfig.tools[].toolSpec`."""
    tools = body.get("tools")
    config = body.get("toolConfig")
    if isinstance(config, dict) and isinstance(config.get("tools"), list):
        tools = [t.get("toolSpec") for t in config["tools"] if isinstance(t, dict)]
    out: list[Any] = []
    for t in tools if isinstance(tools, list) else ():
        decls = t.get("functionDeclarations") if isinstance(t, dict) else None
        if isinstance(decls, list):
            out.extend(decls)
        elif isinstance(t, dict):
            out.append(t.get("function", t))
    return out


def _tools(body: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for fn in _declared(body):
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            schema = fn.get("parameters") or fn.get("input_schema") or fn.get("inputSchema") or {}
            if isinstance(schema, dict) and isinstance(schema.get("json"), dict):
                schema = schema["json"]  # Bedrock
            out.append(_tool(fn, schema))
    return out


def _messages(body: dict[str, Any]) -> list[Any] | None:
    """The conversation as role/content messages (Gemini `contents` with `parts` too)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        return messages
    contents = body.get("contents")
    if not isinstance(contents, list):
        return None
    roles = {"model": "assistant"}
    return [
        {"role": roles.get(str(c.get("role")), "user"), "content": c.get("parts")}
        for c in contents
        if isinstance(c, dict)
    ]


def _system(body: dict[str, Any]) -> str:
    """A system prompt carried beside the messages (Anthropic, Bedrock, Gemini)."""
    system = body.get("system")
    instruction = body.get("systemInstruction") or body.get("system_instruction")
    if isinstance(instruction, dict):
        system = instruction.get("parts")
    return _text(system)


def _tool(fn: dict[str, Any], schema: object) -> dict[str, Any]:
    """A tool as the mock reads it: name, description, properties (objects), required names."""
    schema = schema if isinstance(schema, dict) else {}
    props = schema.get("properties")
    props = (
        {k: v for k, v in props.items() if isinstance(v, dict)} if isinstance(props, dict) else {}
    )
    required = schema.get("required")
    names = {r for r in required if isinstance(r, str)} if isinstance(required, list) else set()
    names |= {k for k, v in props.items() if v.get("required") is True}
    return {
        "name": fn["name"],
        "description": str(fn.get("description") or ""),
        "properties": props,
        "required": sorted(names),
    }


def _arch_tools(system: str) -> list[dict[str, Any]]:
    found = _ARCH_TOOLS.search(system)
    out = []
    for line in found.group(1).splitlines() if found else ():
        try:
            fn = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            out.append(_tool(fn, fn.get("parameters")))
    return out


class Conversation:
    def __init__(self, messages: Sequence[Any]) -> None:
        ms = [m for m in messages if isinstance(m, dict)]
        self.system = " ".join(_text(m.get("content")) for m in ms if m.get("role") == "system")
        users = [
            _text(m.get("content"))
            for m in ms
            if m.get("role") == "user" and not _text(m.get("content")).startswith("<tool_")
        ]
        self.users = users
        self.user = "\n".join(users)
        self.last = users[-1] if users else ""
        replies = [_text(m.get("content")) for m in ms if m.get("role") == "assistant"]
        self.asked = bool(replies) and replies[-1].rstrip().endswith("?")
        self.question = replies[-1].lower() if self.asked else ""
        self.called: str | None = None  # the last tool called earlier (follow-ups keep to it)
        for m in ms:
            found = (
                _CALLED.search(_text(m.get("content"))) if m.get("role") == "assistant" else None
            )
            if found:
                self.called = found.group(1)


def _best(tools: Sequence[dict[str, Any]], text: str) -> dict[str, Any] | None:
    said = _words(text)
    best, score = None, 0
    for t in tools:
        words = _words(t["name"].replace("_", " ") + " " + str(t.get("description", "")))
        overlap = len(said & words)
        if overlap > score:
            best, score = t, overlap
    return best


def pick(tools: Sequence[dict[str, Any]], conv: Conversation) -> dict[str, Any] | None:
    """The tool the latest user message is about; an answer to our question keeps to the tool
    the conversation was about, a follow-up after a call keeps to the called tool."""
    best = _best(tools, conv.last)
    if best is None and conv.asked:
        best = _best(tools, conv.user)
    if best is None and conv.called is not None:
        best = next((t for t in tools if t["name"] == conv.called), None)
    return best


def _value(name: str, p: dict[str, Any], conv: Conversation, text: str, numbers: list[str]) -> Any:
    kind = str(p.get("type", "str")).lower()
    enum = p.get("enum")
    for option in enum if isinstance(enum, list) else ():
        if re.search(rf"\b{re.escape(str(option))}\b", text, re.I):
            return option
    if kind in ("int", "integer", "float", "number"):
        if numbers:
            raw = numbers.pop(0)
            return int(float(raw)) if kind.startswith("int") else float(raw)
        return None
    if kind in ("bool", "boolean"):
        return True if _YES.search(text) else False if _NO.search(text) else None
    about = f"{name} {p.get('description', '')} {p.get('format', '')}".lower()
    found = None
    if any(w in about for w in _PLACE_WORDS):
        m = _PLACE.search(text)
        found = m.group(1) if m else None
    elif any(w in about for w in ("symbol", "currency", "code")):
        m = _CODE.search(text)
        found = m.group(1) if m else None
    elif name.endswith("id") or "identifier" in about:
        m = _ID.search(text)
        found = m.group(1) if m else None
    if found is None:
        q = _QUOTED.search(text)
        found = (q.group(1) or q.group(2)) if q else None
    asked_for = str(p.get("description") or name).lower().rstrip(".") in conv.question
    if found is None and asked_for and text is conv.last and 0 < len(text.split()) <= 5:
        found = text.strip(" .!?")  # the whole answer to our question about this parameter
    return found


def arguments(tool: dict[str, Any], conv: Conversation) -> tuple[dict[str, Any], list[str]]:
    """The values found for the tool's parameters, and the required ones not found."""
    props = tool["properties"]
    required = set(tool["required"])
    found: dict[str, Any] = {}
    for text in reversed(conv.users):  # the latest message first
        numbers = _NUMBER.findall(text)
        for name, p in props.items():
            if name not in found:
                value = _value(name, p, conv, text, numbers)
                if value is not None:
                    found[name] = value
    missing = [name for name in props if name in required and name not in found]
    return {k: found[k] for k in props if k in found}, missing


def _question(tool: dict[str, Any], missing: Sequence[str]) -> str:
    props = tool.get("properties") or {}
    what = [str((props.get(m) or {}).get("description") or m).rstrip(".") for m in missing]
    return f"Could you tell me {', and '.join(w[:1].lower() + w[1:] for w in what)}?"


def native_spec(body: dict[str, Any], spec: ReplySpec) -> ReplySpec:
    tools = _tools(body)
    messages = _messages(body)
    if not tools or messages is None:
        return spec
    conv = Conversation(messages)
    tool = pick(tools, conv)
    if tool is None:
        exact = _EXACT.search(conv.system + " " + _system(body))
        return replace(spec, text=exact.group(1)) if exact else spec
    found, missing = arguments(tool, conv)
    if missing:
        return replace(spec, text=_question(tool, missing))
    return replace(spec, tool_calls=(ToolCallSpec(tool["name"], orjson.dumps(found).decode()),))


def arch_answer(body: dict[str, Any], spec: ReplySpec) -> tuple[str, str] | None:
    """(prefill, the whole JSON answer) for an Arch-Function request, else None."""
    messages = body.get("messages")
    if not isinstance(messages, list) or len(messages) < 2:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return None
    conv = Conversation(messages[:-1])
    if "<tools>" not in conv.system:
        return None
    prefill = _text(last.get("content"))
    tools = _arch_tools(conv.system)
    tool = pick(tools, conv)
    if spec.tool_calls and not prefill.rstrip().endswith('"required_functions":'):
        calls = [{"name": c.name, "arguments": _json(c.arguments)} for c in spec.tool_calls]
        answer: dict[str, Any] = {"tool_calls": calls}
    elif tool is None:
        answer = {"response": "I can only help with the tasks I have functions for."}
    else:
        found, missing = arguments(tool, conv)
        if prefill.rstrip().endswith('"required_functions":'):
            props = list(tool.get("properties") or {})
            missing = missing or [n for n in spec.uncertain or props if n in props][:1]
        if missing:
            answer = {
                "required_functions": [tool["name"]],
                "clarification": _question(tool, missing),
            }
        else:
            answer = {"tool_calls": [{"name": tool["name"], "arguments": found}]}
    return prefill, "```json\n" + orjson.dumps(answer).decode() + "\n```"


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def arch_spec(body: dict[str, Any], spec: ReplySpec) -> ReplySpec | None:
    found = arch_answer(body, spec)
    if found is None:
        return None
    prefill, full = found
    if prefill.startswith("```json\n{") and full.startswith("```json\n{"):
        key = prefill[len("```json\n") :]
        payload = full[len("```json\n") :]
        text = payload[len(key) :] if payload.startswith(key) else payload
    else:
        text = full
    return replace(spec, text=text, tool_calls=None)


def learned(body: object, spec: ReplySpec) -> ReplySpec:
    """`spec` with the reply a function-calling model would give (see the module doc)."""
    if not isinstance(body, dict):
        return spec
    arch = arch_spec(body, spec) if spec.text is None else None
    if arch is not None:
        return arch
    if spec.text is None and spec.tool_calls is None:
        return native_spec(body, spec)
    return spec


def logprobs(text: str, arguments_text: str, uncertain: Sequence[str]) -> list[dict[str, Any]]:
    """Per-token logprobs of `text`: certain everywhere except inside the values of the
    `uncertain` parameters (spread, unequal alternatives: entropy and varentropy well above 0)."""
    spans = []
    for name in uncertain:
        m = re.search(rf'"{re.escape(name)}"\s*:\s*("(?:[^"\\]|\\.)*"|[^,}}\]]+)', arguments_text)
        if m:
            spans.append(m.span(1))
    out = []
    pos = 0
    for piece in _TOKEN.findall(text):
        start, end = pos, pos + len(piece)
        pos = end
        unsure = any(start < e and end > s for s, e in spans) and piece.strip() not in ('"', "")
        if unsure:
            probs = [0.45, 0.3, 0.15, 0.1]
            top = [
                {"token": piece if i == 0 else f"{piece}{i}", "p": p} for i, p in enumerate(probs)
            ]
        else:
            top = [{"token": piece, "p": 1.0}]
        out.append(_token(piece, top))
    return out


def _token(piece: str, top: list[dict[str, Any]]) -> dict[str, Any]:
    alts = [
        {"token": t["token"], "logprob": math.log(t["p"]), "bytes": list(t["token"].encode())}
        for t in top
    ]
    return {**alts[0], "token": piece, "top_logprobs": alts}
