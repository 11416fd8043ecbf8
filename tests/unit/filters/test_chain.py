from __future__ import annotations

import json
from typing import Any

import pytest

from plano.config import load_config_text
from plano.filters.chain import FilterTable, compile_chain, passed_headers
from plano.filters.http_filter import HttpFilter
from plano.filters.mcp_filter import McpFilter
from plano.listeners.app import build_app
from plano.listeners.model.listener import ModelListener
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


def model_listener(state: Any) -> Any:
    handler = state.listeners[0].routes[("POST", "/v1/chat/completions")].handler
    cells = [c.cell_contents for c in handler.__closure__]
    return next(c for c in cells if isinstance(c, ModelListener))


def test_model_listener_without_filters_has_no_chain() -> None:
    state = build_app(load_config_text(CONFIG % "", source="t.yaml", env={}))
    listener = model_listener(state)
    assert listener._input_chain is None and listener._output_chain is None


def test_model_listener_chains_are_compiled_at_load() -> None:
    text = CONFIG % ", input_filters: [h, m], output_filters: [h]"
    state = build_app(load_config_text(text, source="t.yaml", env={}))
    listener = model_listener(state)
    assert listener._input_chain.ids == ("h", "m")
    assert listener._output_chain.ids == ("h",)


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
