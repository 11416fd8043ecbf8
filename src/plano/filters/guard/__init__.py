"""The built-in jailbreak / prompt-injection guard (`filters[]` entries with `type: guard`, and
the original's `prompt_guards.input_guards.jailbreak`).

`build_guard` compiles one guard at config load: the head is read and verified, the rules are
chosen, the second opinion's model is resolved; the embedder itself loads on first use (the
worker's shared MiniLM). See `filter` for what a request goes through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from functools import cache
from typing import Final

from plano.config.guards import GuardFilterConfig
from plano.config.sections import PromptGuardsConfig
from plano.embedding.model import model_file
from plano.embedding.shared import PROCESS_MODEL
from plano.filters.guard.filter import GuardBlocked, GuardFilter
from plano.filters.guard.head import Head, load_head
from plano.filters.guard.rules import rules_for
from plano.filters.guard.second_opinion import SecondOpinion
from plano.upstream.clusters import Cluster
from plano.upstream.transport import Transport

__all__ = [
    "PROMPT_GUARD_ID",
    "GuardBlocked",
    "GuardFilter",
    "build_guard",
    "prompt_guard",
    "warm_up",
]

log = logging.getLogger("plano.guard")

# The id of the guard that `prompt_guards.input_guards.jailbreak` puts in front of input chains.
PROMPT_GUARD_ID: Final = "prompt_guards.jailbreak"


@cache
def shipped_head() -> Head:
    return load_head()


def build_guard(
    config: GuardFilterConfig, transport: Transport, clusters: Sequence[Cluster] = ()
) -> GuardFilter:
    """One guard, ready to serve (a missing embedder or a replaced head fails here, at load)."""
    model_file()
    second = None
    so = config.second_opinion
    if so is not None:
        cluster = find_cluster(clusters, so.model)
        if cluster is None:
            raise KeyError(
                f"filter '{config.id}': second_opinion.model '{so.model}' is not a configured model"
            )
        second = SecondOpinion(cluster, transport, so.timeout)
    rules = rules_for("system_prompt_extraction" in config.inspect) if config.rules else ()
    return GuardFilter(config, shipped_head(), rules, second)


def find_cluster(clusters: Sequence[Cluster], model: str) -> Cluster | None:
    """The configured model named `model` (its name, canonical `provider/id`, or bare id)."""
    for c in clusters:
        if not c.wildcard and model in (c.name, c.model_id, f"{c.provider}/{c.model_id}"):
            return c
    return None


def prompt_guard(config: PromptGuardsConfig | None) -> GuardFilterConfig | None:
    """The guard `prompt_guards.input_guards.jailbreak` compiles to (block, its message)."""
    if config is None or config.input_guards is None:
        return None
    message = config.input_guards.jailbreak.on_exception.message
    return GuardFilterConfig(id=PROMPT_GUARD_ID, type="guard", action="block", message=message)


async def warm_up() -> None:
    """Load the embedder and run it once in a worker thread at startup, so the first request
    pays neither the load nor the inference session's first, slower run."""
    try:
        await asyncio.to_thread(lambda: PROCESS_MODEL.get().embed(["warm up the guard"]))
    except Exception as exc:  # reported again, as a filter failure, when a request needs it
        log.warning("guard: embedding model not loaded: %s", exc)
