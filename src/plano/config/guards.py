"""Config of the built-in filters (``filters[]`` entries with ``type: guard`` or ``type: pii``).

They run inside the gateway, in any filter chain, beside the ``http`` and ``mcp`` filter services;
they have no ``url``. The guard filter also backs the original's ``prompt_guards`` key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from plano.config.fieldtypes import Duration, StrictModel

GuardInspect = Literal["user", "tool_results", "system_prompt_extraction"]
DEFAULT_GUARD_MESSAGE = (
    "This request was blocked: it looks like a jailbreak or prompt-injection attempt."
)
DEFAULT_REDACTED = "[tool output removed: it contained instructions aimed at the assistant]"
Probability = Annotated[float, Field(gt=0.0, le=1.0)]


class GuardSecondOpinionConfig(StrictModel):
    """A guard model served OpenAI-compatibly (a configured `model_providers` entry), asked with
    a Llama-Guard-style prompt; its "safe" / "unsafe" answer decides."""

    model: str  # a configured model (provider/model, its bare id or its name)
    when: Literal["uncertain", "always"] = "uncertain"
    # Head scores in [uncertain_from, uncertain_to) are uncertain (with `when: uncertain`).
    uncertain_from: Probability = 0.35
    uncertain_to: Probability = 0.97
    timeout: Duration = 5.0
    on_failure: Literal["open", "closed"] = "open"  # open: the head's verdict stands

    @model_validator(mode="after")
    def _band(self) -> GuardSecondOpinionConfig:
        if self.uncertain_from >= self.uncertain_to:
            raise ValueError("uncertain_from must be below uncertain_to")
        return self


class GuardFilterConfig(StrictModel):
    """The jailbreak / prompt-injection guard (``type: guard``)."""

    id: str
    type: Literal["guard"]
    # The head's score at or above which a text is an attack (default: the shipped head's own,
    # chosen for a false-positive rate ≤ 2 % on our hand-written benign set).
    threshold: Probability | None = None
    action: Literal["block", "flag", "redact"] = "block"
    message: str = DEFAULT_GUARD_MESSAGE
    inspect: tuple[GuardInspect, ...] = ("user", "tool_results", "system_prompt_extraction")
    rules: bool = True  # our precompiled pre-rules (override, extraction, role-play phrases)
    second_opinion: GuardSecondOpinionConfig | None = None
    redacted: str = DEFAULT_REDACTED  # the placeholder of a removed tool result (`redact`)
    max_chunks: Annotated[int, Field(ge=1, le=32)] = 4  # windows embedded per long text


class PiiFilterConfig(StrictModel):
    """PII redaction with restore (``type: pii``)."""

    id: str
    type: Literal["pii"]
