"""The hub's canonical model: one request, response and stream-event shape for every API.

Each client or upstream API has one translator to and from this model (`plano.translate.<api>`),
so N APIs need N translators rather than N² pairs. The model is plain data: slotted dataclasses,
no I/O, no validation beyond what the types say. Translators validate what they read and raise
`plano.errors.BadRequest` (client side) or `plano.errors.UpstreamProtocolError` (upstream side).

Conventions every translator follows:

- **Roles.** `system` (OpenAI `developer` too, with `Message.developer=True`), `user`, `assistant`,
  `tool`. System messages stay where the client put them; APIs with a single system field hoist
  them. Tool results are `tool` messages, one `ToolResult` part each; APIs that carry tool results
  inside a user turn (Anthropic, Gemini, Bedrock) merge and split them on the way through.
- **Tool-call arguments** are JSON *text* (`ToolCall.arguments`), never parsed dicts, so that what
  a model streamed arrives byte for byte; translators parse only when the target API wants an
  object (Anthropic `input`, Gemini `args`, Bedrock `input`). Empty arguments are `"{}"`.
- **Stream events** follow the richest lifecycle (Anthropic's): `MessageStart`, then for each
  content block `BlockStart`, deltas, `BlockStop`, then `MessageDelta` (stop reason, final usage)
  and `MessageStop`. Block indexes count from 0 in the order blocks start. Decoders synthesise
  missing steps (an OpenAI stream has no block events), encoders drop what their API lacks.
  `StreamError` ends a stream that failed upstream; nothing follows it.
- **Usage** counts are `None` when the upstream did not say; `input` excludes nothing
  (cached tokens are a subset, reported again in `cache_read`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias


class StopReason(enum.Enum):
    END_TURN = "end_turn"  # natural end (OpenAI "stop", Gemini STOP, Bedrock end_turn)
    MAX_TOKENS = "max_tokens"  # OpenAI "length", Gemini MAX_TOKENS
    STOP_SEQUENCE = "stop_sequence"  # OpenAI "stop" as well; Anthropic tells them apart
    TOOL_USE = "tool_use"  # OpenAI "tool_calls", Gemini STOP with functionCall parts
    CONTENT_FILTER = "content_filter"  # OpenAI "content_filter", Gemini SAFETY/RECITATION/...
    REFUSAL = "refusal"  # Anthropic "refusal"
    PAUSE = "pause_turn"  # Anthropic server-tool pause
    ERROR = "error"  # upstream reported a failure inside a successful response


Role: TypeAlias = Literal["system", "user", "assistant", "tool"]


# --- content parts -----------------------------------------------------------------------------


@dataclass(slots=True)
class Text:
    text: str
    # Anthropic prompt-caching marker ({"type": "ephemeral", ...}) kept across translation.
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class Image:
    """An image by URL, or inline as base64 `data` with its `media_type` (e.g. image/png)."""

    url: str | None = None
    data: str | None = None
    media_type: str | None = None
    detail: str | None = None  # OpenAI "low" | "high" | "auto"


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str = "{}"  # JSON text, exactly as the model produced it


@dataclass(slots=True)
class ToolResult:
    tool_call_id: str
    content: list[Text | Image] = field(default_factory=list)
    is_error: bool = False
    name: str | None = None  # Gemini functionResponse needs the function name


@dataclass(slots=True)
class Thinking:
    """Reasoning text. `signature` (Anthropic) or `redacted` data must be returned verbatim."""

    text: str = ""
    signature: str | None = None
    redacted: str | None = None  # Anthropic redacted_thinking `data`


@dataclass(slots=True)
class Refusal:
    text: str


Part: TypeAlias = Text | Image | ToolCall | ToolResult | Thinking | Refusal


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Part] = field(default_factory=list)
    name: str | None = None  # OpenAI participant name
    developer: bool = False  # an OpenAI `developer` message (role is "system")


# --- request -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None = None
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None
    cache_control: dict[str, Any] | None = None


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"] = "auto"
    name: str | None = None  # for mode "tool"


@dataclass(slots=True)
class Reasoning:
    """What the client asked of the model's reasoning, in both styles (set what you know)."""

    effort: str | None = None  # OpenAI "minimal" | "low" | "medium" | "high"
    budget_tokens: int | None = None  # Anthropic thinking budget / Gemini thinkingBudget
    enabled: bool = True  # Anthropic {"type": "disabled"} -> False
    summary: str | None = None  # Responses reasoning.summary

    def openai_effort(self) -> str | None:
        """The OpenAI-style effort to ask for: the given one, else one derived from an
        Anthropic/Gemini budget (under 4096 tokens low, under 16384 medium, else high)."""
        if not self.enabled:
            return None
        if self.effort or self.budget_tokens is None:
            return self.effort
        if self.budget_tokens < 4096:
            return "low"
        return "medium" if self.budget_tokens < 16384 else "high"


@dataclass(slots=True)
class Request:
    model: str
    messages: list[Message] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    reasoning: Reasoning | None = None
    # OpenAI response_format ({"type": "json_schema", "json_schema": {...}} or json_object)
    response_format: dict[str, Any] | None = None
    user: str | None = None  # end-user id (OpenAI user, Anthropic metadata.user_id)
    metadata: dict[str, Any] | None = None
    # Responses API only: the conversation this request continues, and whether to store it.
    previous_response_id: str | None = None
    store: bool | None = None
    # OpenAI chat `stream_options.include_usage`: the client wants a final usage chunk. Needed by
    # the chat stream encoder, which only sends that chunk when asked (as OpenAI does).
    stream_usage: bool = False


# --- response ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Usage:
    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None

    def merge(self, other: Usage) -> None:
        """Later reports win field by field (Anthropic splits usage over events)."""
        for name in ("input", "output", "cache_read", "cache_write", "reasoning"):
            value = getattr(other, name)
            if value is not None:
                setattr(self, name, value)

    @property
    def total(self) -> int | None:
        if self.input is None and self.output is None:
            return None
        return (self.input or 0) + (self.output or 0)


@dataclass(slots=True)
class Response:
    id: str
    model: str
    content: list[Part] = field(default_factory=list)  # Text | ToolCall | Thinking | Refusal
    stop_reason: StopReason = StopReason.END_TURN
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    created: int | None = None  # unix seconds


# --- stream events -----------------------------------------------------------------------------


@dataclass(slots=True)
class MessageStart:
    id: str
    model: str
    usage: Usage = field(default_factory=Usage)  # input tokens if known up front
    created: int | None = None


BlockKind: TypeAlias = Literal["text", "tool_call", "thinking", "refusal"]


@dataclass(slots=True)
class BlockStart:
    index: int
    kind: BlockKind
    tool_call_id: str | None = None  # kind == "tool_call"
    tool_name: str | None = None


@dataclass(slots=True)
class TextDelta:
    index: int
    text: str


@dataclass(slots=True)
class TextRun:
    """Consecutive text deltas of one block, each its own event for the client: what a stream
    decoder reads at once from a run of identically framed upstream events when asked for runs
    (`runs=True`). `literals`, when set, are the texts' JSON string literals as the upstream
    sent them, byte for byte what `orjson.dumps` makes of each text: an encoder may copy them."""

    index: int
    texts: list[str]
    literals: list[bytes] | None = None


@dataclass(slots=True)
class ToolArgsDelta:
    index: int
    partial_json: str


@dataclass(slots=True)
class ThinkingDelta:
    index: int
    text: str = ""
    signature: str | None = None  # Anthropic signature_delta
    redacted: str | None = None  # a whole redacted_thinking block arrives as one delta


@dataclass(slots=True)
class RefusalDelta:
    index: int
    text: str


@dataclass(slots=True)
class BlockStop:
    index: int


@dataclass(slots=True)
class MessageDelta:
    stop_reason: StopReason | None = None
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)


@dataclass(slots=True)
class MessageStop:
    pass


@dataclass(slots=True)
class StreamError:
    """The upstream failed mid-stream; `status` is the HTTP status it would have had."""

    message: str
    status: int = 502
    type: str = "api_error"


Event: TypeAlias = (
    MessageStart
    | BlockStart
    | TextDelta
    | TextRun
    | ToolArgsDelta
    | ThinkingDelta
    | RefusalDelta
    | BlockStop
    | MessageDelta
    | MessageStop
    | StreamError
)

__all__ = [
    "BlockKind",
    "BlockStart",
    "BlockStop",
    "Event",
    "Image",
    "Message",
    "MessageDelta",
    "MessageStart",
    "MessageStop",
    "Part",
    "Reasoning",
    "Refusal",
    "RefusalDelta",
    "Request",
    "Response",
    "Role",
    "StopReason",
    "StreamError",
    "Text",
    "TextDelta",
    "TextRun",
    "Thinking",
    "ThinkingDelta",
    "Tool",
    "ToolArgsDelta",
    "ToolCall",
    "ToolChoice",
    "ToolResult",
    "Usage",
]
