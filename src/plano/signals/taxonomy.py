"""The three layers, seven categories and their leaf signal types (§9.3 of the reference)."""

from __future__ import annotations

from typing import Final

CATEGORIES: Final[tuple[tuple[str, str], ...]] = (
    ("interaction", "misalignment"),
    ("interaction", "stagnation"),
    ("interaction", "disengagement"),
    ("interaction", "satisfaction"),
    ("execution", "failure"),
    ("execution", "loops"),
    ("environment", "exhaustion"),
)

CORRECTION: Final = "interaction.misalignment.correction"
REPHRASE: Final = "interaction.misalignment.rephrase"
CLARIFICATION: Final = "interaction.misalignment.clarification"
DRAGGING: Final = "interaction.stagnation.dragging"
REPETITION: Final = "interaction.stagnation.repetition"
NEGATIVE_STANCE: Final = "interaction.disengagement.negative_stance"
ESCALATION: Final = "interaction.disengagement.escalation"
QUIT: Final = "interaction.disengagement.quit"
GRATITUDE: Final = "interaction.satisfaction.gratitude"
CONFIRMATION: Final = "interaction.satisfaction.confirmation"
SUCCESS: Final = "interaction.satisfaction.success"
INVALID_ARGS: Final = "execution.failure.invalid_args"
TOOL_NOT_FOUND: Final = "execution.failure.tool_not_found"
AUTH_MISUSE: Final = "execution.failure.auth_misuse"
STATE_ERROR: Final = "execution.failure.state_error"
BAD_QUERY: Final = "execution.failure.bad_query"
RETRY: Final = "execution.loops.retry"
PARAMETER_DRIFT: Final = "execution.loops.parameter_drift"
OSCILLATION: Final = "execution.loops.oscillation"
RATE_LIMIT: Final = "environment.exhaustion.rate_limit"
API_ERROR: Final = "environment.exhaustion.api_error"
TIMEOUT: Final = "environment.exhaustion.timeout"
NETWORK: Final = "environment.exhaustion.network"
MALFORMED_RESPONSE: Final = "environment.exhaustion.malformed_response"
CONTEXT_OVERFLOW: Final = "environment.exhaustion.context_overflow"

LEAF_TYPES: Final[tuple[str, ...]] = (
    CORRECTION, REPHRASE, CLARIFICATION, DRAGGING, REPETITION,
    NEGATIVE_STANCE, ESCALATION, QUIT, GRATITUDE, CONFIRMATION, SUCCESS,
    INVALID_ARGS, TOOL_NOT_FOUND, AUTH_MISUSE, STATE_ERROR, BAD_QUERY,
    RETRY, PARAMETER_DRIFT, OSCILLATION,
    RATE_LIMIT, API_ERROR, TIMEOUT, NETWORK, MALFORMED_RESPONSE, CONTEXT_OVERFLOW,
)  # fmt: skip
