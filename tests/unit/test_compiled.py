"""The compiled-modules guard: a compiled module never hides an edit of its source."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from plano import compiled


def _package(tmp_path: Path) -> Path:
    """A package `fake` with a module and a subpackage, and a manifest of their sources."""
    pkg = tmp_path / "fake"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("VALUE = 1\n")
    (pkg / "sub" / "__init__.py").write_text("NAME = 'sub'\n")
    digests = {
        f"fake/{p}": hashlib.sha256((pkg / p).read_bytes()).hexdigest()
        for p in ("mod.py", "sub/__init__.py")
    }
    (pkg / "_compiled.json").write_text(json.dumps({"sources": digests}))
    old = (pkg / "_compiled.json").stat().st_mtime - 10
    for p in ("mod.py", "sub/__init__.py"):
        os.utime(pkg / p, (old, old))
    return pkg


def test_a_build_whose_sources_are_unchanged_runs_compiled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLANO_PURE", raising=False)
    status = compiled.read(_package(tmp_path) / "_compiled.json")
    assert status.built == ("fake.mod", "fake.sub") and status.stale == ()
    assert status.active and status.describe() == "compiled: 2 modules (mypyc)"


def test_an_edited_source_makes_every_module_run_from_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLANO_PURE", raising=False)
    pkg = _package(tmp_path)
    (pkg / "mod.py").write_text("VALUE = 2\n")
    status = compiled.read(pkg / "_compiled.json")
    assert status.stale == ("fake.mod",) and not status.active
    assert "older than their source" in status.describe()


def test_a_source_touched_but_unchanged_is_not_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLANO_PURE", raising=False)
    pkg = _package(tmp_path)
    (pkg / "mod.py").write_text("VALUE = 1\n")  # newer than the manifest, same bytes
    assert compiled.read(pkg / "_compiled.json").active


def test_plano_pure_turns_the_compiled_modules_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANO_PURE", "1")
    status = compiled.read(_package(tmp_path) / "_compiled.json")
    assert status.forced_pure and not status.active
    assert status.describe().startswith("pure Python (PLANO_PURE=1")


def test_without_a_manifest_the_install_is_pure(tmp_path: Path) -> None:
    status = compiled.read(tmp_path / "_compiled.json")
    assert status.built == () and not status.active and status.describe() == "pure Python"


def test_the_source_finder_points_the_listed_modules_at_their_sources(tmp_path: Path) -> None:
    pkg = _package(tmp_path)
    finder = compiled._SourceFirst(frozenset({"fake.mod", "fake.sub"}), pkg)
    mod = finder.find_spec("fake.mod", None)
    sub = finder.find_spec("fake.sub", None)
    assert mod is not None and mod.origin == str(pkg / "mod.py")
    assert sub is not None and sub.origin == str(pkg / "sub" / "__init__.py")
    assert sub.submodule_search_locations == [str(pkg / "sub")]
    assert finder.find_spec("fake.other", None) is None


def _setup_constant(name: str) -> tuple[str, ...]:
    """A tuple constant of setup.py, read without running it (running it builds)."""
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            value = ast.literal_eval(node.value)
            assert isinstance(value, tuple)
            return value
    raise AssertionError(f"setup.py has no {name}")


ROOT = Path(__file__).resolve().parents[2]


def test_what_setup_py_compiles_exists_and_what_it_leaves_out_is_inside_it() -> None:
    compiled = _setup_constant("COMPILED")
    left_out = _setup_constant("NOT_COMPILED")
    assert compiled and all((ROOT / "src" / entry).exists() for entry in compiled)
    for entry in left_out:
        assert (ROOT / "src" / entry).is_file()
        assert any(entry.startswith(c.removesuffix(".py")) for c in compiled), entry
    # plano/__init__ and the guard itself must stay Python: they decide what may run compiled
    assert not any(c in ("plano", "plano/__init__.py", "plano/compiled.py") for c in compiled)
