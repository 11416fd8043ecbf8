"""Listeners: defaults by type, legacy object form, filter_chain alias, uniqueness rules."""

from __future__ import annotations

import pytest

from tests.unit.config.cases import assert_problem, errors, find, load, one_error

PROVIDERS = """
model_providers:
  - {model: openai/gpt-4o, access_key: k}
"""


def test_defaults_depend_on_the_type() -> None:
    cfg = load(
        """
        version: v0.4.0
        agents: [{id: a1, url: "http://localhost:9000"}]
        listeners:
          - {name: m, type: model}
          - {name: p, type: prompt}
          - name: ag
            type: agent
            port: 8001
            agents: [{id: a1, description: first}]
        """
    )
    got = [(lc.name, lc.address, lc.port, lc.timeout, lc.max_retries) for lc in cfg.listeners]
    assert got == [
        ("m", "0.0.0.0", 12000, 300.0, None),
        ("p", "0.0.0.0", 10000, 300.0, None),
        ("ag", "0.0.0.0", 8001, 30.0, None),
    ]
    agent = cfg.listeners[2].agents[0]
    assert (agent.id, agent.description, agent.default, agent.input_filters) == (
        "a1",
        "first",
        False,
        (),
    )


def test_agent_listener_needs_a_port() -> None:
    problem = one_error("version: v0.4.0\nlisteners:\n  - {name: ag, type: agent}\n")
    assert_problem(problem, "listeners[0]", 3, "an agent listener needs a 'port'")


def test_a_model_listener_is_added_when_none_is_declared() -> None:
    cfg = load("version: v0.4.0\nlisteners:\n  - {name: p, type: prompt}\n")
    assert [(lc.name, lc.type, lc.port) for lc in cfg.listeners] == [
        ("p", "prompt", 10000),
        ("egress_traffic", "model", 12000),
    ]
    assert cfg.model_listener.name == "egress_traffic"
    cfg = load("version: v0.4.0\nlisteners: []\n")
    assert cfg.model_listener.port == 12000


def test_added_model_listener_avoids_a_taken_name() -> None:
    cfg = load("version: v0.4.0\nlisteners:\n  - {name: egress_traffic, type: prompt}\n")
    assert cfg.model_listener.name == "model_listener"


def test_legacy_object_form() -> None:
    cfg = load(
        """
        version: 0.1-beta
        listeners:
          ingress_traffic: {address: 127.0.0.1, port: 10010, message_format: openai, timeout: 5s}
          egress_traffic: {port: 12010, timeout: 60s}
        """
    )
    got = [(lc.name, lc.type, lc.address, lc.port, lc.timeout) for lc in cfg.listeners]
    assert got == [
        ("egress_traffic", "model", "0.0.0.0", 12010, 60.0),
        ("ingress_traffic", "prompt", "127.0.0.1", 10010, 5.0),
    ]
    assert [(w.path, w.line) for w in cfg.warnings] == [("listeners", 2)]
    assert "deprecated" in cfg.warnings[0].message


def test_legacy_object_problems_point_at_what_was_written() -> None:
    found = errors(
        """
        version: v0.4.0
        listeners:
          egress_traffic: {port: 99999, message_format: anthropic, colour: red}
          sideways_traffic: {}
        """
    )
    assert [(p.path, p.line, p.message) for p in found] == [
        ("listeners.egress_traffic.colour", 3, "unknown key 'colour'"),
        ("listeners.egress_traffic", 3, "message_format must be 'openai'; got 'anthropic'"),
        ("listeners.sideways_traffic", 4, "unknown key 'sideways_traffic'"),
    ]
    ports = errors("version: v0.4.0\nlisteners:\n  egress_traffic:\n    port: 99999\n")
    assert_problem(ports[0], "listeners.egress_traffic.port", 4, "less than or equal to 65535")


@pytest.mark.parametrize("where", ["listener", "agent"])
def test_filter_chain_is_input_filters(where: str) -> None:
    cfg = load(
        """
        version: v0.4.0
        agents: [{id: a1, url: "http://localhost:9000"}]
        filters: [{id: f1, url: "http://localhost:9001"}]
        listeners:
          - name: m
            type: model
            FILTER_HERE_listener
          - name: ag
            type: agent
            port: 8001
            agents:
              - id: a1
                description: d
                FILTER_HERE_agent
        """.replace(f"FILTER_HERE_{where}", "filter_chain: [f1]")
        .replace("FILTER_HERE_listener", "")
        .replace("FILTER_HERE_agent", "")
    )
    if where == "listener":
        assert cfg.model_listener.input_filters == ("f1",)
    else:
        assert cfg.listeners[1].agents[0].input_filters == ("f1",)


def test_filter_chain_and_input_filters_together_is_an_error() -> None:
    problem = one_error(
        """
        version: v0.4.0
        filters: [{id: f1, url: "http://localhost:9001"}]
        listeners:
          - name: m
            type: model
            input_filters: [f1]
            filter_chain: [f1]
        """
    )
    assert_problem(problem, "listeners[0].filter_chain", 7, "not both")


def test_problems_inside_filter_chain_keep_its_name() -> None:
    problem = one_error(
        """
        version: v0.4.0
        listeners:
          - name: m
            type: model
            filter_chain: [nope]
        """
    )
    assert_problem(problem, "listeners[0].filter_chain[0]", 5, "input_filters id 'nope'")


def test_only_one_model_listener_and_one_prompt_listener() -> None:
    found = errors(
        """
        version: v0.4.0
        listeners:
          - {name: a, type: model, port: 1}
          - {name: b, type: model, port: 2}
          - {name: c, type: prompt, port: 3}
          - {name: d, type: prompt, port: 4}
        """
    )
    assert_problem(
        find(found, "listeners[1].type"), "listeners[1].type", 4, "only one model listener"
    )
    assert_problem(
        find(found, "listeners[3].type"), "listeners[3].type", 6, "only one prompt listener"
    )


def test_names_and_ports_are_unique() -> None:
    found = errors(
        """
        version: v0.4.0
        agents: [{id: a1, url: "http://localhost:9000"}]
        listeners:
          - {name: m, type: model, port: 8000}
          - {name: m, type: agent, port: 8001, agents: [{id: a1, description: d}]}
          - {name: x, type: agent, address: 127.0.0.1, port: 8000,
             agents: [{id: a1, description: d}]}
          - {name: y, type: agent, port: 0, agents: [{id: a1, description: d}]}
          - {name: z, type: agent, port: 0, agents: [{id: a1, description: d}]}
        """
    )
    assert [(p.path, p.line) for p in found] == [("listeners[1].name", 5), ("listeners[2].port", 6)]
    assert found[0].message == "listener name 'm' is used twice"
    assert found[1].message == "port 8000 is already used by listener 'm'"


@pytest.mark.parametrize("port", [-1, 65536, "http"])
def test_port_range(port: object) -> None:
    problem = one_error(
        f"version: v0.4.0\nlisteners:\n  - {{name: m, type: model, port: {port}}}\n"
    )
    assert problem.path == "listeners[0].port"


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::", "::1", "localhost", "gateway.internal", "0.0.0.0"]
)
def test_valid_addresses(address: str) -> None:
    cfg = load(f"version: v0.4.0\nlisteners:\n  - {{name: m, type: model, address: '{address}'}}\n")
    assert cfg.model_listener.address == address


@pytest.mark.parametrize("address", ["not an address", "-bad.host", "a..b", "http://x"])
def test_invalid_addresses(address: str) -> None:
    problem = one_error(
        f"version: v0.4.0\nlisteners:\n  - {{name: m, type: model, address: '{address}'}}\n"
    )
    assert_problem(problem, "listeners[0].address", 3, "is not an IP address or host name")


def test_type_must_be_known() -> None:
    problem = one_error("version: v0.4.0\nlisteners:\n  - {name: m, type: egress}\n")
    assert_problem(
        problem, "listeners[0].type", 3, "must be 'model', 'prompt' or 'agent'; got 'egress'"
    )


def test_inert_or_misplaced_keys_warn() -> None:
    cfg = load(
        """
        version: v0.4.0
        filters: [{id: f1, url: "http://localhost:9001"}]
        listeners:
          - {name: m, type: model}
          - {name: p, type: prompt, max_retries: 2, output_filters: [f1]}
          - {name: ag, type: agent, port: 8001, router: my_router}
        """
    )
    warned = {(w.path, w.line) for w in cfg.warnings}
    assert warned == {
        ("listeners[1].max_retries", 5),
        ("listeners[1].output_filters", 5),
        ("listeners[2]", 6),
        ("listeners[2].router", 6),
    }
