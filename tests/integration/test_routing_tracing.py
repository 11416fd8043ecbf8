"""Routing decisions are visible in traces: the request span carries the route, the outcome and
the session (embedded router, offline; spans go to `plano trace listen`)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_routing import config
from tests.integration.test_tracing import CLIENT_SPAN, Receiver, env, receiver  # noqa: F401

pytestmark = pytest.mark.integration

TRACE = "1bf92f3577b34da6a3ce929d0e0e4731"


def test_span_attributes_name_the_decision(
    upstream: Any,
    gateway: GatewayFactory,
    receiver: Receiver,  # noqa: F811 (the fixture imported above)
) -> None:
    tracing = f"""tracing:
  random_sampling: 100
  opentracing_grpc_endpoint: http://127.0.0.1:{receiver.grpc_port}
"""
    text = config(upstream, "routing: {router: {type: embedded}}", extra=tracing)
    with gateway(text) as gw:
        c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0)
        with c:
            c.chat.completions.create(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "Write a Java class for a binary tree."}],
                extra_headers={
                    "traceparent": f"00-{TRACE}-{CLIENT_SPAN}-01",
                    "X-Model-Affinity": "trace-session",
                },
            )
    spans = receiver.wait_for(TRACE, spans=2)["spans"]
    span = next(s for s in spans if s["name"].startswith("POST "))
    (routing,) = [s for s in spans if s["name"] == "routing"]  # the embedded router's decision
    assert routing["parent_span_id"] == span["span_id"]
    attrs = span["attributes"]
    assert attrs["plano.route.name"] == "code_generation"
    assert attrs["plano.routing.decision"] == "routed"
    assert attrs["plano.session_id"] == "trace-session"
    assert attrs["llm.model"] == "openai/gpt-4o"
    assert attrs["model.requested"] == "openai/gpt-4o-mini"


def test_router_call_is_a_child_of_the_routing_span(
    upstream: Any,
    gateway: GatewayFactory,
    receiver: Receiver,  # noqa: F811 (the fixture imported above)
) -> None:
    """gateway -> routing -> router model, and gateway -> upstream, in one trace."""
    from tests.integration.test_routing import answer, llm_requests, router_requests

    trace = "2bf92f3577b34da6a3ce929d0e0e4732"
    tracing = f"""tracing:
  random_sampling: 100
  opentracing_grpc_endpoint: http://127.0.0.1:{receiver.grpc_port}
"""
    answer(upstream, '{"route": ["code_generation"]}')
    with gateway(config(upstream, extra=tracing)) as gw:
        c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0)
        with c:
            c.chat.completions.create(
                model="openai/gpt-4o-mini",
                messages=[{"role": "user", "content": "Write a Java class for a binary tree."}],
                extra_headers={"traceparent": f"00-{trace}-{CLIENT_SPAN}-01"},
            )
    spans = {s["name"]: s for s in receiver.wait_for(trace, spans=2)["spans"]}
    request = next(s for name, s in spans.items() if name.startswith("POST "))
    routing = spans["routing"]
    assert request["parent_span_id"] == CLIENT_SPAN
    assert routing["parent_span_id"] == request["span_id"]
    assert routing["attributes"]["route.selected_model"] == "openai/gpt-4o"
    assert routing["attributes"]["plano.route.name"] == "code_generation"
    (router_call,) = router_requests(upstream)
    _, router_trace, router_parent, _ = router_call.headers["traceparent"].split("-")
    assert (router_trace, router_parent) == (trace, routing["span_id"])
    (llm_call,) = llm_requests(upstream)
    assert llm_call.headers["traceparent"].split("-")[2] == request["span_id"]
