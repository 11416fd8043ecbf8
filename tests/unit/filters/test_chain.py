from __future__ import annotations

import json
from typing import Any

import pytest

from plano.config import load_config_text
from plano.filters.chain import FilterTable, compile_chain, passed_headers
from plano.filters.http_filter import HttpFilter
from plano.filters.mcp_filter import McpFilter
from plano.listeners.app import build_app
from plano.listeners.model.relay import Relay
from plano.listeners.model.stages import InputFilters
from plano.listeners.pipeline import Pipeline
from plano.upstream.lean import LeanTransport

CONFIG = """
version: v0.3.0
agents: [{id: ag, url: "http://127.0.0.1:7001"}]
filters:
  - {id: h, url: "http://127.0.0.1:7002", type: http}
  - {id: m, url: "http://127.0.0.1:7003/ignored"}
  - {id: t, url: "http://127.0.0.1:7004", tool: rewrite}
model_providers:
  - {model: openai/gpt-4o, access_key: k, default: true}
listeners:
  - {name: llm, type: model, port: 0%s}
"""


def table() -> FilterTable:
    config = load_config_text(CONFIG % "", source="t.yaml", env={})
    return FilterTable(config.filters, config.agents, LeanTransport())


def test_empty_chain_compiles_to_none() -> None:
    assert compile_chain((), table()) is None


def test_chain_keeps_order_and_shares_filters() -> None:
    t = table()
    chain = compile_chain(("h", "m", "ag"), t)
    assert chain is not None
    assert chain.ids == ("h", "m", "ag")
    kinds = [type(f) for f in chain.filters]
    assert kinds == [HttpFilter, McpFilter, McpFilter]
    again = compile_chain(("h",), t)
    assert again is not None and again.filters[0] is chain.filters[0]


def test_mcp_endpoint_and_tool_defaults() -> None:
    t = table()
    m, tool = t.get("m"), t.get("t")
    assert isinstance(m, McpFilter) and isinstance(tool, McpFilter)
    assert m.endpoint == "http://127.0.0.1:7003/mcp"
    assert m.tool == "m"
    assert tool.tool == "rewrite"


def test_unknown_filter_id() -> None:
    with pytest.raises(KeyError):
        table().get("nope")


def chat_stages(state: Any) -> tuple[Any, ...]:
    """The stages of the model listener's chat route, as compiled by `build_app`."""
    handler = state.listeners[0].routes[("POST", "/v1/chat/completions")].handler
    pipeline = handler.__self__
    assert isinstance(pipeline, Pipeline)
    return pipeline.stages


def test_model_listener_without_filters_has_no_chain() -> None:
    state = build_app(load_config_text(CONFIG % "", source="t.yaml", env={}))
    stages = chat_stages(state)
    assert not any(isinstance(s, InputFilters) for s in stages)
    assert next(s for s in stages if isinstance(s, Relay)).output is None


def test_model_listener_chains_are_compiled_at_load() -> None:
    text = CONFIG % ", input_filters: [h, m], output_filters: [h]"
    state = build_app(load_config_text(text, source="t.yaml", env={}))
    stages = chat_stages(state)
    inputs = next(s for s in stages if isinstance(s, InputFilters))
    assert inputs.chain.ids == ("h", "m")
    output = next(s for s in stages if isinstance(s, Relay)).output
    assert output is not None and output.ids == ("h",)


def test_passed_headers_drop_framing_and_internal() -> None:
    raw = [
        (b"content-length", b"5"),
        (b"host", b"x"),
        (b"authorization", b"Bearer k"),
        (b"x-arch-upstream", b"spoofed"),
        (b"traceparent", b"00-abc"),
    ]
    assert passed_headers(raw) == [("authorization", "Bearer k"), ("traceparent", "00-abc")]
    json.dumps(passed_headers(raw))
