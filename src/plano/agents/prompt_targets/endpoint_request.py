"""The endpoint request for a checked tool call: `{param}` placeholders in the path filled with
URL-encoded values; the other scalar arguments in the query string (GET) or a JSON object body
(POST, with the path template's own query parameters merged in); the target's `http_headers`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import orjson

from plano.agents.prompt_targets.tools import Endpoint


@dataclass(frozen=True, slots=True)
class EndpointRequest:
    method: str
    url: str
    path: str  # path and query, as sent (for error messages)
    headers: tuple[tuple[str, str], ...]
    body: bytes


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def fill_path(template: str, arguments: Mapping[str, Any]) -> tuple[str, set[str]]:
    """The template with `{name}` replaced by the URL-encoded argument; the names used."""
    used: set[str] = set()
    out: list[str] = []
    i = 0
    while i < len(template):
        start = template.find("{", i)
        end = template.find("}", start + 1) if start >= 0 else -1
        if start < 0 or end < 0:
            out.append(template[i:])
            break
        name = template[start + 1 : end]
        out.append(template[i:start])
        if name in arguments:
            out.append(quote(_scalar_text(arguments[name]), safe=""))
            used.add(name)
        else:
            out.append(template[start : end + 1])
        i = end + 1
    return "".join(out), used


def build_request(
    endpoint: Endpoint, arguments: Mapping[str, Any], extra_headers: tuple[tuple[str, str], ...]
) -> EndpointRequest:
    filled, used = fill_path(endpoint.path, arguments)
    path, _, query = filled.partition("?")
    rest = {k: v for k, v in arguments.items() if k not in used}
    headers = [("content-type", "application/json"), ("x-envoy-max-retries", "3")]
    if endpoint.host_header:
        headers.append(("host", endpoint.host_header))
    if endpoint.method == "GET":
        scalars = [
            (k, _scalar_text(v)) for k, v in rest.items() if isinstance(v, str | int | float | bool)
        ]
        pairs = parse_qsl(query, keep_blank_values=True) + scalars
        full = f"{path}?{urlencode(pairs)}" if pairs else path
        body = b""
    else:
        from_path = dict(parse_qsl(query, keep_blank_values=True))
        full = f"{path}?{query}" if query else path
        body = orjson.dumps({**from_path, **rest})
    return EndpointRequest(
        endpoint.method,
        endpoint.origin + full,
        full,
        (*headers, *extra_headers, *endpoint.headers),
        body,
    )
