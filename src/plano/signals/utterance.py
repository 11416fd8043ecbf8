"""A user or assistant message prepared once for every interaction analyser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from plano.signals.conversation import Row
from plano.signals.lexicon import GUARDS, Lexicon
from plano.signals.matcher import Match
from plano.signals.text import Text, strip_code, truncate

SNIPPET_CHARS: Final = 100


@dataclass(frozen=True, slots=True)
class Utterance:
    """`prose` is the message without code or log lines (what stance and phrases look at);
    `full` is the whole message (what repetition compares)."""

    row: Row
    prose: Text
    full: Text
    hits: Mapping[str, Match] = field(default_factory=dict)  # phrase list name → first match

    @property
    def index(self) -> int:
        return self.row.index

    @classmethod
    def of(cls, row: Row, lex: Lexicon | None = None) -> Utterance:
        """With `lex`, the message is also matched against every phrase list (user messages)."""
        full = Text.of(row.text)
        prose_text = strip_code(truncate(row.text))
        prose = full if prose_text == row.text else Text.of(prose_text)
        hits = lex.book.match_all(prose, GUARDS) if lex is not None else {}
        return cls(row, prose, full, hits)

    def snippet(self) -> str:
        raw = self.prose.raw or self.full.raw
        return raw if len(raw) <= SNIPPET_CHARS else raw[: SNIPPET_CHARS - 1] + "…"

    def starts_with_any(self, prefixes: tuple[tuple[str, ...], ...]) -> bool:
        tokens = self.prose.tokens
        return any(tokens[: len(p)] == p for p in prefixes)
