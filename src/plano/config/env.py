"""Environment variables: ``$VAR`` / ``${VAR}`` substitution in string values, and ``.env`` files.

Substitution applies to every string *value* of the document (never to keys). ``$$`` stands
for a literal ``$``. A ``$`` that is not followed by a name or ``{name}`` is left as it is. A
variable that is not set becomes the empty string, is recorded in ``Config.missing_env`` and
produces one warning per variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from plano.config.context import LoadContext
from plano.config.problems import PathTuple, format_path

_REF = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")


def expand(text: str, env: Mapping[str, str]) -> tuple[str, list[str]]:
    """Substitute references in ``text``; return the result and the names that were not set."""
    if "$" not in text:
        return text, []
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(3)
        value = env.get(name)
        if value is None:
            missing.append(name)
            return ""
        return value

    return _REF.sub(replace, text), missing


def references(text: str) -> list[str]:
    """Names referenced by ``text`` (``$$`` escapes excluded)."""
    return [m.group(2) or m.group(3) for m in _REF.finditer(text) if not m.group(1)]


def substitute(ctx: LoadContext, env: Mapping[str, str]) -> None:
    """Expand references in every string value of ``ctx.doc`` in place."""
    found: list[tuple[PathTuple, str]] = []
    _walk(ctx.doc, (), env, found)
    first: dict[str, tuple[PathTuple, int]] = {}
    for path, name in found:
        ctx.missing_env.append((format_path(path), name))
        where, count = first.get(name, (path, 0))
        first[name] = (where, count + 1)
    for name, (path, count) in first.items():
        used = f" (used {count} times)" if count > 1 else ""
        ctx.warn(
            path,
            f"environment variable {name} is not set; using an empty string{used}",
            annotate=False,
        )


def _walk(
    node: Any, path: PathTuple, env: Mapping[str, str], found: list[tuple[PathTuple, str]]
) -> None:
    items: list[tuple[Any, Any]]
    if isinstance(node, dict):
        items = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, value in items:
        if isinstance(value, str):
            expanded, missing = expand(value, env)
            node[key] = expanded
            found.extend(((*path, key), name) for name in missing)
        else:
            _walk(value, (*path, key), env, found)


def read_dotenv(directory: Path | None) -> dict[str, str]:
    """Variables from ``<directory>/.env`` (empty if there is none)."""
    if directory is None:
        return {}
    path = directory / ".env"
    if not path.is_file():
        return {}
    values = dotenv_values(path)
    return {key: value for key, value in values.items() if value is not None}


def resolve_env(env: Mapping[str, str] | None, base_dir: Path | None) -> dict[str, str]:
    """The variables a load uses: ``env`` as given, else ``os.environ`` over ``.env``.

    The process environment wins over the ``.env`` file.
    """
    if env is not None:
        return dict(env)
    return {**read_dotenv(base_dir), **os.environ}


def variables_in(text: str) -> list[str]:
    """The environment variables a YAML config refers to in its values (comments and keys
    aside), sorted; none when the text is not YAML."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    names: set[str] = set()
    stack: list[Any] = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            names.update(references(node))
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(names)
