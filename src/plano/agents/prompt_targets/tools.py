"""Prompt targets compiled once at config load: each target, its parameters with normalised types,
and the OpenAI tool it is offered to the function-calling model as."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from plano.config.sections import (
    EndpointConfig,
    PromptParameterConfig,
    PromptTargetConfig,
)

# The original's normalisation: every spelling maps to one of six names; unknown ones are `str`.
_TYPES: Final = {
    "int": "int",
    "integer": "int",
    "float": "float",
    "number": "float",
    "bool": "bool",
    "boolean": "bool",
    "str": "str",
    "string": "str",
    "list": "list",
    "array": "list",
    "dict": "dict",
    "dictionary": "dict",
    "object": "dict",
}


def normalise_type(name: str) -> str:
    """`integer` -> `int`, `boolean` -> `bool`, `string` -> `str`, ...; unknown -> `str`."""
    return _TYPES.get(name.strip().lower(), "str")


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    description: str
    type: str  # normalised: int, float, bool, str, list, dict
    required: bool
    default: Any
    enum: tuple[Any, ...] | None
    format: str | None

    @classmethod
    def of(cls, p: PromptParameterConfig) -> Parameter:
        enum = tuple(p.enum) if p.enum is not None else None
        return cls(
            p.name, p.description, normalise_type(p.type), p.required, p.default, enum, p.format
        )

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "description": self.description}
        if self.required:
            out["required"] = True
        if self.enum is not None:
            out["enum"] = list(self.enum)
        if self.default is not None:
            out["default"] = self.default
        if self.format is not None:
            out["format"] = self.format
        return out


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a target's API lives: the `endpoints` entry joined with the target's path."""

    name: str
    origin: str  # scheme://host:port
    host_header: str | None
    path: str
    method: str
    headers: tuple[tuple[str, str], ...]  # `http_headers`, env-substituted at load
    connect_timeout: float | None


@dataclass(frozen=True, slots=True)
class Target:
    name: str
    description: str
    default: bool
    dispatch: bool  # auto_llm_dispatch_on_response
    system_prompt: str | None
    parameters: tuple[Parameter, ...]
    endpoint: Endpoint | None
    tool: Mapping[str, Any] = field(default_factory=dict)

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters)


_JSON_SCHEMA: Final = {
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "str": "string",
    "list": "array",
    "dict": "object",
}


def json_schema_tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """A tool with JSON Schema parameter types (`integer`, `string`...), as providers' native
    tool calling expects: the original's own type names, `required` flags and free-text
    `format` are what Arch-Function reads, not JSON Schema."""
    fn = tool["function"]
    properties = {}
    for name, p in fn["parameters"]["properties"].items():
        prop: dict[str, Any] = {"type": _JSON_SCHEMA[p["type"]]}
        described = p["description"]
        if "format" in p:
            described = f"{described} (format: {p['format']})"
        prop["description"] = described
        for key in ("enum", "default"):
            if key in p:
                prop[key] = p[key]
        if prop["type"] == "array":
            prop["items"] = {}
        properties[name] = prop
    parameters = {**fn["parameters"], "properties": properties}
    return {"type": "function", "function": {**fn, "parameters": parameters}}


def tool_of(name: str, description: str, parameters: Sequence[Parameter]) -> dict[str, Any]:
    """The OpenAI tool a target is offered as (types in the original's normalised names)."""
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": {p.name: p.schema() for p in parameters},
                "required": [p.name for p in parameters if p.required],
            },
        },
    }


def _endpoint(
    t: PromptTargetConfig,
    endpoints: Mapping[str, EndpointConfig],
    agents: Mapping[str, str],
) -> Endpoint | None:
    ref = t.endpoint
    if ref is None:
        return None
    ec = endpoints.get(ref.name)
    host_header = None
    if ec is not None:
        host, port = ec.host_port
        origin = f"{ec.protocol}://{host}:{port}"
        host_header = ec.http_host
    elif ref.name in agents:  # an agent's url serves as an endpoint (the original allows it)
        parts = urlsplit(agents[ref.name])
        origin = f"{parts.scheme}://{parts.netloc}"
    else:
        return None
    return Endpoint(
        name=ref.name,
        origin=origin,
        host_header=host_header,
        path=ref.path if ref.path.startswith("/") else "/" + ref.path,
        method=ref.http_method,
        # `$VAR` in http_headers was substituted when the config was loaded.
        headers=tuple(dict(ref.http_headers).items()),
        connect_timeout=(
            float(ec.connect_timeout) if ec is not None and ec.connect_timeout is not None else None
        ),
    )


class TargetTable:
    """Every prompt target of the config, by name, with the tools list built once."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.by_name: dict[str, Target] = {t.name: t for t in targets}
        self.default = next((t for t in targets if t.default), None)
        callable_ = [t for t in targets if not t.default]
        # As Arch-Function reads them, and with JSON Schema types for native tool calling.
        self.tools: tuple[Mapping[str, Any], ...] = tuple(t.tool for t in callable_)
        self.schema_tools = tuple(json_schema_tool(t) for t in self.tools)

    def __bool__(self) -> bool:
        return bool(self.by_name)


def build_targets(
    targets: Sequence[PromptTargetConfig],
    endpoints: Mapping[str, EndpointConfig],
    agents: Mapping[str, str] | None = None,
) -> TargetTable:
    out = []
    for t in targets:
        params = tuple(Parameter.of(p) for p in t.parameters)
        out.append(
            Target(
                name=t.name,
                description=t.description,
                default=t.default,
                dispatch=t.auto_llm_dispatch_on_response,
                system_prompt=t.system_prompt,
                parameters=params,
                endpoint=_endpoint(t, endpoints, agents or {}),
                tool=tool_of(t.name, t.description, params),
            )
        )
    return TargetTable(out)
