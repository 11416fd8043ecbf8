"""Helpers for the gateway-key tests: configs, the admin API client, SDK clients."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import openai

ADMIN_TOKEN = "admin-token-0123456789abcdef"


def keys_config(upstream: Any, store: str = "memory", *, port: int = 0, extra: str = "") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-provider
    base_url: {upstream.base_url}
    default: true
    pricing: {{input_per_mtok: 1000, output_per_mtok: 2000}}
  - model: openai/gpt-4o-mini
    access_key: sk-provider
    base_url: {upstream.base_url}
  - model: openai/gpt-4.1
    base_url: {upstream.base_url}
    passthrough_auth: true
model_aliases:
  smart: {{target: gpt-4o}}
access:
  keys: {{enabled: true, store: {store}, admin_token: {ADMIN_TOKEN}, cache_ttl: 1s{extra}}}
"""


def admin(
    base: str, method: str, path: str, body: Any = None, token: str | None = ADMIN_TOKEN
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if token is not None:
        req.add_header("authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            return err.code, json.loads(err.read())


def create_key(base: str, **spec: Any) -> tuple[str, str]:
    """(id, key in clear) of a new key made through the admin API."""
    status, doc = admin(base, "POST", "/admin/keys", {"name": "k", **spec})
    assert status == 201, doc
    return doc["id"], doc["key"]


def ask(base: str, key: str, model: str = "gpt-4o", **kw: Any) -> Any:
    with openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=60) as c:
        return c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], **kw
        )
