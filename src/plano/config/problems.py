"""Problems found in a config file, and the error that carries them.

A :class:`Problem` names the place (a YAML path such as ``model_providers[2].base_url`` and a
1-based line) and says what is wrong. Loading collects every problem before it gives up, so one run
of ``plano validate`` shows them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")

PathTuple = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """One error or warning about a config, with its YAML path and line."""

    path: str
    line: int | None
    message: str
    source: str = ""

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        parts = [p for p in (where, self.path, self.message) if p]
        return ": ".join(parts)


class ConfigError(Exception):
    """A config that cannot be used. ``problems`` holds every error found (never empty)."""

    def __init__(self, problems: Iterable[Problem], warnings: Iterable[Problem] = ()) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        self.warnings: tuple[Problem, ...] = tuple(warnings)
        super().__init__(self._render())

    def _render(self) -> str:
        count = len(self.problems)
        head = f"invalid config ({count} problem{'s' if count != 1 else ''}):"
        return "\n".join([head, *(f"  {p}" for p in self.problems)])

    def __str__(self) -> str:
        return self._render()


def format_path(path: Iterable[str | int]) -> str:
    """``("model_providers", 2, "base_url")`` -> ``model_providers[2].base_url``.

    Keys that are not plain words (``arch.summarize.v1``) are quoted: ``model_aliases["a.b"]``.
    """
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def listing(names: Iterable[str], limit: int = 12) -> str:
    """``a, b, c`` (sorted, at most ``limit`` names), or ``none``."""
    ordered = sorted(set(names))
    if not ordered:
        return "none"
    more = f", ... ({len(ordered) - limit} more)" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


def format_report(problems: Iterable[Problem], warnings: Iterable[Problem] = ()) -> str:
    """Report for ``plano validate``: errors first, then warnings, then a tally."""
    errs = list(problems)
    warns = list(warnings)
    lines = [f"error: {p}" for p in errs] + [f"warning: {w}" for w in warns]
    tally = f"{len(errs)} error{'s' if len(errs) != 1 else ''}"
    tally += f", {len(warns)} warning{'s' if len(warns) != 1 else ''}"
    lines.append("config is valid" if not errs else "config is invalid")
    lines[-1] += f" ({tally})"
    return "\n".join(lines)
