"""Each listener's pipelines as the composition root compiles them, for a bare config and for one
that uses every optional stage; docs/architecture.md lists exactly these.

Regenerate the docs block with `PLANO_PIPELINES_WRITE=1 python -m pytest tests/unit/listeners`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from plano.config import load_config_text
from plano.listeners.app import build_app
from plano.listeners.pipeline import Pipeline

DOC = Path(__file__).resolve().parents[3] / "docs" / "architecture.md"
BLOCK = re.compile(r"<!-- pipelines -->\n.*?<!-- /pipelines -->\n", re.S)

BARE = """
version: v0.4.0
listeners:
  - {name: llm, type: model, address: 127.0.0.1, port: 12000}
  - name: agents
    type: agent
    address: 127.0.0.1
    port: 8001
    agents: [{id: a, description: the only agent}]
agents:
  - {id: a, url: "http://127.0.0.1:9"}
model_providers:
  - {model: openai/gpt-4o, access_key: sk-a, default: true}
"""

FULL = """
version: v0.4.0
listeners:
  - name: llm
    type: model
    address: 127.0.0.1
    port: 12000
    input_filters: [guard]
    output_filters: [guard]
    overload: {max_concurrent_requests: 100}
  - {name: prompts, type: prompt, address: 127.0.0.1, port: 10000}
endpoints:
  app: {endpoint: "127.0.0.1:9"}
prompt_targets:
  - name: weather
    description: Weather.
    endpoint: {name: app, path: /weather}
filters:
  - {id: guard, url: "http://127.0.0.1:9", type: http}
model_providers:
  - {model: openai/gpt-4o, access_key: sk-a, default: true, retry_policy: {num_retries: 2}}
ratelimits:
  - model: openai/gpt-4o
    selector: {key: x-user, value: "*"}
    limit: {tokens: 1000, unit: minute}
state_storage: {type: memory}
tracing: {random_sampling: 100, opentracing_grpc_endpoint: "http://127.0.0.1:9"}
access: {keys: {enabled: true}}
"""


def pipelines(text: str) -> dict[str, list[str]]:
    state = build_app(load_config_text(text, source="t.yaml", env={}))
    out: dict[str, list[str]] = {}
    for lr in state.listeners:
        for (method, path), route in sorted(lr.routes.items()):
            pipeline: Any = getattr(route.handler, "__self__", None)
            if isinstance(pipeline, Pipeline):
                out[f"{lr.listener.type} {method} {path}"] = pipeline.names()
    return out


def test_a_bare_model_route_compiles_only_what_it_uses() -> None:
    chat = pipelines(BARE)["model POST /v1/chat/completions"]
    assert chat == [
        "ReadBody",
        "DecodeJson",
        "Decode",
        "Route",
        "Build",
        "ModelConversation",  # agentic signals are on by default (reference §9.3)
        "Send",
        "Relay",
        "RememberTurn",
    ]


def test_configured_features_add_their_stages_in_order() -> None:
    full = pipelines(FULL)
    assert full["model POST /v1/chat/completions"] == [
        "OverloadGate",
        "ReadBody",
        "DecodeJson",
        "Decode",
        "Authenticate",
        "InputFilters",
        "Route",
        "Build",
        "Authorize",
        "ModelConversation",
        "RateLimit",
        "Send",
        "Relay",
        "RememberTurn",
    ]
    responses = full["model POST /v1/responses"]
    assert responses.index("ContinueConversation") == responses.index("Authorize") + 1
    assert "CountTokens" in full["model POST /v1/messages/count_tokens"]


def test_embeddings_reuse_the_model_stages_that_apply() -> None:
    assert pipelines(BARE)["model POST /v1/embeddings"] == [
        "ReadBody",
        "DecodeJson",
        "DecodeEmbeddings",
        "BuildEmbeddings",
        "Send",
        "RelayEmbeddings",
    ]
    assert pipelines(FULL)["model POST /v1/embeddings"] == [
        "OverloadGate",
        "ReadBody",
        "DecodeJson",
        "DecodeEmbeddings",
        "Authenticate",
        "BuildEmbeddings",
        "Authorize",
        "RateLimit",
        "Send",
        "RelayEmbeddings",
    ]


def test_the_prompt_listener_is_a_pipeline_of_its_stages() -> None:
    assert pipelines(FULL)["prompt POST /v1/chat/completions"] == [
        "ReadBody",
        "DecodeJson",
        "Authenticate",  # gateway keys are on in FULL
        "ChatView",
        "SubCallHeaders",
        "DetectIntent",
        "Clarify",
        "CheckCall",
        "CallEndpoint",
        "Respond",
    ]


def test_every_listener_shares_the_decode_stages() -> None:
    for name, stages in {**pipelines(BARE), **pipelines(FULL)}.items():
        if "GET" not in name:
            assert [s for s in stages if s != "OverloadGate"][:2] == ["ReadBody", "DecodeJson"]


def render() -> str:
    lines = ["<!-- pipelines -->", ""]
    for title, text in (("A bare config", BARE), ("Every optional stage on", FULL)):
        lines.append(f"{title}:")
        lines.append("")
        lines.append("```")
        for route, stages in pipelines(text).items():
            lines.append(f"{route}")
            lines.append(f"    {' → '.join(stages)}")
        lines.append("```")
        lines.append("")
    lines.append("<!-- /pipelines -->")
    return "\n".join(lines) + "\n"


def test_docs_list_the_pipelines() -> None:
    text = DOC.read_text()
    block = render()
    if os.environ.get("PLANO_PIPELINES_WRITE"):
        DOC.write_text(BLOCK.sub(lambda _: block, text))
        text = DOC.read_text()
    found = BLOCK.search(text)
    assert found is not None, "docs/architecture.md has no <!-- pipelines --> block"
    assert found.group(0) == block, "regenerate with PLANO_PIPELINES_WRITE=1"
