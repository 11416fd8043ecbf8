"""Token usage as each API reports it, read into one shape.

OpenAI Chat: `usage.{prompt_tokens, completion_tokens, prompt_tokens_details.cached_tokens}`;
OpenAI Responses: `usage.{input_tokens, output_tokens, input_tokens_details.cached_tokens}` (also
nested under `response` in stream events); Anthropic Messages: `usage.{input_tokens,
output_tokens, cache_read_input_tokens, cache_creation_input_tokens}` (in `message` for
`message_start`). As in the IR, `prompt` is the whole input: Anthropic's `input_tokens` counts
only the uncached part, so its cache reads and writes are added to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Usage:
    prompt: int | None = None
    completion: int | None = None
    cached: int | None = None
    cache_write: int | None = None  # prompt tokens written to the provider's cache (Anthropic)

    def merge(self, other: Usage) -> None:
        """Later reports win field by field (Anthropic splits input and output over events)."""
        if other.prompt is not None:
            self.prompt = other.prompt
        if other.completion is not None:
            self.completion = other.completion
        if other.cached is not None:
            self.cached = other.cached
        if other.cache_write is not None:
            self.cache_write = other.cache_write


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


def usage_of(doc: Any) -> Usage | None:
    """The usage block of a response body or stream event, if it has one."""
    if type(doc) is not dict:
        return None
    usage = doc.get("usage")
    if type(usage) is not dict:
        for key in ("response", "message"):  # Responses stream events, Anthropic message_start
            inner = doc.get(key)
            if type(inner) is dict and type(inner.get("usage")) is dict:
                usage = inner["usage"]
                break
        else:
            return None
    prompt = _int(usage.get("prompt_tokens", usage.get("input_tokens")))
    completion = _int(usage.get("completion_tokens", usage.get("output_tokens")))
    details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details")
    cached = _int(details.get("cached_tokens")) if type(details) is dict else None
    write = None
    if cached is None and (
        "cache_read_input_tokens" in usage or "cache_creation_input_tokens" in usage
    ):
        cached = _int(usage.get("cache_read_input_tokens"))
        write = _int(usage.get("cache_creation_input_tokens"))
        if prompt is not None:  # Anthropic: input_tokens leaves the cached part out
            prompt += (cached or 0) + (write or 0)
    if prompt is None and completion is None and cached is None:
        return None
    return Usage(prompt, completion, cached, write)
