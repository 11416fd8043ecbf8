"""Which of Plano's modules run compiled (mypyc), and the guard against stale compiled modules.

A compiled build (setup.py) ships `plano/_compiled.json`: the sha256 of each compiled module's
source. Python imports an extension module before the `.py` beside it, so a compiled module whose
source was edited afterwards (a developer's in-place build, a hand-patched install) would run the
old code silently. `guard()`, called by `plano/__init__` before any other Plano module loads,
prevents that: when a source no longer matches its digest, or when `PLANO_PURE=1` is set, every
compiled module is imported from its source instead (all or none: compiled modules call each
other natively, so one module's source beside its compiled callers would still not be what runs),
with a warning in the stale case. This module and `plano/__init__` are never compiled.
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Final

PACKAGE_DIR: Final = Path(__file__).resolve().parent
MANIFEST: Final = PACKAGE_DIR / "_compiled.json"
PURE_ENV: Final = "PLANO_PURE"


@dataclass(frozen=True, slots=True)
class Status:
    """What the build compiled and what runs."""

    built: tuple[str, ...]  # module names the build compiled (empty: a pure install)
    stale: tuple[str, ...]  # of those, the ones whose source changed since the build
    forced_pure: bool  # PLANO_PURE=1 at run time

    @property
    def active(self) -> bool:
        return bool(self.built) and not self.stale and not self.forced_pure

    def describe(self) -> str:
        if not self.built:
            return "pure Python"
        if self.forced_pure:
            return f"pure Python ({PURE_ENV}=1; {len(self.built)} modules built compiled)"
        if self.stale:
            return f"pure Python ({len(self.stale)} compiled modules older than their source)"
        return f"compiled: {len(self.built)} modules (mypyc)"


class _SourceFirst(importlib.abc.MetaPathFinder):
    """Imports the listed modules from their `.py` files, ahead of the extension modules."""

    def __init__(self, names: frozenset[str], package_dir: Path = PACKAGE_DIR) -> None:
        self.names = names
        self.package_dir = package_dir

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.names:
            return None
        parts = fullname.split(".")[1:]
        package = self.package_dir.joinpath(*parts)
        if (package / "__init__.py").is_file():
            return importlib.util.spec_from_file_location(
                fullname, package / "__init__.py", submodule_search_locations=[str(package)]
            )
        return importlib.util.spec_from_file_location(fullname, package.with_suffix(".py"))


def _module_name(relative: str) -> str:
    dotted = relative.removesuffix(".py").replace("/", ".")
    return dotted.removesuffix(".__init__")


def _stale(manifest: Path, digests: dict[str, str]) -> list[str]:
    """Sources changed since the build: only those newer than the manifest are hashed."""
    since = manifest.stat().st_mtime
    out = []
    for relative, digest in digests.items():
        source = manifest.parent.parent / relative
        try:
            if source.stat().st_mtime <= since:
                continue
            if hashlib.sha256(source.read_bytes()).hexdigest() == digest:
                continue
        except OSError:
            continue  # a source removed from an install: its compiled module is all there is
        out.append(_module_name(relative))
    return out


def read(manifest: Path = MANIFEST) -> Status:
    """The status a manifest (`<package>/_compiled.json`) and the environment describe."""
    forced = os.environ.get(PURE_ENV, "").strip().lower() not in ("", "0", "false", "no")
    try:
        digests: dict[str, str] = json.loads(manifest.read_bytes())["sources"]
    except (OSError, ValueError, KeyError, TypeError):
        return Status((), (), forced)
    built = tuple(sorted(_module_name(r) for r in digests))
    stale = () if forced else tuple(sorted(_stale(manifest, digests)))
    return Status(built, stale, forced)


_STATUS: list[Status] = []  # set once by guard()


def guard() -> Status:
    """Decides, before any compiled module loads, whether the compiled modules may run."""
    if _STATUS:
        return _STATUS[0]
    status = read()
    _STATUS.append(status)
    if status.built and not status.active:
        sys.meta_path.insert(0, _SourceFirst(frozenset(status.built)))
    if status.stale:
        shown = ", ".join(status.stale[:5]) + (" ..." if len(status.stale) > 5 else "")
        warnings.warn(
            f"plano: the source of {len(status.stale)} compiled modules changed since the build "
            f"({shown}): running every module from source; rebuild to compile them again "
            "(pip install ., or PLANO_COMPILE=1 pip install -e .)",
            RuntimeWarning,
            stacklevel=2,
        )
    return status


def is_compiled(module: ModuleType) -> bool:
    """Whether a loaded module is an extension module (compiled) rather than Python source."""
    return isinstance(getattr(module, "__loader__", None), importlib.machinery.ExtensionFileLoader)
