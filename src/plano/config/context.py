"""The state of one config load: the document, its source map, and the problems found so far."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from plano.config.problems import Problem
from plano.config.source_map import SourceMap


@dataclass
class LoadContext:
    source: str
    env: Mapping[str, str] = field(default_factory=dict)
    smap: SourceMap = field(default_factory=SourceMap)
    doc: dict[str, Any] = field(default_factory=dict)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # (display path, VAR) for every $VAR that was not set.
    missing_env: list[tuple[str, str]] = field(default_factory=list)
    # Section -> original index of each item kept after invalid items were dropped.
    index_maps: dict[str, list[int]] = field(default_factory=dict)

    def problem(
        self,
        loc: Sequence[str | int],
        message: str,
        *,
        keep_unknown: bool = True,
        annotate: bool = True,
    ) -> Problem:
        loc = self._original_index(loc)
        path, line = self.smap.locate(self.doc, loc, keep_unknown=keep_unknown)
        note = self._unset_note(path) if annotate else ""
        return Problem(path=path, line=line, message=message + note, source=self.source)

    def error(self, loc: Sequence[str | int], message: str, *, keep_unknown: bool = True) -> None:
        self.add_error(self.problem(loc, message, keep_unknown=keep_unknown))

    def add_error(self, problem: Problem) -> None:
        if problem not in self.errors:
            self.errors.append(problem)

    def warn(self, loc: Sequence[str | int], message: str, *, annotate: bool = True) -> None:
        problem = self.problem(loc, message, annotate=annotate)
        if problem not in self.warnings:
            self.warnings.append(problem)

    def error_at_line(self, line: int | None, message: str, path: str = "") -> None:
        self.errors.append(Problem(path=path, line=line, message=message, source=self.source))

    def _original_index(self, loc: Sequence[str | int]) -> Sequence[str | int]:
        kept = self.index_maps.get(str(loc[0])) if len(loc) > 1 else None
        if kept is None or not isinstance(loc[1], int) or not 0 <= loc[1] < len(kept):
            return loc
        return (loc[0], kept[loc[1]], *loc[2:])

    def _unset_note(self, path: str) -> str:
        names = [var for where, var in self.missing_env if where == path]
        if not names:
            return ""
        listed = ", ".join(dict.fromkeys(names))
        return f" (environment variable {listed} is not set)"
