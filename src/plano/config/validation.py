"""Schema validation with pydantic, reported as :class:`Problem` s with YAML paths and lines.

Sections that fail validation are dropped from a second, partial build so that cross-reference
checks can still run on everything else and all problems are reported in one go.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from plano.config.context import LoadContext
from plano.config.fieldtypes import StrictModel
from plano.config.models import LOADER_FIELDS, Config
from plano.config.problems import Problem

_CURRENT_VERSION = "v0.4.0"


@cache
def _known_keys() -> tuple[str, ...]:
    """Every key any config model accepts (for "did you mean" hints)."""
    names: set[str] = set()
    pending: list[type[BaseModel]] = [StrictModel]
    while pending:
        cls = pending.pop()
        names.update(cls.model_fields)
        pending.extend(cls.__subclasses__())
    return tuple(sorted(names - LOADER_FIELDS))


def unknown_key_message(key: object, owner: object = None) -> str:
    """`unknown key 'x'` with a hint: a close known key, or, when `x` is a key of some other
    entry (e.g. `url` on a built-in `type: guard` filter), that it is not allowed here."""
    message = f"unknown key '{key}'"
    if isinstance(key, str):
        if key in _known_keys():
            where = f"in a 'type: {owner}' filter" if owner in _BUILT_IN_FILTERS else "here"
            return f"{message} (not allowed {where})"
        close = difflib.get_close_matches(key, _known_keys(), n=1, cutoff=0.75)
        if close:
            message += f" (did you mean '{close[0]}'?)"
    return message


# Tags of the built-in filters in the `filters[]` union (they run in the gateway: no url).
_BUILT_IN_FILTERS = ("guard", "pii")


def _discriminator(err: Any) -> str:
    return str(err.get("ctx", {}).get("discriminator", "type")).strip("'")


def _message(err: Any) -> str:
    kind = err["type"]
    loc = err["loc"]
    if kind == "extra_forbidden":
        return unknown_key_message(loc[-1] if loc else "?", loc[-2] if len(loc) > 1 else None)
    if kind == "missing":
        return f"missing required key '{loc[-1]}'" if loc else "missing required key"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        got = err.get("input")
        shown = f"'{got}'" if isinstance(got, str) and len(got) < 80 else "this value"
        return f"must be {expected}; got {shown}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tags = err.get("ctx", {}).get("expected_tags", "")
        got = err.get("ctx", {}).get("tag")
        shown = f"; got '{got}'" if isinstance(got, str) else ""
        return f"{_discriminator(err)} must be one of {tags}{shown}"
    text = str(err["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        text = text.removeprefix(prefix)
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def report_validation_error(
    ctx: LoadContext, prefix: Sequence[str | int], exc: ValidationError
) -> None:
    """Add every error of ``exc`` (raised validating the value at ``prefix``) to ``ctx``.

    The alternatives of a union fail together at one place; they become one problem.
    """
    grouped: dict[tuple[str, int | None], list[str]] = {}
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc = (*loc, _discriminator(err))
        problem = ctx.problem(loc, _message(err), keep_unknown=False)
        messages = grouped.setdefault((problem.path, problem.line), [])
        if problem.message not in messages:
            messages.append(problem.message)
    for (path, line), messages in grouped.items():
        ctx.add_error(Problem(path, line, _merge(messages), ctx.source))


def _merge(messages: list[str]) -> str:
    lead = "input should be "
    if len(messages) > 1 and all(m.startswith(lead) for m in messages):
        return lead + " or ".join(m.removeprefix(lead) for m in messages)
    return "; ".join(messages)


# Sections that are collections of independent items: one bad item drops only that item.
ITEM_SECTIONS = frozenset(
    {
        "listeners",
        "model_providers",
        "model_aliases",
        "agents",
        "filters",
        "endpoints",
        "prompt_targets",
        "ratelimits",
        "routing_preferences",
        "model_metrics_sources",
    }
)


@dataclass(frozen=True)
class Damage:
    """What schema validation had to leave out of the config handed to the cross-checks."""

    whole: frozenset[str] = frozenset()  # sections dropped entirely
    partial: frozenset[str] = frozenset()  # sections that lost some items


def _damaged(ctx: LoadContext, exc: ValidationError) -> dict[str, set[str | int] | None]:
    """Section -> bad item keys (None: the whole section is bad)."""
    bad: dict[str, set[str | int] | None] = {}
    for err in exc.errors():
        loc = err["loc"]
        if not loc:
            continue
        section, value = str(loc[0]), ctx.doc.get(str(loc[0]))
        items = bad.get(section, set())
        item_level = section in ITEM_SECTIONS and len(loc) > 1
        if items is not None and item_level and _has(value, loc[1]):
            bad[section] = {*items, loc[1]}
        else:
            bad[section] = None
    return bad


def _has(value: object, key: str | int) -> bool:
    if isinstance(value, list):
        return isinstance(key, int) and 0 <= key < len(value)
    return isinstance(value, dict) and key in value


def _without(ctx: LoadContext, key: str, value: Any, items: set[str | int]) -> Any:
    if items and isinstance(value, list):
        keep = [i for i in range(len(value)) if i not in items]
        ctx.index_maps[key] = keep
        return [value[i] for i in keep]
    if items and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in items}
    return value


def build_config(ctx: LoadContext) -> tuple[Config | None, Damage]:
    """Validate ``ctx.doc``. On errors, build a config without the bad parts for the cross-checks
    (list indices are remapped in ``ctx.index_maps`` so problems still name the right item)."""
    try:
        return Config.model_validate(ctx.doc), Damage()
    except ValidationError as exc:
        report_validation_error(ctx, (), exc)
        bad = _damaged(ctx, exc)
    partial: dict[str, Any] = {}
    for key, value in ctx.doc.items():
        items = bad.get(key, set())
        if items is not None:
            partial[key] = _without(ctx, key, value, items)
    partial.setdefault("version", _CURRENT_VERSION)
    partial.setdefault("listeners", [])
    damage = Damage(
        whole=frozenset(k for k, v in bad.items() if v is None),
        partial=frozenset(k for k, v in bad.items() if v),
    )
    try:
        return Config.model_validate(partial), damage
    except ValidationError:  # pragma: no cover - defensive: every part was already reported
        return None, damage
