"""Tests that monkeypatch a module's globals or a class's methods, and the compiled build.

A module compiled by mypyc (setup.py) calls its own functions, reads its `Final` constants and
calls other compiled modules natively, so a monkeypatch of them reaches no call inside the
compiled code, and its classes refuse new attributes. The few tests that count or steer internal
calls that way run on the pure build (the 3.11 run of .ci/run) and are skipped on the compiled one
(.ci/newest-python), with the reason.
"""

from __future__ import annotations

from types import ModuleType

import pytest

from plano.compiled import is_compiled


def patches(*modules: ModuleType) -> pytest.MarkDecorator:
    """Skip when one of `modules` (the ones the test monkeypatches) runs compiled."""
    names = ", ".join(m.__name__ for m in modules if is_compiled(m))
    return pytest.mark.skipif(
        bool(names), reason=f"monkeypatches compiled code ({names}): covered by the pure run"
    )


def weakrefs(*modules: ModuleType) -> pytest.MarkDecorator:
    """Skip when one of `modules` (whose instances the test watches through a weak reference)
    runs compiled: a weak reference to a mypyc-native instance crashes the interpreter when the
    instance dies (mypy 2.4.1). Plano itself takes no weak reference to its own objects."""
    names = ", ".join(m.__name__ for m in modules if is_compiled(m))
    return pytest.mark.skipif(
        bool(names), reason=f"weak references to compiled instances ({names}): the pure run"
    )
