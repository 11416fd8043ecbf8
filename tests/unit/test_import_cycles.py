"""No import cycles between the modules of one package.

Each top-level package of ``plano`` (``plano.config``, ``plano.observability``, ...) is checked on
its own: an edge ``a -> b`` means module ``a`` imports module ``b`` of the same package. The graph
is built from the source with ``ast`` (nothing is imported); an import is one of three kinds:

- ``module``: executed when the module is imported (top level, also under ``try`` / ``if``);
- ``deferred``: inside a function or method body, executed on first call;
- ``type_checking``: under ``if TYPE_CHECKING:`` only, never executed.

The test fails on a cycle of any kind: an import moved into a function hides a cycle, it does not
cut it, and a cycle closed under ``TYPE_CHECKING`` still ties two modules into one (describe the
other side as a Protocol instead). Run the file as a script to print every cycle:
``PYTHONPATH=src python tests/unit/test_import_cycles.py``.

The parent package of a module is not an edge (Python runs ``pkg/__init__.py`` before
``pkg/mod.py`` whatever ``mod`` imports); ``from pkg import name`` is an edge to ``pkg.name`` when
that is a module and to ``pkg`` otherwise.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "plano"

KINDS = ("module", "deferred", "type_checking")  # strongest first
EXECUTED = ("module", "deferred")


@dataclass
class Package:
    name: str
    modules: dict[str, Path] = field(default_factory=dict)
    # (importer, imported) -> the strongest kind among its imports, in the order of KINDS
    edges: dict[tuple[str, str], str] = field(default_factory=dict)


def module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def top_packages() -> list[str]:
    base = SRC / ROOT
    return sorted(
        f"{ROOT}.{p.name}" for p in base.iterdir() if p.is_dir() and (p / "__init__.py").exists()
    )


def is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def walk_imports(
    body: list[ast.stmt], kind: str
) -> Iterator[tuple[ast.Import | ast.ImportFrom, str]]:
    """Every import statement under ``body`` with the kind it runs as."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, kind
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from walk_imports(list(node.body), "deferred")
        elif isinstance(node, ast.If) and kind == "module" and is_type_checking(node.test):
            yield from walk_imports(node.body, "type_checking")
            yield from walk_imports(node.orelse, kind)
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from walk_imports([child], kind)
                elif isinstance(child, ast.excepthandler | ast.match_case):
                    yield from walk_imports(child.body, kind)


def targets(
    node: ast.Import | ast.ImportFrom, importer: str, is_pkg: bool, modules: dict[str, Path]
) -> list[str]:
    """The modules of ``modules`` an import statement loads (parent packages excluded)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name in modules]
    if node.level:
        base = importer.split(".")
        if not is_pkg:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, node.module] if node.module else base)
    else:
        target = node.module or ""
    hits = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in modules:
            hits.append(sub)
        elif target in modules:
            hits.append(target)  # a name defined in (or re-exported by) the module itself
    return hits


def load(package: str, src: Path = SRC) -> Package:
    pkg = Package(package)
    root = src / Path(*package.split("."))
    for path in sorted(root.rglob("*.py")):
        pkg.modules[module_name(path, src)] = path
    rank = {kind: i for i, kind in enumerate(KINDS)}
    for importer, path in pkg.modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_pkg = path.name == "__init__.py"
        for node, kind in walk_imports(tree.body, "module"):
            for imported in targets(node, importer, is_pkg, pkg.modules):
                if imported == importer:
                    continue
                old = pkg.edges.get((importer, imported))
                if old is None or rank[kind] < rank[old]:
                    pkg.edges[(importer, imported)] = kind
    return pkg


def cycles(pkg: Package, kinds: tuple[str, ...]) -> list[list[str]]:
    """Strongly connected components (size > 1) of the graph made of edges of ``kinds``."""
    graph: dict[str, list[str]] = {m: [] for m in pkg.modules}
    for (a, b), kind in pkg.edges.items():
        if kind in kinds:
            graph[a].append(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def describe(pkg: Package, component: list[str]) -> str:
    members = set(component)
    lines = [f"  cycle among {', '.join(component)}:"]
    for (a, b), kind in sorted(pkg.edges.items()):
        if a in members and b in members:
            lines.append(f"    {a} -> {b} ({kind})")
    return "\n".join(lines)


PACKAGES = top_packages()


def test_packages_are_found() -> None:
    assert "plano.config" in PACKAGES
    assert "plano.observability" in PACKAGES


def test_detector_sees_each_kind_of_import(tmp_path: Path) -> None:
    files = {
        "__init__.py": "from pkg.a import A\n",
        "a.py": "from typing import TYPE_CHECKING\nfrom . import b\nif TYPE_CHECKING:\n"
        "    from pkg.c import C\nA = 1\n",
        "b.py": "def f():\n    from pkg import a\n    return a\n",
        "c.py": "import pkg.a\ntry:\n    from .sub.d import D\nexcept ImportError:\n    pass\n",
        "sub/__init__.py": "",
        "sub/d.py": "from ..c import *\nD = 1\n",
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text)
    pkg = load("pkg", tmp_path)
    assert pkg.edges == {
        ("pkg", "pkg.a"): "module",
        ("pkg.a", "pkg.b"): "module",
        ("pkg.a", "pkg.c"): "type_checking",
        ("pkg.b", "pkg.a"): "deferred",
        ("pkg.c", "pkg.a"): "module",
        ("pkg.c", "pkg.sub.d"): "module",
        ("pkg.sub.d", "pkg.c"): "module",
    }
    assert cycles(pkg, ("module",)) == [["pkg.c", "pkg.sub.d"]]
    assert cycles(pkg, EXECUTED) == [["pkg.a", "pkg.b"], ["pkg.c", "pkg.sub.d"]]
    assert cycles(pkg, KINDS) == [["pkg.a", "pkg.b", "pkg.c", "pkg.sub.d"]]


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycle(package: str) -> None:
    pkg = load(package)
    found = cycles(pkg, KINDS)
    assert not found, f"{package} has import cycles:\n" + "\n".join(describe(pkg, c) for c in found)


def report() -> int:
    """Print every cycle, first those of module-level edges, then those a deferred, then a
    TYPE_CHECKING import closes; exit 1 when the test would fail."""
    failing = 0
    for package in PACKAGES:
        pkg = load(package)
        seen: list[set[str]] = []
        for label, kinds in (
            ("module-level", ("module",)),
            ("closed by a deferred import", EXECUTED),
            ("closed by a TYPE_CHECKING import", KINDS),
        ):
            for component in cycles(pkg, kinds):
                if set(component) in seen:
                    continue
                seen.append(set(component))
                print(f"{package}: {label}")
                print(describe(pkg, component))
                failing += 1
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(report())
