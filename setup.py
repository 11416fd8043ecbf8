"""Build Plano with its request path compiled to C extensions by mypyc (docs/performance.md).

Everything else about the project lives in pyproject.toml; this file only adds the compiled
modules. A wheel (`pip wheel .`, `pip install .`, the Docker image) compiles the modules of
`COMPILED` (mypy, pinned in pyproject's build requirements, does it) and ships each beside its
source; `plano --version` says which run. Plano stays pure Python when:

- `PLANO_PURE=1` is set at build time (the opt-out);
- the install is editable (`pip install -e .`): a compiled module beside its `.py` would hide a
  developer's edits, so editable installs compile only when asked (`PLANO_COMPILE=1`); the guard
  in plano/compiled.py then runs the sources if any of them changed since the build;
- mypyc or a C compiler is missing, or the compilation fails (e.g. an sdist on a machine without
  gcc): the build warns (`pip -v` shows it) and the wheel holds the sources only.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from setuptools import Distribution, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
SRC = ROOT / "src"
MANIFEST = "plano/_compiled.json"  # written beside the compiled modules: their sources' sha256
GROUP = "plano"  # the shared library: plano__mypyc.<abi>.so

# What compiles with a measured gain (docs/performance.md, "Compiled with mypyc"): the HTTP/1.1
# framing, the wire shapes, the codecs, the IR and the translators. Compiling the listeners, the
# upstream exchange and the signals too made the gateway slower per request, and compiled
# exception classes lose their class-level `status` (errors.py): both stay Python.
COMPILED = (
    "plano/http",
    "plano/wire",
    "plano/codec",
    "plano/ir",
    "plano/translate",
)
# Modules of those packages left as Python, for the reason mypyc gives.
NOT_COMPILED = (
    # subclasses of ConnectionError: mypyc compiles no subclass of most built-in exceptions
    "plano/http/response.py",
)
# mypy options for the build: the build environment holds mypy, not Plano's dependencies
# (pydantic, opentelemetry...); their types are Any there, which compiles to the same behaviour
# (generic operations instead of native ones, on values that are not Plano's own anyway).
MYPY_OPTIONS = (
    "--ignore-missing-imports",
    "--follow-imports=silent",
    "--allow-subclassing-any",
    "--allow-untyped-calls",
    "--no-warn-return-any",
    "--no-warn-unused-ignores",
)


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _editable() -> bool:
    return any(arg in ("editable_wheel", "develop") for arg in sys.argv)


def compile_wanted() -> bool:
    """Whether this build tries to compile (it may still fall back, see `BuildExt`)."""
    if _truthy("PLANO_PURE"):
        return False
    return _truthy("PLANO_COMPILE") or not _editable()


def sources() -> list[str]:
    """The compiled modules' source files, relative to the project (src/plano/...)."""
    skip = {SRC / p for p in NOT_COMPILED}
    out: list[Path] = []
    for entry in COMPILED:
        path = SRC / entry
        found = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        out += [f for f in found if f not in skip]
    return [str(f.relative_to(ROOT)) for f in out]


def _pure(reason: str) -> None:
    msg = f"plano: building pure Python ({reason}); set PLANO_PURE=1 to skip compiling"
    warnings.warn(msg, stacklevel=1)
    print(f"WARNING: {msg}", file=sys.stderr)


_BUILDING = ("bdist_wheel", "build", "build_ext", "install", "editable_wheel", "develop")
_MYPYC: list[tuple[list[str], list[Any]]] = []  # decided once per build


class BuildExt(build_ext):
    """Compiles with mypyc when wanted; falls back to the sources (with a warning) otherwise.

    mypyc runs only for a command that builds (pip also runs setup.py for the metadata and the
    sdist, which need no compiling), and once (build and bdist_wheel both finalize this)."""

    def finalize_options(self) -> None:
        if not _MYPYC:
            building = compile_wanted() and any(arg in _BUILDING for arg in sys.argv)
            _MYPYC.append(self._mypycify() if building else ([], []))
        self.plano_files, self.distribution.ext_modules = _MYPYC[0]
        super().finalize_options()

    def run(self) -> None:
        if not self.plano_files:
            return
        try:
            super().run()
        except Exception as exc:  # no C compiler, missing Python headers, a compile error
            self._remove_outputs()
            _pure(f"the C build failed: {exc}")
            return
        self._write_manifest(self.plano_files)

    def _mypycify(self) -> tuple[list[str], list[Any]]:
        """The compiled files and their extensions; none when mypyc is missing or fails."""
        files = sources()
        try:
            from mypyc.build import mypycify
        except ImportError:
            _pure("mypyc is not installed")
            return [], []
        try:
            extensions: list[Any] = mypycify(
                [*MYPY_OPTIONS, *files], opt_level="3", group_name=GROUP
            )
        except BaseException as exc:  # mypyc exits through SystemExit on a type error
            _pure(f"mypyc failed: {exc!r}")
            return [], []
        return files, extensions

    def _remove_outputs(self) -> None:
        for out in self.get_outputs():
            Path(out).unlink(missing_ok=True)

    def _write_manifest(self, files: list[str]) -> None:
        in_tree = self.inplace or getattr(self, "editable_mode", False)
        base = SRC if in_tree else Path(self.build_lib)
        digests = {
            str(Path(f).relative_to("src")): hashlib.sha256((ROOT / f).read_bytes()).hexdigest()
            for f in files
        }
        body = {"compiler": "mypyc", "python": sys.version.split()[0], "sources": digests}
        (base / MANIFEST).write_text(json.dumps(body, indent=0, sort_keys=True) + "\n")


class PlanoDistribution(Distribution):
    """Platform wheels when compiling (the tag must say which CPython the modules are for)."""

    def has_ext_modules(self) -> bool:
        return compile_wanted()


kwargs: dict[str, Any] = {"cmdclass": {"build_ext": BuildExt}, "distclass": PlanoDistribution}
setup(**kwargs)
