"""YAML text -> plain Python data, recording the line of every container and entry.

Uses PyYAML's safe composer (no arbitrary tags) and builds dicts and lists itself so that each one
is registered in the :class:`~plano.config.source_map.SourceMap` with its path and line. Duplicate
keys are errors here (PyYAML would silently keep the last one).
"""

from __future__ import annotations

from typing import Any

import yaml

from plano.config.context import LoadContext
from plano.config.problems import PathTuple, format_path

# Upper bound on built nodes: stops alias-expansion bombs ("billion laughs").
_MAX_NODES = 1_000_000


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, ctx: LoadContext) -> None:
        self.loader = loader
        self.ctx = ctx
        self.count = 0
        self.stack: set[int] = set()

    def build(self, node: yaml.Node, path: PathTuple) -> Any:
        self.count += 1
        if self.count > _MAX_NODES:
            raise _Abort(node, "document is too large (too many aliased nodes)")
        if id(node) in self.stack:
            raise _Abort(node, "recursive YAML alias")
        if isinstance(node, yaml.MappingNode):
            _expect_tag(node, _MAP_TAG)
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            _expect_tag(node, _SEQ_TAG)
            return self._sequence(node, path)
        return self.loader.construct_object(node, deep=True)

    def _sequence(self, node: yaml.SequenceNode, path: PathTuple) -> list[Any]:
        out: list[Any] = []
        self.ctx.smap.register(out, path, _line(node))
        self.stack.add(id(node))
        for index, item in enumerate(node.value):
            self.ctx.smap.set_entry_line(out, index, _line(item))
            out.append(self.build(item, (*path, index)))
        self.stack.discard(id(node))
        return out

    def _mapping(self, node: yaml.MappingNode, path: PathTuple) -> dict[str, Any]:
        own = sum(1 for key, _ in node.value if key.tag != _MERGE_TAG)
        self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<): merged pairs first
        merged = len(node.value) - own
        out: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        self.ctx.smap.register(out, path, _line(node))
        self.stack.add(id(node))
        # Own keys first, so they win over merged ones; merged keys never count as duplicates.
        pairs = [*node.value[merged:], *node.value[:merged]]
        for index, (key_node, value_node) in enumerate(pairs):
            key = self._key(key_node, path)
            if key is None or (key in out and index >= own):
                continue
            if key in out:
                where = format_path((*path, key))
                self.ctx.error_at_line(
                    _line(key_node),
                    f"duplicate key '{key}' (first given on line {first_line[key]})",
                    where,
                )
                continue
            first_line[key] = _line(key_node)
            self.ctx.smap.set_entry_line(out, key, _line(key_node))
            out[key] = self.build(value_node, (*path, key))
        self.stack.discard(id(node))
        return out

    def _key(self, node: yaml.Node, path: PathTuple) -> str | None:
        value = (
            self.loader.construct_object(node, deep=True)
            if isinstance(node, yaml.ScalarNode)
            else None
        )
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        self.ctx.error_at_line(_line(node), "mapping keys must be strings", format_path(path))
        return None


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _expect_tag(node: yaml.Node, tag: str) -> None:
    if node.tag != tag:
        raise _Abort(node, f"unsupported YAML tag '{node.tag}'")


class _Abort(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def parse(text: str, ctx: LoadContext) -> dict[str, Any] | None:
    """Parse ``text``; return the top-level mapping, or None after recording why not."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            ctx.error_at_line(None, "the config is empty")
            return None
        data = _Builder(loader, ctx).build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        detail = " ".join(str(p) for p in (exc.context, exc.problem) if p)
        ctx.error_at_line(line, f"invalid YAML: {detail}")
        return None
    except yaml.YAMLError as exc:
        ctx.error_at_line(None, f"invalid YAML: {exc}")
        return None
    except _Abort as exc:
        ctx.error_at_line(_line(exc.node), exc.message)
        return None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        ctx.error_at_line(_line(root), "the config must be a mapping of top-level keys")
        return None
    return data
