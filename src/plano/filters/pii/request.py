"""Rewriting a request body before the model: every text the model would read (messages and their
text parts, system prompts, instructions, tool calls' arguments, tool results) has its PII
replaced by a placeholder or a mask, or the request is refused.

The three client dialects (chat completions, Anthropic Messages, Responses) keep their text under
`messages`, `system`, `input`, `instructions` (and the legacy `prompt`); strings under keys that
are identifiers, media or signed content are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from plano.errors import BadRequest
from plano.filters.pii.detect import Detector
from plano.filters.pii.mask import mask
from plano.filters.pii.session import PLACEHOLDER, Session

TEXT_ROOTS: Final = ("instructions", "system", "messages", "input", "prompt")
# Keys whose strings are no text the model reads as the user wrote it (ids, names of tools, media,
# signed reasoning a provider checks).
SKIPPED: Final = frozenset(
    {
        "type", "role", "id", "call_id", "tool_use_id", "tool_call_id", "name", "model",
        "image_url", "source", "file_data", "file_id", "file_url", "data", "url", "signature",
        "cache_control", "encrypted_content", "status", "format", "media_type", "mime_type",
        "input_audio", "detail", "thinking", "redacted_thinking",
    }
)  # fmt: skip
DESCRIPTIONS: Final = {
    "email": "an email address",
    "phone": "a phone number",
    "card": "a payment card number",
    "iban": "an IBAN",
    "ip": "an IP address",
    "secret": "an API key or secret",
    "name": "a listed name",
}

Slot = tuple[Any, Any]  # (container, key or index) of one string


class PiiBlocked(BadRequest):
    """A `block` entity was found: the request ends here (the value is never echoed)."""

    code = "pii_blocked"

    def __init__(self, filter_id: str, entities: list[str]) -> None:
        found = ", ".join(f"{DESCRIPTIONS[e]} ({e})" for e in entities)
        super().__init__(f"request blocked by PII filter '{filter_id}': it contains {found}")
        self.entities = entities


def text_slots(doc: Mapping[str, Any]) -> list[Slot]:
    """Where the request's texts are (each string the model reads)."""
    slots: list[Slot] = []
    for root in TEXT_ROOTS:
        value = doc.get(root)
        if isinstance(value, str):
            slots.append((doc, root))
        elif isinstance(value, dict | list):
            _collect(value, slots)
    return slots


def _collect(node: dict[str, Any] | list[Any], slots: list[Slot]) -> None:
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for k, v in items:
        if isinstance(v, str):
            if k not in SKIPPED:
                slots.append((node, k))
        elif isinstance(v, dict | list) and k not in SKIPPED:
            _collect(v, slots)


class Rewriter:
    """One filter's request rewriting (its detector and actions, built at config load)."""

    __slots__ = ("_actions", "_detector", "_id")

    def __init__(self, filter_id: str, detector: Detector, actions: Mapping[str, str]) -> None:
        self._id = filter_id
        self._detector = detector
        self._actions = dict(actions)

    def rewrite(self, doc: dict[str, Any], session: Session) -> bool:
        """Rewrite `doc`'s texts in place (True when one changed); `PiiBlocked` when a `block`
        entity is found (nothing is rewritten then)."""
        slots = text_slots(doc)
        found = []
        for container, key in slots:
            text = container[key]
            if "<" in text:
                session.reserved.update(m.group(0) for m in PLACEHOLDER.finditer(text))
            spans = self._detector.find(text)
            if spans:
                found.append((container, key, spans))
        if not found:
            return False
        actions = self._actions
        blocked = sorted({e for _, _, spans in found for _, _, e in spans if actions[e] == "block"})
        for _, _, spans in found:
            for _, _, e in spans:
                session.note(e, actions[e])
        if blocked:
            raise PiiBlocked(self._id, blocked)
        for container, key, spans in found:
            container[key] = self._replaced(container[key], spans, session)
        return True

    def _replaced(self, text: str, spans: list[tuple[int, int, str]], session: Session) -> str:
        parts = []
        pos = 0
        for start, end, entity in spans:
            parts.append(text[pos:start])
            value = text[start:end]
            if self._actions[entity] == "mask":
                parts.append(mask(entity, value))
            else:
                parts.append(session.placeholder(entity, value))
            pos = end
        parts.append(text[pos:])
        return "".join(parts)
