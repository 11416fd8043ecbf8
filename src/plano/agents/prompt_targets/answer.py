"""What the function-calling model decided, whichever backend asked it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: Any  # an object, or JSON text as the model wrote it


@dataclass(frozen=True, slots=True)
class Detection:
    """`calls` set: the model wants a call; `clarification` set: it asks the user back (a
    required parameter is missing); neither: no target fits the prompt ("no intent").
    `raw` is the model's answer as the original reports it (`x-arch-fc-model-response`)."""

    calls: tuple[ToolCall, ...] = ()
    clarification: str | None = None
    raw: str = ""
    hallucinated: tuple[str, ...] = ()  # parameter names the logprob check flagged

    @property
    def intent(self) -> bool:
        return bool(self.calls) or bool(self.clarification)
