"""Where each part of the loaded document came from: its YAML path and line as the user wrote it.

The loader turns YAML into plain dicts and lists, then migrations move parts around
(``llm_providers`` becomes ``model_providers``, the legacy listener object becomes a list, inline
routing preferences are lifted to the top level). Every container is registered here with its
*original* path and line, keyed by object identity, so a problem found later at a canonical
location is still reported where the user wrote the thing. Registered objects are kept alive by
the map, so identities are never reused.
"""

from __future__ import annotations

from collections.abc import Sequence

from plano.config.problems import PathTuple, format_path


class SourceMap:
    def __init__(self) -> None:
        self._origin: dict[int, tuple[object, PathTuple, int | None]] = {}
        self._entry_line: dict[tuple[int, str | int], int] = {}
        self._alias: dict[tuple[int, str | int], str] = {}

    def register(self, obj: object, path: PathTuple, line: int | None) -> None:
        """Record that container ``obj`` was written at ``path`` / ``line``."""
        self._origin[id(obj)] = (obj, path, line)

    def inherit(self, new: object, old: object) -> None:
        """Make ``new`` report as if it were ``old`` (for a container built to replace another)."""
        origin = self._origin.get(id(old))
        if origin is not None:
            self._origin[id(new)] = (new, origin[1], origin[2])

    def set_entry_line(self, container: object, key: str | int, line: int) -> None:
        self._entry_line[(id(container), key)] = line

    def entry_line(self, container: object, key: str | int) -> int | None:
        return self._entry_line.get((id(container), key))

    def line_of(self, obj: object) -> int | None:
        origin = self._origin.get(id(obj))
        return origin[2] if origin else None

    def rename_key(self, mapping: dict[str, object], old: str, new: str) -> None:
        """Move ``mapping[old]`` to ``mapping[new]``; problems keep naming ``old`` and its line."""
        mapping[new] = mapping.pop(old)
        line = self._entry_line.get((id(mapping), old))
        if line is not None:
            self._entry_line[(id(mapping), new)] = line
        self._alias[(id(mapping), new)] = self._alias.get((id(mapping), old), old)

    def locate(
        self, root: object, loc: Sequence[str | int], *, keep_unknown: bool = True
    ) -> tuple[str, int | None]:
        """Display path and line for ``loc`` (a path in the current, migrated document).

        Elements of ``loc`` that do not exist in the document are kept in the displayed path when
        ``keep_unknown`` (a key that is missing), else dropped (validator-internal location parts).
        """
        node: object = root
        base: PathTuple = ()
        suffix: list[str | int] = []
        line = self.line_of(root)
        for index, elt in enumerate(loc):
            child, found = _step(node, elt)
            if not found:
                if keep_unknown or (index == len(loc) - 1 and isinstance(node, dict)):
                    suffix.append(elt)
                    node = None
                continue
            entry = self.entry_line(node, elt)
            suffix.append(self._alias.get((id(node), elt), elt))
            if entry is not None:
                line = entry
            origin = self._origin.get(id(child))
            if origin is not None:
                base, suffix = origin[1], []
                if origin[2] is not None and entry is None:
                    line = origin[2]
            node = child
        return format_path((*base, *suffix)), line


def _step(node: object, elt: str | int) -> tuple[object, bool]:
    if isinstance(node, dict) and elt in node:
        return node[elt], True
    if isinstance(node, list) and isinstance(elt, int) and 0 <= elt < len(node):
        return node[elt], True
    return None, False
