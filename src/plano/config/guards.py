"""Config of the built-in filters (``filters[]`` entries with ``type: guard`` or ``type: pii``).

They run inside the gateway, in any filter chain, beside the ``http`` and ``mcp`` filter services;
they have no ``url``. The guard filter also backs the original's ``prompt_guards`` key.
"""

from __future__ import annotations

from typing import Literal

from plano.config.fieldtypes import StrictModel


class GuardFilterConfig(StrictModel):
    """The jailbreak / prompt-injection guard (``type: guard``)."""

    id: str
    type: Literal["guard"]


class PiiFilterConfig(StrictModel):
    """PII redaction with restore (``type: pii``)."""

    id: str
    type: Literal["pii"]
