from __future__ import annotations

from plano.agents.prompt_targets.tools import build_targets, normalise_type
from plano.config import load_config_text

CONFIG = """
version: v0.4.0
listeners: [{name: p, type: prompt, port: 10000}]
model_providers: [{model: openai/gpt-4o, access_key: k, default: true}]
endpoints:
  api: {endpoint: "api.example.com", protocol: https, http_host: api.internal}
prompt_targets:
  - name: weather
    description: Weather at a place.
    parameters:
      - {name: city, description: The city, type: string, required: true, format: "City, State"}
      - {name: days, description: Days, type: integer, default: 1}
      - {name: unit, description: Unit, type: weird, enum: [c, f]}
    endpoint:
      name: api
      path: weather
      http_method: POST
      http_headers: {Authorization: "Bearer ${TOKEN}", X-Other: "$MISSING"}
  - {name: fallback, description: Everything else., default: true}
"""


def test_types_are_normalised_as_the_original_does() -> None:
    assert [normalise_type(t) for t in ("integer", "INT", "boolean", "string", "array")] == [
        "int",
        "int",
        "bool",
        "str",
        "list",
    ]
    assert normalise_type("dictionary") == "dict"
    assert normalise_type("uuid") == "str"


def test_targets_become_tools_and_endpoints() -> None:
    config = load_config_text(CONFIG, source="t.yaml", env={"TOKEN": "s3cret"})
    table = build_targets(config.prompt_targets, config.endpoints)
    assert table.default is not None and table.default.name == "fallback"
    (tool,) = table.tools  # the default target is not offered as a tool
    params = tool["function"]["parameters"]
    assert params["required"] == ["city"]
    assert params["properties"]["city"] == {
        "type": "str",
        "description": "The city",
        "required": True,
        "format": "City, State",
    }
    assert params["properties"]["days"] == {"type": "int", "description": "Days", "default": 1}
    assert params["properties"]["unit"]["type"] == "str"
    assert params["properties"]["unit"]["enum"] == ["c", "f"]
    endpoint = table.by_name["weather"].endpoint
    assert endpoint is not None
    assert endpoint.origin == "https://api.example.com:443"
    assert endpoint.path == "/weather" and endpoint.method == "POST"
    assert endpoint.host_header == "api.internal"
    assert dict(endpoint.headers) == {"Authorization": "Bearer s3cret", "X-Other": ""}


def test_an_unknown_function_calling_model_is_a_config_error() -> None:
    import pytest

    from plano.config import ConfigError

    bad = CONFIG + "overrides: {function_calling_model: openai/nope}\n"
    with pytest.raises(ConfigError) as caught:
        load_config_text(bad, source="t.yaml", env={})
    assert "overrides.function_calling_model" in str(caught.value)
    ok = CONFIG + "overrides: {function_calling_model: gpt-4o, function_calling_backend: tools}\n"
    assert (
        load_config_text(ok, source="t.yaml", env={}).overrides.function_calling_model == "gpt-4o"
    )


def test_native_tools_use_json_schema_types() -> None:
    config = load_config_text(CONFIG, source="t.yaml", env={})
    table = build_targets(config.prompt_targets, config.endpoints)
    (tool,) = table.schema_tools
    props = tool["function"]["parameters"]["properties"]
    assert props["city"] == {"type": "string", "description": "The city (format: City, State)"}
    assert props["days"] == {"type": "integer", "description": "Days", "default": 1}
    assert props["unit"]["type"] == "string" and props["unit"]["enum"] == ["c", "f"]
    assert tool["function"]["parameters"]["required"] == ["city"]
    assert table.tools[0]["function"]["parameters"]["properties"]["city"]["type"] == "str"
