"""The conformance matrix: client API x upstream dialect x stream mode x feature.

Which provider row carries a client API to an upstream dialect is read from the provider catalogue
(never restated here), so a new row or a changed mapping shows up in the matrix by itself. Cells
that no configuration can reach, or that an API cannot express, are "not applicable": their
reasons live in :func:`not_applicable`. Cells that are reachable but known to fail today are listed
in :data:`KNOWN_FAILURES` with the reason; they run as strict xfails, so the report says ❌
honestly and a cell that starts passing fails the run until it is taken off the list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from plano.providers.catalogue import ROWS, Api, Auth, ProviderRow

CLIENTS: Final = ("openai_chat", "anthropic_messages", "openai_responses")
UPSTREAMS: Final = (
    "openai_chat",
    "anthropic_messages",
    "openai_responses",
    "gemini",
    "bedrock_converse",
)
MODES: Final = ("stream", "nonstream")
FEATURES: Final = ("text", "tools", "parallel_tools", "thinking", "errors", "usage")

# Rows tried first, so each upstream dialect is reached through its own vendor when one exists;
# every other catalogue row follows in catalogue order.
PREFERRED: Final = (
    "openai",
    "mistral",
    "anthropic",
    "amazon_bedrock",
    "gemini",
    "vercel",
    "chatgpt",
)
# Rows whose vendor rewrites requests on top of the dialect (not a dialect fact): accepted when
# nothing else reaches the cell, with the assertion relaxed as noted.
FORCES_STREAM: Final = frozenset({"chatgpt"})  # ChatGPT's Codex backend only streams


@dataclass(frozen=True)
class Cell:
    client: str
    upstream: str
    mode: str
    feature: str

    @property
    def id(self) -> str:
        return f"{self.client}-{self.upstream}-{self.mode}-{self.feature}"

    @property
    def stream(self) -> bool:
        return self.mode == "stream"


def _rows() -> list[ProviderRow]:
    usable = [r for r in ROWS if r.config_prefix and r.auth is not Auth.AZURE_API_KEY]
    first = [r for p in PREFERRED for r in usable if r.prefix == p]
    return first + [r for r in usable if r not in first]


def route(client: str, upstream: str) -> ProviderRow | None:
    """The catalogue row that sends ``client`` requests to ``upstream``, if any."""
    for row in _rows():
        if row.upstream_api(Api(client)) is Api(upstream):
            return row
    return None


# Features an API cannot express, as (client or None, upstream or None, feature) -> reason.
# Today every API in the matrix can express every feature, so only routing leaves cells empty.
FEATURE_NOT_APPLICABLE: Final[dict[tuple[str | None, str | None, str], str]] = {}


def not_applicable(cell: Cell) -> str | None:
    """Why a cell cannot be exercised, or None when it can."""
    if route(cell.client, cell.upstream) is None:
        return (
            f"no provider row sends {cell.client} clients to {cell.upstream} "
            "(providers/catalogue.py; the original's matrix, behaviour §3.3)"
        )
    for client, upstream, feature in (
        (cell.client, cell.upstream, cell.feature),
        (cell.client, None, cell.feature),
        (None, cell.upstream, cell.feature),
    ):
        reason = FEATURE_NOT_APPLICABLE.get((client, upstream, feature))
        if reason is not None:
            return reason
    return None


# Reachable cells that fail today: (client, upstream, mode or None, feature or None) -> reason.
KNOWN_FAILURES: Final[dict[tuple[str, str, str | None, str | None], str]] = {}


def known_failure(cell: Cell) -> str | None:
    for mode in (cell.mode, None):
        for feature in (cell.feature, None):
            reason = KNOWN_FAILURES.get((cell.client, cell.upstream, mode, feature))
            if reason is not None:
                return reason
    return None


def all_cells() -> list[Cell]:
    return [Cell(c, u, m, f) for c in CLIENTS for u in UPSTREAMS for m in MODES for f in FEATURES]
