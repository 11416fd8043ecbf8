"""A real gateway in front of the mock upstreams, and a keep-alive client to fuzz it with.

The gateway has one provider per upstream dialect (the catalogue row the conformance matrix uses
for each client × upstream pair), all pointing at one `plano mock-llm`. `PAIRS` lists the
(client dialect, upstream dialect, model) triples; `Client.post` sends one body and returns the
status and body. The agent listener (port `gw.port("agent")`) orchestrates between two agents;
the orchestrator model and both agents are the same mock, whose every answer is a route to the
first agent. The mock answers 5xx only when scripted, and nothing here scripts it: every 5xx a
fuzzer sees was made by the gateway.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from plano.config import load_config_text
from plano.mock.testing import MockHandle, run_mock_in_thread
from plano.observability.telemetry import Telemetry
from plano.runtime.serve import ThreadedGateway, gateway_in_thread
from tests.conformance.matrix import CLIENTS, UPSTREAMS, route

# Bedrock Converse has thinking only for Claude models.
_MODEL_IDS: Final = {"amazon_bedrock": "anthropic.claude-fuzz-v1"}


@dataclass(frozen=True)
class Pair:
    client: str
    upstream: str
    model: str  # as the client names it

    @property
    def id(self) -> str:
        return f"{self.client}-{self.upstream}"


def _pairs() -> list[Pair]:
    out = []
    for c in CLIENTS:
        for u in UPSTREAMS:
            row = route(c, u)
            if row is not None:
                out.append(
                    Pair(c, u, f"{row.prefix}/{_MODEL_IDS.get(row.prefix, 'fuzz-' + row.prefix)}")
                )
    return out


PAIRS: Final = _pairs()


def config_text(base_url: str) -> str:
    models = sorted({p.model for p in PAIRS})
    providers = "".join(
        f"  - model: {m}\n    access_key: sk-fuzz\n    base_url: {base_url}\n" for m in models
    )
    return (
        "version: v0.4.0\n"
        f"agents:\n  - {{id: mock_agent, url: {base_url}}}\n"
        f"  - {{id: other_agent, url: {base_url}}}\n"
        "listeners:\n"
        "  - {name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}\n"
        "  - name: agents\n    type: agent\n    address: 127.0.0.1\n    port: 0\n"
        "    router: plano_orchestrator_v1\n"
        "    agents:\n      - {id: mock_agent, description: Answers everything., default: true}\n"
        "      - {id: other_agent, description: Answers nothing.}\n"
        f"model_providers:\n{providers}"
        f"  - model: openai/Plano-Orchestrator\n    access_key: sk-fuzz\n    base_url: {base_url}\n"
    )


ROUTE: Final = '{"route": ["mock_agent"]}'


@contextmanager
def fuzz_gateway() -> Iterator[tuple[MockHandle, ThreadedGateway]]:
    # Every answer routes to the first agent, so the orchestrator's answer is always usable.
    with run_mock_in_thread(chunks=2, max_recorded=0, default_text=ROUTE) as mock:
        config = load_config_text(config_text(mock.base_url), source="fuzz.yaml", env={})
        with gateway_in_thread(config, telemetry=Telemetry()) as gw:
            yield mock, gw


class Client:
    """One keep-alive connection to the gateway (reopened when the gateway closes it)."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        headers = {"content-type": "application/json", "authorization": "Bearer k"}
        for attempt in (0, 1):
            try:
                self._conn.request("POST", path, body, headers)
                response = self._conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self._reopen()
                return response.status, data
            except (ConnectionError, http.client.HTTPException):
                self._reopen()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _reopen(self) -> None:
        self._conn.close()
        self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=30)

    def close(self) -> None:
        self._conn.close()
