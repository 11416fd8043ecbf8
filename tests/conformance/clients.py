"""One driver per client API: build the feature's request, call the gateway through the API's
official SDK (streamed through the SDK's own stream helper, which accumulates and checks every
event), and return what the SDK parsed, client-dialect-free."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

import anthropic
import openai

SYSTEM: Final = "You are a terse weather bot."
USER: Final = "What is the weather in Paris right now?"
MAX_TOKENS: Final = 2048
THINKING_BUDGET: Final = 1024
WEATHER_SCHEMA: Final = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
TIME_SCHEMA: Final = {
    "type": "object",
    "properties": {"tz": {"type": "string"}},
    "required": ["tz"],
}
TOOLS: Final = {"get_weather": WEATHER_SCHEMA, "get_time": TIME_SCHEMA}
PRIOR_CALL_ID: Final = "call_prior_weather_1"
PRIOR_ARGS: Final = {"city": "Paris"}
TOOL_RESULT: Final = "sunny, 18C"


@dataclass
class Parsed:
    """What the SDK handed the application."""

    text: str = ""
    thinking: str = ""
    tool_calls: list[tuple[str, str, Any]] = field(default_factory=list)  # (id, name, args)
    finish: str = ""  # stop | tool_calls | length | other, mapped from the client's dialect
    prompt_tokens: int | None = None  # the whole prompt, cached part included
    completion_tokens: int | None = None
    cached_tokens: int | None = None
    events: int = 0  # stream events the SDK parsed


# --- OpenAI Chat Completions --------------------------------------------------------------------


def _chat_messages(feature: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": USER},
    ]
    if feature == "tools":
        call = {
            "id": PRIOR_CALL_ID,
            "type": "function",
            "function": {"name": "get_weather", "arguments": json.dumps(PRIOR_ARGS)},
        }
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        messages.append({"role": "tool", "tool_call_id": PRIOR_CALL_ID, "content": TOOL_RESULT})
    return messages


def _chat_kwargs(model: str, feature: str) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "model": model,
        "messages": _chat_messages(feature),
        "max_tokens": MAX_TOKENS,
    }
    if feature in ("tools", "parallel_tools"):
        kw["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": s}} for n, s in TOOLS.items()
        ]
    if feature == "thinking":
        kw["reasoning_effort"] = "low"
    return kw


def _chat_usage(out: Parsed, usage: Any) -> None:
    if usage is None:
        return
    out.prompt_tokens, out.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    details = usage.prompt_tokens_details
    out.cached_tokens = details.cached_tokens if details is not None else None


def chat(base_url: str, model: str, feature: str, stream: bool) -> Parsed:
    out = Parsed()
    kw = _chat_kwargs(model, feature)
    with openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0) as client:
        if stream:
            kw["stream_options"] = {"include_usage": True}
            with client.chat.completions.stream(**kw) as events:
                for event in events:
                    out.events += 1
                    if event.type == "chunk" and event.chunk.choices:
                        delta = event.chunk.choices[0].delta
                        out.thinking += getattr(delta, "reasoning_content", None) or ""
                completion = events.get_final_completion()
        else:
            completion = client.chat.completions.create(**kw)
            msg = completion.choices[0].message
            out.thinking = getattr(msg, "reasoning_content", None) or ""
    choice = completion.choices[0]
    out.text = choice.message.content or ""
    for call in choice.message.tool_calls or []:
        fn = call.function  # type: ignore[union-attr]
        out.tool_calls.append((call.id, fn.name, json.loads(fn.arguments)))
    out.finish = choice.finish_reason or ""
    _chat_usage(out, completion.usage)
    return out


# --- Anthropic Messages -------------------------------------------------------------------------

_STOP: Final = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
}


def _messages_kwargs(model: str, feature: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": USER}]
    if feature == "tools":
        use = {"type": "tool_use", "id": PRIOR_CALL_ID, "name": "get_weather", "input": PRIOR_ARGS}
        result = {"type": "tool_result", "tool_use_id": PRIOR_CALL_ID, "content": TOOL_RESULT}
        messages += [
            {"role": "assistant", "content": [use]},
            {"role": "user", "content": [result]},
        ]
    kw: dict[str, Any] = {
        "model": model,
        "system": SYSTEM,
        "messages": messages,
        "max_tokens": MAX_TOKENS,
    }
    if feature in ("tools", "parallel_tools"):
        kw["tools"] = [{"name": n, "input_schema": s} for n, s in TOOLS.items()]
    if feature == "thinking":
        kw["thinking"] = {"type": "enabled", "budget_tokens": THINKING_BUDGET}
    return kw


def messages(base_url: str, model: str, feature: str, stream: bool) -> Parsed:
    out = Parsed()
    kw = _messages_kwargs(model, feature)
    with anthropic.Anthropic(base_url=base_url, api_key="client-key", max_retries=0) as client:
        if stream:
            with client.messages.stream(**kw) as events:
                for _ in events:
                    out.events += 1
                msg = events.get_final_message()
        else:
            msg = client.messages.create(**kw)
    for block in msg.content:
        if block.type == "text":
            out.text += block.text
        elif block.type == "thinking":
            out.thinking += block.thinking
        elif block.type == "tool_use":
            out.tool_calls.append((block.id, block.name, block.input))
    out.finish = _STOP.get(msg.stop_reason or "", msg.stop_reason or "")
    usage = msg.usage
    cached = usage.cache_read_input_tokens or 0
    out.prompt_tokens = usage.input_tokens + cached + (usage.cache_creation_input_tokens or 0)
    out.completion_tokens, out.cached_tokens = usage.output_tokens, cached
    return out


# --- OpenAI Responses ---------------------------------------------------------------------------


def _responses_kwargs(model: str, feature: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"role": "user", "content": USER}]
    if feature == "tools":
        items += [
            {
                "type": "function_call",
                "call_id": PRIOR_CALL_ID,
                "name": "get_weather",
                "arguments": json.dumps(PRIOR_ARGS),
            },
            {"type": "function_call_output", "call_id": PRIOR_CALL_ID, "output": TOOL_RESULT},
        ]
    kw: dict[str, Any] = {
        "model": model,
        "instructions": SYSTEM,
        "input": items,
        "max_output_tokens": MAX_TOKENS,
    }
    if feature in ("tools", "parallel_tools"):
        kw["tools"] = [
            {"type": "function", "name": n, "parameters": s, "strict": False}
            for n, s in TOOLS.items()
        ]
    if feature == "thinking":
        kw["reasoning"] = {"effort": "low", "summary": "auto"}
    return kw


def responses(base_url: str, model: str, feature: str, stream: bool) -> Parsed:
    out = Parsed()
    kw = _responses_kwargs(model, feature)
    with openai.OpenAI(base_url=base_url + "/v1", api_key="client-key", max_retries=0) as client:
        if stream:
            with client.responses.stream(**kw) as events:
                for _ in events:
                    out.events += 1
                resp = events.get_final_response()
        else:
            resp = client.responses.create(**kw)
    for item in resp.output:
        if item.type == "message":
            out.text += "".join(p.text for p in item.content if p.type == "output_text")
        elif item.type == "reasoning":
            out.thinking += "".join(s.text for s in item.summary)
        elif item.type == "function_call":
            out.tool_calls.append((item.call_id, item.name, json.loads(item.arguments)))
    if resp.status == "incomplete":
        out.finish = "length"
    elif resp.status == "completed":
        out.finish = "tool_calls" if out.tool_calls else "stop"
    else:
        out.finish = str(resp.status)
    if resp.usage is not None:
        out.prompt_tokens, out.completion_tokens = resp.usage.input_tokens, resp.usage.output_tokens
        out.cached_tokens = resp.usage.input_tokens_details.cached_tokens
    return out


DRIVERS: Final[dict[str, Callable[[str, str, str, bool], Parsed]]] = {
    "openai_chat": chat,
    "anthropic_messages": messages,
    "openai_responses": responses,
}
ERRORS: Final[dict[str, type[Exception]]] = {
    "openai_chat": openai.BadRequestError,
    "anthropic_messages": anthropic.BadRequestError,
    "openai_responses": openai.BadRequestError,
}
