"""Reply specs, where they come from, and the FIFO script queue.

A reply spec says how the mock answers one request. Every field is optional; an unset field
(``None``) falls through to the next source, field by field, in this order of precedence:

1. the first scripted spec in the queue that matches the request (``POST /_mock/script``,
   :meth:`plano.mock.MockLLM.script`): consumed by the request (``times`` requests, 0 = forever);
2. ``x-mock-*`` request headers (so a client can drive the mock through a gateway);
3. the server defaults (``plano mock-llm`` options / :class:`plano.mock.MockLLM` arguments).

One exception: a level that sets ``tool_calls`` without ``text`` does not inherit ``text`` from
the levels below it, so a tool-call reply has ``content: null`` unless that level asks for text.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from enum import StrEnum
from typing import Any, Final

import orjson


class Fault(StrEnum):
    DISCONNECT_BEFORE_RESPONSE = "disconnect_before_response"
    DISCONNECT_MID_STREAM = "disconnect_mid_stream"
    MALFORMED_CHUNK = "malformed_chunk"
    HANG = "hang"
    SLOW_DRIP = "slow_drip"
    ERROR_EVENT = "error_event"
    # Stream faults for mid-stream failover (see `plano.mock.faults`).
    STALL_MID_STREAM = "stall_mid_stream"
    NO_DONE = "no_done"
    REJECT_PREFILL = "reject_prefill"


class SpecError(ValueError):
    """A reply spec (JSON or header) that cannot be used; the message names the field."""


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    name: str
    arguments: str  # JSON text, as the wire carries it


@dataclass(frozen=True, slots=True)
class ReplySpec:
    """How to answer one request; ``None`` means "not set here" (see the module doc)."""

    status: int | None = None
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] | None = None
    text: str | None = None
    chunks: int | None = None
    chunk_delay_ms: float | None = None
    first_byte_delay_ms: float | None = None
    tool_calls: tuple[ToolCallSpec, ...] | None = None
    finish_reason: str | None = None
    usage: tuple[int, int] | None = None  # (prompt_tokens, completion_tokens)
    cached_tokens: int | None = None  # prompt tokens served from the provider's cache
    cache_write_tokens: int | None = None  # prompt tokens written to it (Anthropic's usage only)
    thinking: str | None = None  # reasoning text, sent before the answer where the API has it
    retry_after: str | None = None
    fault: Fault | None = None
    fault_after_chunks: int | None = None
    message: str | None = None  # error message for a non-2xx status
    model: str | None = None  # scripted specs only: match requests for this model
    times: int = 1  # scripted specs only: requests it answers; 0 = every matching request

    def over(self, lower: ReplySpec) -> ReplySpec:
        """This spec with its unset fields taken from ``lower``."""
        changes: dict[str, Any] = {}
        for name in _MERGED:
            if getattr(self, name) is None:
                value = getattr(lower, name)
                if value is not None:
                    changes[name] = value
        if self.tool_calls is not None and self.text is None:
            changes.pop("text", None)
        return replace(self, **changes) if changes else self

    @property
    def needs_async(self) -> bool:
        """True when answering takes timers or faults (not one synchronous write)."""
        return bool(self.fault or self.chunk_delay_ms or self.first_byte_delay_ms)

    @classmethod
    def from_json(cls, obj: object) -> ReplySpec:
        """Parse a JSON reply spec; unknown keys and wrong types raise :class:`SpecError`."""
        if not isinstance(obj, Mapping):
            raise SpecError("a reply spec must be a JSON object")
        unknown = set(obj) - _FIELDS
        if unknown:
            raise SpecError(f"unknown reply spec field(s): {', '.join(sorted(unknown))}")
        kw: dict[str, Any] = {}
        for key, value in obj.items():
            if value is not None:
                kw[key] = _PARSERS[key](key, value)
        return cls(**kw)

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> ReplySpec | None:
        """The spec carried by ``x-mock-*`` headers, or ``None`` if there are none."""
        kw: dict[str, Any] = {}
        for header, key in _HEADERS.items():
            value = headers.get(header)
            if value is not None:
                raw: object = _json_value(header, value) if key == "tool_calls" else value
                kw[key] = _PARSERS[key](header, raw)
        return cls(**kw) if kw else None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None or (f.name == "times" and value == 1):
                continue
            if f.name == "body":
                value = value.decode("utf-8", "replace")
            elif f.name == "headers":
                value = dict(value)
            elif f.name == "tool_calls":
                value = [{"name": t.name, "arguments": t.arguments} for t in value]
            elif f.name == "usage":
                value = {"prompt_tokens": value[0], "completion_tokens": value[1]}
            out[f.name] = value
        return out


class ScriptQueue:
    """Scripted specs, first in first out; each answers the first requests that match it."""

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: deque[list[Any]] = deque()  # [spec, remaining uses or 0 for forever]

    def __len__(self) -> int:
        return len(self._items)

    def extend(self, specs: Iterable[ReplySpec]) -> int:
        n = len(self._items)
        self._items.extend([spec, spec.times] for spec in specs)
        return len(self._items) - n

    def take(self, model: str | None) -> ReplySpec | None:
        """Consume one use of the first spec matching ``model``."""
        for item in self._items:
            spec: ReplySpec = item[0]
            if spec.model is None or spec.model == model:
                if item[1] == 1:
                    self._items.remove(item)
                elif item[1] > 1:
                    item[1] -= 1
                return spec
        return None

    def clear(self) -> int:
        n = len(self._items)
        self._items.clear()
        return n

    def pending(self) -> list[ReplySpec]:
        return [item[0] for item in self._items]


def parse_script(obj: object) -> list[ReplySpec]:
    """A JSON list of reply specs (a single object is a list of one)."""
    items = obj if isinstance(obj, list) else [obj]
    specs = []
    for i, item in enumerate(items):
        try:
            specs.append(ReplySpec.from_json(item))
        except SpecError as exc:
            raise SpecError(f"spec {i}: {exc}") from None
    return specs


# --- field parsers ----------------------------------------------------------------------------


def _int(name: str, value: object, low: int = 0) -> int:
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise SpecError(f"{name}: expected an integer, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SpecError(f"{name}: expected an integer >= {low}, got {value!r}")
    return value


def _ms(name: str, value: object) -> float:
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise SpecError(f"{name}: expected milliseconds, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
        raise SpecError(f"{name}: expected milliseconds >= 0, got {value!r}")
    return float(value)


def _str(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{name}: expected a string, got {value!r}")
    return value


def _status(name: str, value: object) -> int:
    status = _int(name, value, 100)
    if status > 599:
        raise SpecError(f"{name}: expected an HTTP status, got {value!r}")
    return status


def _body(name: str, value: object) -> bytes:
    return value.encode() if isinstance(value, str) else orjson.dumps(value)


def _headers(name: str, value: object) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise SpecError(f"{name}: expected an object of strings")
    for k, v in value.items():
        if any(c in str(k) + v for c in "\r\n\x00"):
            raise SpecError(f"{name}: header {k!r} contains a line break")
    return tuple((str(k), v) for k, v in value.items())


def _tool_calls(name: str, value: object) -> tuple[ToolCallSpec, ...]:
    if not isinstance(value, list):
        raise SpecError(f"{name}: expected a list of {{name, arguments}}")
    calls = []
    for call in value:
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise SpecError(f"{name}: each tool call needs a string 'name'")
        args = call.get("arguments", {})
        text = args if isinstance(args, str) else orjson.dumps(args).decode()
        calls.append(ToolCallSpec(call["name"], text))
    return tuple(calls)


def _usage(name: str, value: object) -> tuple[int, int]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{name}: expected {{prompt_tokens, completion_tokens}}")
    return (
        _int(f"{name}.prompt_tokens", value.get("prompt_tokens", 0)),
        _int(f"{name}.completion_tokens", value.get("completion_tokens", 0)),
    )


def _fault(name: str, value: object) -> Fault:
    try:
        return Fault(_str(name, value))
    except ValueError:
        choices = ", ".join(f.value for f in Fault)
        raise SpecError(f"{name}: unknown fault {value!r} (one of: {choices})") from None


def _retry_after(name: str, value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return _str(name, value)


def _json_value(name: str, value: str) -> object:
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        raise SpecError(f"{name}: not valid JSON") from None


_PARSERS: Final[dict[str, Any]] = {
    "status": _status,
    "body": _body,
    "headers": _headers,
    "text": _str,
    "chunks": lambda n, v: _int(n, v, 1),
    "chunk_delay_ms": _ms,
    "first_byte_delay_ms": _ms,
    "tool_calls": _tool_calls,
    "finish_reason": _str,
    "usage": _usage,
    "cached_tokens": _int,
    "cache_write_tokens": _int,
    "thinking": _str,
    "retry_after": _retry_after,
    "fault": _fault,
    "fault_after_chunks": _int,
    "message": _str,
    "model": _str,
    "times": _int,
}
_FIELDS: Final = frozenset(f.name for f in fields(ReplySpec))
_MERGED: Final = tuple(f.name for f in fields(ReplySpec) if f.name not in ("model", "times"))
_HEADERS: Final = {
    "x-mock-status": "status",
    "x-mock-text": "text",
    "x-mock-chunks": "chunks",
    "x-mock-chunk-delay-ms": "chunk_delay_ms",
    "x-mock-first-byte-delay-ms": "first_byte_delay_ms",
    "x-mock-fault": "fault",
    "x-mock-fault-after-chunks": "fault_after_chunks",
    "x-mock-retry-after": "retry_after",
    "x-mock-tool-calls": "tool_calls",
    "x-mock-finish-reason": "finish_reason",
    "x-mock-error-message": "message",
    "x-mock-thinking": "thinking",
    "x-mock-cached-tokens": "cached_tokens",
    "x-mock-cache-write-tokens": "cache_write_tokens",
}
"""Request headers that carry reply directives, and the spec field each one sets."""
