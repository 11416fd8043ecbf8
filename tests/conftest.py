"""Shared fixtures: a fake upstream (`plano mock-llm`) and an in-process gateway on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from hypothesis import settings

from plano.config import load_config_text
from plano.mock.testing import run_mock_in_thread
from plano.runtime.serve import ThreadedGateway, gateway_in_thread

# No per-example deadline: tests never depend on timing, and on a loaded machine (CI, two suites
# on two cores) an example's first call, which may import a module lazily, can take longer than
# hypothesis' default 200 ms and fail a property that holds.
settings.register_profile("plano", deadline=None)
settings.load_profile("plano")


@pytest.fixture(scope="session")
def _mock_session() -> Iterator[Any]:
    with run_mock_in_thread() as handle:
        yield handle


@pytest.fixture
def upstream(_mock_session: Any) -> Iterator[Any]:
    """The fake OpenAI-compatible upstream, clean for each test."""
    _mock_session.clear()
    yield _mock_session
    _mock_session.clear()


GatewayFactory = Callable[..., AbstractContextManager[ThreadedGateway]]


@pytest.fixture
def gateway() -> GatewayFactory:
    """`with gateway(yaml_text, **kw) as gw:` runs a gateway for the config text."""

    def start(
        text: str, env: dict[str, str] | None = None, **kw: Any
    ) -> AbstractContextManager[ThreadedGateway]:
        config = load_config_text(text, source="test.yaml", env=env or {})
        return gateway_in_thread(config, **kw)

    return start
