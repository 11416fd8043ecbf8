"""A user or assistant message prepared once for every interaction analyser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from plano.signals.conversation import Row
from plano.signals.text import Text, strip_code, truncate

SNIPPET_CHARS: Final = 100


@dataclass(frozen=True, slots=True)
class Utterance:
    """`prose` is the message without code or log lines (what stance and phrases look at);
    `full` is the whole message (what repetition compares)."""

    row: Row
    prose: Text
    full: Text

    @property
    def index(self) -> int:
        return self.row.index

    @classmethod
    def of(cls, row: Row) -> Utterance:
        full = Text.of(row.text)
        prose_text = strip_code(truncate(row.text))
        prose = full if prose_text == row.text else Text.of(prose_text)
        return cls(row, prose, full)

    def snippet(self) -> str:
        raw = self.prose.raw or self.full.raw
        return raw if len(raw) <= SNIPPET_CHARS else raw[: SNIPPET_CHARS - 1] + "…"

    def starts_with_any(self, prefixes: tuple[tuple[str, ...], ...]) -> bool:
        tokens = self.prose.tokens
        return any(tokens[: len(p)] == p for p in prefixes)
