"""Config of the built-in filters (``filters[]`` entries with ``type: guard`` or ``type: pii``).

They run inside the gateway, in any filter chain, beside the ``http`` and ``mcp`` filter services;
they have no ``url``. The guard filter also backs the original's ``prompt_guards`` key.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator

from plano.config.fieldtypes import StrictModel

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
