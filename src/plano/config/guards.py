"""Config of the built-in filters (``filters[]`` entries with ``type: guard`` or ``type: pii``).

They run inside the gateway, in any filter chain, beside the ``http`` and ``mcp`` filter services;
they have no ``url``. The guard filter also backs the original's ``prompt_guards`` key.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import Field, field_validator, model_validator

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


PiiEntity = Literal["email", "phone", "card", "iban", "ip", "secret", "name"]
PiiAction = Literal["redact", "mask", "block"]

# What a `type: pii` filter finds when `entities` is not given: every pattern entity, replaced by
# placeholders restored in the response (`name` joins in when `names` lists some).
DEFAULT_PII_ENTITIES: Final[dict[PiiEntity, PiiAction]] = {
    "email": "redact",
    "phone": "redact",
    "card": "redact",
    "iban": "redact",
    "ip": "redact",
    "secret": "redact",
}


class GuardFilterConfig(StrictModel):
    """The jailbreak / prompt-injection guard (``type: guard``)."""

    id: str
    type: Literal["guard"]
    # The head's score at or above which a text is an attack (default: the shipped head's own,
    # chosen at training for a false-positive rate ≤ 2 % on the validation data's benign rows).
    threshold: Probability | None = None
    action: Literal["block", "flag", "redact"] = "block"
    message: str = DEFAULT_GUARD_MESSAGE
    inspect: tuple[GuardInspect, ...] = ("user", "tool_results", "system_prompt_extraction")
    rules: bool = True  # our precompiled pre-rules (override, extraction, role-play phrases)
    second_opinion: GuardSecondOpinionConfig | None = None
    redacted: str = DEFAULT_REDACTED  # the placeholder of a removed tool result (`redact`)
    max_chunks: Annotated[int, Field(ge=1, le=32)] = 4  # windows embedded per long text
    # When the worker's embedding work is full (`overrides.embedding_max_pending`): `open` lets
    # the request pass unscored (verdict `skipped`; the pre-rules still block), `closed` blocks
    # it with `message`. Open by default: overload must not turn into an outage for every user.
    on_overload: Literal["open", "closed"] = "open"


class PiiFilterConfig(StrictModel):
    """PII redaction with restore (``type: pii``): `entities` maps each entity type to find to
    its action (``redact``: a placeholder such as ``<EMAIL_1>``, restored in the response;
    ``mask``: partly starred, not restored; ``block``: the request ends with a 400). `names`
    are matched case-insensitively on word boundaries (entity ``name``, redacted unless
    `entities` says otherwise). `restore: false` leaves placeholders in the response."""

    id: str
    type: Literal["pii"]
    entities: dict[PiiEntity, PiiAction] = Field(default_factory=lambda: dict(DEFAULT_PII_ENTITIES))
    names: tuple[str, ...] = ()
    restore: bool = True

    @field_validator("names")
    @classmethod
    def _names(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for i, name in enumerate(names):
            if not name.strip():
                raise ValueError(f"names[{i}] is empty")
        return names

    def actions(self) -> dict[str, str]:
        """Each entity type the filter looks for, with its action."""
        out: dict[str, str] = {str(k): str(v) for k, v in self.entities.items()}
        if self.names and "name" not in out:
            out["name"] = "redact"
        if not self.names:
            out.pop("name", None)
        return out
