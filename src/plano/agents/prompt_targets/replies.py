"""What the prompt listener answers, as the original shapes it: the final LLM request (system
prompt, history, the API result as context), the `metadata` of a JSON answer, the two chunks
prepended to a stream, a clarification, an endpoint's answer returned as it is."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any, Final

import orjson

from plano.agents.prompt_targets.answer import ToolCall

FC_MODEL: Final = "Arch-Function"
FC_CHAT_MODEL: Final = "Arch-Function-Chat"
STATE_KEY: Final = "x-arch-state"
_DROPPED: Final = frozenset({"tools", "tool_choice", "parallel_tool_calls", "metadata", "model"})


def _id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def last_user_index(messages: Sequence[Any]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        m = messages[i]
        if isinstance(m, dict) and m.get("role") == "user":
            return i
    return -1


def state_messages(metadata: object) -> list[Any]:
    """The messages an earlier answer carried in `metadata["x-arch-state"]` (none when absent or
    unreadable)."""
    if not isinstance(metadata, dict):
        return []
    raw = metadata.get(STATE_KEY)
    try:
        state = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        inner = state.get("messages") if isinstance(state, dict) else None
        messages = orjson.loads(inner) if isinstance(inner, str | bytes) else inner
    except orjson.JSONDecodeError:
        return []
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, dict) and m.get("role") in ("assistant", "tool")]


def with_state(messages: list[Any], state: list[Any]) -> list[Any]:
    """The state's messages joined in before the last user message."""
    if not state:
        return messages
    i = last_user_index(messages)
    return [*messages[:i], *state, *messages[i:]] if i >= 0 else [*messages, *state]


def llm_request(
    base: dict[str, Any],
    messages: Sequence[Any],
    model: str,
    system_prompt: str | None,
    context: str | None,
) -> dict[str, Any]:
    """The final LLM's request: the client's parameters (no tools), `model` set, the system
    prompt first, the history without tool traffic, the last user message with the context."""
    kept: list[Any] = []
    for m in messages:
        if not isinstance(m, dict):
            continue
        role = m.get("role")
        if role == "tool" or m.get("tool_calls") or m.get("content") in (None, "", []):
            continue
        if role == "system" and system_prompt is not None:
            continue
        kept.append(m)
    if context is not None:
        i = last_user_index(kept)
        if i >= 0:
            text = _content_text(kept[i].get("content"))
            kept[i] = {**kept[i], "content": f"{text}\ncontext: {context}"}
    if system_prompt is not None:
        kept.insert(0, {"role": "system", "content": system_prompt})
    out = {k: v for k, v in base.items() if k not in _DROPPED}
    out["model"] = model
    out["messages"] = kept
    return out


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def tool_call_message(call: ToolCall, raw: str) -> dict[str, Any]:
    args = call.arguments if isinstance(call.arguments, str) else orjson.dumps(call.arguments)
    arguments = args.decode() if isinstance(args, bytes) else args
    return {
        "role": "assistant",
        "model": FC_MODEL,
        "content": raw,
        "tool_calls": [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments},
            }
        ],
    }


def api_message(call: ToolCall, body: str) -> dict[str, Any]:
    return {"role": "tool", "content": body, "tool_call_id": call.id}


def metadata(call: ToolCall | None, raw: str, api_body: str | None) -> dict[str, str]:
    """The `metadata` of a JSON answer (string values, as OpenAI's `metadata` is)."""
    out = {"x-arch-fc-model-response": raw}
    if call is not None and api_body is not None:
        tool_msg, api_msg = tool_call_message(call, raw), api_message(call, api_body)
        out["x-arch-tool-call-message"] = orjson.dumps(tool_msg).decode()
        out["x-arch-api-response-message"] = orjson.dumps(api_msg).decode()
        state = {"messages": orjson.dumps([tool_msg, api_msg]).decode()}
        out[STATE_KEY] = orjson.dumps(state).decode()
    return out


def enrich(body: bytes, meta: dict[str, str]) -> bytes:
    """A JSON chat completion with `meta` added to its `metadata` (other bodies unchanged)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if not isinstance(doc, dict) or "choices" not in doc:
        return body
    existing = doc.get("metadata")
    doc["metadata"] = {**(existing if isinstance(existing, dict) else {}), **meta}
    return orjson.dumps(doc)


def chunk(model: str, delta: dict[str, Any], finish: str | None = None, cid: str = "") -> bytes:
    doc = {
        "id": cid or _id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(doc) + b"\n\n"


DONE: Final = b"data: [DONE]\n\n"


def prepended_chunks(call: ToolCall, raw: str, api_body: str) -> bytes:
    """The two chunks before the LLM's stream: the tool call, then the API's answer."""
    tool_msg = tool_call_message(call, raw)
    first = {"role": "assistant", "content": raw, "tool_calls": _indexed(tool_msg["tool_calls"])}
    second = {"role": "tool", "content": api_body, "tool_call_id": call.id}
    return chunk(FC_MODEL, first) + chunk(FC_MODEL, second)


def _indexed(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"index": i, **c} for i, c in enumerate(calls)]


def completion(model: str, content: str, meta: dict[str, str] | None = None) -> bytes:
    doc: dict[str, Any] = {
        "id": _id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
    }
    if meta:
        doc["metadata"] = meta
    return orjson.dumps(doc)


def clarification_stream(raw: str, text: str) -> bytes:
    """A clarification streamed as the original does: the model's raw answer, then the text."""
    cid = _id()
    first = chunk(FC_MODEL, {"role": "assistant", "content": raw}, cid=cid)
    return first + chunk(FC_CHAT_MODEL, {"content": text}, "stop", cid) + DONE


def api_answer(body: bytes) -> tuple[str, str]:
    """An endpoint's answer as (model, text): a chat completion's model and content, or the
    body itself as text under the Arch-Function name."""
    try:
        doc = orjson.loads(body)
        message = doc["choices"][0]["message"]
        content = message.get("content")
        model = doc.get("model")
        if isinstance(content, str):
            return (model if isinstance(model, str) else FC_MODEL), content
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        pass
    return FC_MODEL, body.decode("utf-8", "replace")


def is_completion(body: bytes) -> bool:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return isinstance(doc, dict) and isinstance(doc.get("choices"), list)


def api_stream(body: bytes) -> bytes:
    """An endpoint's answer streamed as the original does: two chunks, then `[DONE]`."""
    model, text = api_answer(body)
    cid = _id()
    return (
        chunk(model, {"role": "assistant", "content": ""}, cid=cid)
        + chunk(model, {"content": text}, "stop", cid)
        + DONE
    )
