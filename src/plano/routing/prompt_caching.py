"""`prompt_caching`: cache-control markers for providers whose prompt cache needs them.

When `prompt_caching.enabled` and `inject_cache_control`, the client did not turn it off
(`X-Plano-Cache: off`) and placed no markers itself, and the prompt is long enough (estimated
tokens >= max(`min_prefix_tokens`, 1024)):

- Anthropic Messages upstream: `cache_control: {type: ephemeral}` on the system prompt (a string
  becomes one text block; else its last block; with no system prompt, the last tool), and on the
  last block of the last message;
- Chat Completions upstream serving an Anthropic-family model (`claude` / `anthropic` in its
  name) through a proxy that passes markers on (DigitalOcean, OpenRouter, EdenAI): on the last
  text part of the first system/developer message (else the first message);
- every other upstream caches automatically or not at all: nothing is added.

Markers are added only when the body goes upstream in the client's own API (no translation).
"""

from __future__ import annotations

from typing import Any, Final

from plano.providers.catalogue import Api

MIN_TOKENS: Final = 1024
_MARK: Final = {"type": "ephemeral"}
_MARKER_PROXIES: Final = frozenset({"digitalocean", "openrouter", "edenai"})


def has_markers(value: Any) -> bool:
    """True if the client already placed a `cache_control` anywhere in the body."""
    if isinstance(value, dict):
        return "cache_control" in value or any(has_markers(v) for v in value.values())
    if isinstance(value, list):
        return any(has_markers(v) for v in value)
    return False


def _mark_content(holder: dict[str, Any], key: str) -> bool:
    content = holder.get(key)
    if isinstance(content, str):
        holder[key] = [{"type": "text", "text": content, "cache_control": dict(_MARK)}]
        return True
    if isinstance(content, list) and content and isinstance(content[-1], dict):
        content[-1]["cache_control"] = dict(_MARK)
        return True
    return False


def inject(doc: dict[str, Any], upstream_api: Api, provider: str, model_id: str) -> bool:
    """Add the markers this upstream needs; True when the body changed."""
    if upstream_api is Api.ANTHROPIC_MESSAGES:
        return _anthropic(doc)
    if upstream_api is Api.OPENAI_CHAT and provider in _MARKER_PROXIES:
        lowered = model_id.lower()
        if "claude" in lowered or "anthropic" in lowered:
            return _chat_first_system(doc)
    return False


def _anthropic(doc: dict[str, Any]) -> bool:
    changed = False
    if doc.get("system"):
        changed = _mark_content(doc, "system")
    else:
        tools = doc.get("tools")
        if isinstance(tools, list) and tools and isinstance(tools[-1], dict):
            tools[-1]["cache_control"] = dict(_MARK)
            changed = True
    messages = doc.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        changed = _mark_content(messages[-1], "content") or changed
    return changed


def _chat_first_system(doc: dict[str, Any]) -> bool:
    messages = doc.get("messages")
    if not isinstance(messages, list) or not messages:
        return False
    target = next(
        (m for m in messages if isinstance(m, dict) and m.get("role") in ("system", "developer")),
        messages[0],
    )
    if not isinstance(target, dict):
        return False
    content = target.get("content")
    if isinstance(content, list):
        texts = [p for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if texts:
            texts[-1]["cache_control"] = dict(_MARK)
            return True
        return False
    return _mark_content(target, "content")
