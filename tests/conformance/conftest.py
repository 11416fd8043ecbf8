"""Fixtures of the conformance suite (one fake upstream and one gateway for the whole run) and
the plugin that records each cell's outcome and keeps docs/conformance.md in step with it.

After a run that executed every cell, the outcomes are written to RESULTS and rendered; the run
fails when docs/conformance.md differs from the rendering (``PLANO_CONFORMANCE_WRITE=1``
rewrites it instead). Runs of a subset of the cells leave the document alone."""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, Final

import pytest

from plano.config import load_config_text
from plano.mock.testing import MockHandle, run_mock_in_thread
from plano.runtime.serve import ThreadedGateway, gateway_in_thread
from tests.conformance import report
from tests.conformance.matrix import CLIENTS, UPSTREAMS, Cell, all_cells, route

DOC = report.DOC
RESULTS = report.RESULTS
_outcomes: dict[str, str] = {}
_reasons: dict[str, str] = {}


@dataclass(frozen=True)
class Env:
    mock: MockHandle
    gateway: ThreadedGateway

    @property
    def url(self) -> str:
        return self.gateway.url()


# Model ids where a dialect's behaviour depends on the model family: Bedrock Converse has no
# model-independent thinking field, only Claude's `additionalModelRequestFields.thinking`.
MODEL_IDS: Final = {"amazon_bedrock": "anthropic.claude-conformance-v1"}


def model_id(prefix: str) -> str:
    return MODEL_IDS.get(prefix, f"conf-{prefix}")


def model_for(client: str, upstream: str) -> tuple[str, str]:
    """(the model name a client asks for, the model id the upstream should get)."""
    row = route(client, upstream)
    assert row is not None
    return f"{row.prefix}/{model_id(row.prefix)}", model_id(row.prefix)


def gateway_config(base_url: str) -> str:
    prefixes = sorted(
        {row.prefix for c in CLIENTS for u in UPSTREAMS if (row := route(c, u)) is not None}
    )
    providers = "".join(
        f"  - model: {p}/{model_id(p)}\n"
        f"    access_key: sk-conf-upstream\n"
        f"    base_url: {base_url}\n"
        for p in prefixes
    )
    return (
        "version: v0.4.0\n"
        "listeners:\n"
        "  - {name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}\n"
        f"model_providers:\n{providers}"
    )


@pytest.fixture(scope="session")
def conformance_env() -> Iterator[Env]:
    with run_mock_in_thread(chunks=3) as mock:
        config = load_config_text(gateway_config(mock.base_url), source="conformance.yaml", env={})
        with gateway_in_thread(config) as gw:
            yield Env(mock, gw)


@pytest.fixture
def env(conformance_env: Env) -> Iterator[Env]:
    conformance_env.mock.clear()
    yield conformance_env
    conformance_env.mock.clear()


def _cell(item: pytest.Item) -> Cell | None:
    callspec = getattr(item, "callspec", None)
    cell = callspec.params.get("cell") if callspec is not None else None
    return cell if isinstance(cell, Cell) else None


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[Any]:
    result = yield
    rep: pytest.TestReport = result.get_result()
    cell = _cell(item)
    if cell is None or (rep.when != "call" and rep.passed):
        return
    if isinstance(rep.longrepr, str) and rep.longrepr.startswith("[XPASS(strict)]"):
        outcome = "xpassed"
    elif hasattr(rep, "wasxfail"):
        outcome = "xpassed" if rep.passed else "xfailed"
        _reasons[cell.id] = rep.wasxfail
    elif rep.skipped:
        outcome = "not_applicable"
        _reasons[cell.id] = str(rep.longrepr[-1]).removeprefix("Skipped: ")  # type: ignore[index]
    else:
        outcome = "passed" if rep.passed else "failed"
        if rep.failed:
            crash = getattr(rep.longrepr, "reprcrash", None)
            message = crash.message if crash is not None else rep.longreprtext
            _reasons[cell.id] = " ".join(message.split())[:200]
    if cell.id not in _outcomes or outcome != "passed":
        _outcomes[cell.id] = outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if len(_outcomes) != len(all_cells()):
        return  # a partial run says nothing about the whole matrix
    results = {"outcomes": _outcomes, "reasons": _reasons}
    RESULTS.write_text(json.dumps(results, indent=1, sort_keys=True))
    text = report.render(results)
    if os.environ.get("PLANO_CONFORMANCE_WRITE") == "1":
        DOC.write_text(text)
        return
    if not DOC.exists() or DOC.read_text() != text:
        session.config.get_terminal_writer().line(
            "\ndocs/conformance.md does not match this run's outcomes. Regenerate it with\n"
            "  PLANO_CONFORMANCE_WRITE=1 .venv/bin/python -m pytest -q tests/conformance\n"
            f"(or: .venv/bin/python -m tests.conformance.report {RESULTS})",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
