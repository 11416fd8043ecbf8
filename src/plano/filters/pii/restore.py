"""Restoring placeholders in text that arrives in pieces (stream deltas).

Each piece is restored at once, except a possible placeholder start at its end (a `<` and what
follows it, when that is the beginning of a placeholder this request gave): that tail waits for
the next piece of the same text, or for the end of the text (`flush`). Text that cannot begin a
placeholder is never held back. The restored pieces joined equal the whole text restored.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from plano.filters.pii.session import Session, restore_text


class StreamRestorer:
    """The held-back tails of one response's texts, by key (a choice, a content block...)."""

    __slots__ = ("_held", "_session")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._held: dict[Hashable, str] = {}

    def feed(self, key: Hashable, text: str, *, escaped: bool = False) -> str:
        """`text`, the next piece of the text `key`, restored up to what must wait."""
        held = self._held.pop(key, None)
        buf = text if held is None else held + text
        cut = buf.rfind("<")
        if cut >= 0 and buf[cut:] in self._session.prefixes():
            self._held[key] = buf[cut:]
            buf = buf[:cut]
        return restore_text(buf, self._session.originals, escaped=escaped)

    def flush(self, key: Hashable) -> str:
        """What the text `key` still holds back (it has ended: it was no placeholder)."""
        return self._held.pop(key, "")

    def pending(self) -> Iterator[Hashable]:
        """Keys still holding text back."""
        return iter(list(self._held))

    def holding(self, key: Hashable) -> bool:
        return key in self._held
