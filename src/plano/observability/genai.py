"""OpenTelemetry GenAI semantic conventions (`gen_ai.*`) on the model listener's request spans.

Beside the original's `llm.*` names, the request span of an LLM call carries the GenAI names so
GenAI-aware backends show it without a mapping: what depends only on the span's shared key
(operation, provider, request model) is added where the span's shared part is encoded once
(`head_attributes`, cached with it); what changes per request (request parameters, response id
and model, finish reasons, conversation id) is noted on the record (`RequestRecord.gen_ai`) by
the listener, and only for sampled spans (`sampled`): an unsampled request does no GenAI work.

Values follow the GenAI conventions (development status, v1.37+): operation `chat` (OpenAI
chat, Anthropic messages, OpenAI Responses, Bedrock Converse), `generate_content` (Gemini),
`text_completion`, `embeddings`; the provider's well-known name where the conventions have one
(`gcp.gemini`, `aws.bedrock`, `azure.ai.openai`, `x_ai`, `mistral_ai`...), else the gateway's
provider prefix.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import orjson

from plano.codec.sse_scan import event_data, split_events
from plano.observability import names as n

if TYPE_CHECKING:
    from plano.observability.record import RequestRecord

# The gateway's provider prefixes whose GenAI well-known name differs or exists.
PROVIDER_NAMES: Final = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure_openai": "azure.ai.openai",
    "amazon_bedrock": "aws.bedrock",
    "gemini": "gcp.gemini",
    "groq": "groq",
    "mistral": "mistral_ai",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
}
_OPERATION_BY_API: Final = {"gemini": n.GEN_AI_GENERATE_CONTENT}
# Request keys of the client dialects: max tokens, temperature, top_p (Gemini nests them in
# `generationConfig`).
_MAX_TOKENS_KEYS: Final = ("max_tokens", "max_completion_tokens", "max_output_tokens")
_GEMINI_KEYS: Final = (
    ("maxOutputTokens", n.ATTR_GEN_AI_MAX_TOKENS),
    ("temperature", n.ATTR_GEN_AI_TEMPERATURE),
    ("topP", n.ATTR_GEN_AI_TOP_P),
)
# A finish reason in a streamed event: OpenAI chat, Anthropic, Gemini (Bedrock streams are
# translated, and the Responses API's end is its `status`, read from the final event).
_FINISH: Final = re.compile(rb'"(?:finish_reason|stop_reason|finishReason)"\s*:\s*"([^"]{1,64})"')
_MAX_REASONS: Final = 8
_REASON: Final = b'eason":"'  # finish_reason, stop_reason, finishReason with a string value
_REASON_SPACED: Final = b'eason": "'
_COMPLETED: Final = b'"response.completed"'
_INCOMPLETE: Final = b'"response.incomplete"'


def sampled(record: RequestRecord) -> bool:
    """Whether the request's span is sampled (only then is GenAI detail noted)."""
    return record.span.__class__ is tuple


def operation_name(path: str, client_api: str | None) -> str:
    """`gen_ai.operation.name` of a model-listener request."""
    if path.endswith("/embeddings"):
        return n.GEN_AI_EMBEDDINGS
    if path.endswith("/v1/completions"):
        return n.GEN_AI_TEXT_COMPLETION
    return _OPERATION_BY_API.get(client_api or "", n.GEN_AI_CHAT)


def provider_name(provider: str) -> str:
    """`gen_ai.provider.name`: the conventions' well-known value, else the gateway's prefix."""
    return PROVIDER_NAMES.get(provider, provider)


def request_model(r: RequestRecord) -> str | None:
    """`gen_ai.request.model`: the model id the gateway asked the provider for (an alias or a
    routing decision resolved; the client's name is `model.requested`)."""
    if r.upstream_model:
        return r.upstream_model
    if r.model:
        return r.model.split("/", 1)[1] if "/" in r.model else r.model
    return r.requested_model


def head_attributes(r: RequestRecord, into: dict[str, Any]) -> None:
    """The GenAI attributes that depend only on a span's shared key (LLM calls only)."""
    if not r.model or r.listener_type != "model":
        return
    into[n.ATTR_GEN_AI_OPERATION] = operation_name(r.path, r.client_api)
    if r.provider:
        into[n.ATTR_GEN_AI_PROVIDER] = provider_name(r.provider)
    model = request_model(r)
    if model:
        into[n.ATTR_GEN_AI_REQUEST_MODEL] = model


def genai_span_name(r: RequestRecord) -> str | None:
    """`{gen_ai.operation.name} {gen_ai.request.model}` (`tracing.span_names: genai`), or None
    for a request that is not an LLM call (it keeps the gateway's name)."""
    if not r.model or r.listener_type != "model":
        return None
    model = request_model(r)
    op = operation_name(r.path, r.client_api)
    return f"{op} {model}" if model else op


def _gen_ai(record: RequestRecord) -> dict[str, Any]:
    found = record.gen_ai
    if found is None:
        found = record.gen_ai = {}
    return found


def note_request(record: RequestRecord, doc: dict[str, Any]) -> None:
    """Request parameters and conversation id from the client's request body (sampled only)."""
    out = _gen_ai(record)
    for key in _MAX_TOKENS_KEYS:
        value = doc.get(key)
        if type(value) is int:
            out[n.ATTR_GEN_AI_MAX_TOKENS] = value
            break
    for key, name in (("temperature", n.ATTR_GEN_AI_TEMPERATURE), ("top_p", n.ATTR_GEN_AI_TOP_P)):
        value = doc.get(key)
        if type(value) is int or type(value) is float:
            out[name] = float(value)
    config = doc.get("generationConfig")
    if isinstance(config, dict):
        for key, name in _GEMINI_KEYS:
            value = config.get(key)
            if type(value) is int or type(value) is float:
                out[name] = value if name == n.ATTR_GEN_AI_MAX_TOKENS else float(value)
    conversation = doc.get("conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if not isinstance(conversation, str) or not conversation:
        conversation = doc.get("previous_response_id")
    if isinstance(conversation, str) and conversation:
        out[n.ATTR_GEN_AI_CONVERSATION_ID] = conversation


def note_response(
    record: RequestRecord,
    response_id: str | None,
    model: str | None,
    reasons: list[str] | tuple[str, ...] = (),
) -> None:
    """What the answer said about itself (any dialect, decoded by the caller)."""
    out = _gen_ai(record)
    if response_id:
        out[n.ATTR_GEN_AI_RESPONSE_ID] = response_id
    if model:
        out[n.ATTR_GEN_AI_RESPONSE_MODEL] = model
    if reasons:
        out[n.ATTR_GEN_AI_FINISH_REASONS] = tuple(reasons[:_MAX_REASONS])


def response_meta(doc: Any) -> tuple[str | None, str | None, list[str]]:
    """(id, model, finish reasons) of a whole answer or a stream's first/last event, in the
    OpenAI chat / Responses, Anthropic or Gemini shape."""
    if not isinstance(doc, dict):
        return None, None, []
    inner = doc.get("message") or doc.get("response")  # Anthropic message_start, Responses events
    if isinstance(inner, dict) and ("id" in inner or "model" in inner):
        doc = inner
    rid = doc.get("id") or doc.get("responseId")
    model = doc.get("model") or doc.get("modelVersion")
    reasons: list[str] = []
    choices = doc.get("choices") or doc.get("candidates")
    if isinstance(choices, list):
        for c in choices:
            if isinstance(c, dict):
                reason = c.get("finish_reason") or c.get("finishReason")
                if isinstance(reason, str):
                    reasons.append(reason)
    stop = doc.get("stop_reason")
    if isinstance(stop, str):
        reasons.append(stop)
    status = doc.get("status")
    if not reasons and doc.get("object") == "response" and isinstance(status, str):
        details = doc.get("incomplete_details")
        why = details.get("reason") if isinstance(details, dict) else None
        reasons.append(why if isinstance(why, str) else status)
    return (
        rid if isinstance(rid, str) else None,
        model if isinstance(model, str) else None,
        reasons,
    )


def note_whole(record: RequestRecord, doc: Any) -> None:
    """A whole (non-streamed) answer's id, model and finish reasons (sampled only)."""
    rid, model, reasons = response_meta(doc)
    note_response(record, rid, model, reasons)


class StreamMeta:
    """A relayed stream's id, model (its first event with data) and finish reasons (found by a
    pattern in each block; the Responses API's from its final event). Made only for sampled
    requests; `feed` gets the complete events the relay sends."""

    __slots__ = ("_first", "_last", "_responses", "reasons")

    def __init__(self) -> None:
        self._first: tuple[str | None, str | None] | None = None
        self._last = b""
        self._responses = False  # a Responses API stream (its end is `response.completed`)
        self.reasons: list[str] = []

    def feed(self, block: bytes) -> None:
        if self._first is None:
            for event in split_events(block):
                data = event_data(event)
                if data and data.startswith(b"{"):
                    try:
                        doc = orjson.loads(data)
                    except orjson.JSONDecodeError:
                        continue
                    rid, model, _ = response_meta(doc)
                    self._first = (rid, model)
                    kind = doc.get("type") if isinstance(doc, dict) else None
                    self._responses = isinstance(kind, str) and kind.startswith("response.")
                    break
        # A reason as a string (not null): two scans per block, the pattern only where one is.
        if _REASON in block or _REASON_SPACED in block:
            for m in _FINISH.finditer(block):
                if len(self.reasons) < _MAX_REASONS:
                    self.reasons.append(m.group(1).decode("utf-8", "replace"))
        if self._responses and (_COMPLETED in block or _INCOMPLETE in block):
            self._last = block

    def note(self, record: RequestRecord) -> None:
        rid, model = self._first or (None, None)
        reasons = self.reasons
        if not reasons and self._last:
            for event in split_events(self._last):
                data = event_data(event)
                if data and b'"response.' in data:
                    try:
                        _, _, found = response_meta(orjson.loads(data))
                    except orjson.JSONDecodeError:
                        continue
                    reasons = found or reasons
        note_response(record, rid, model, reasons)
