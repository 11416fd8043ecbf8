"""Clusters pick Bedrock's credential once, at build time, from the config and the environment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from plano.upstream.clusters import Cluster, build_clusters
from tests.unit.config.cases import load

CONFIG = """
version: v0.4.0
listeners:
  - name: llm
    type: model
model_providers:
  - model: amazon_bedrock/us.amazon.nova-pro-v1:0
    base_url: https://bedrock-runtime.eu-west-1.amazonaws.com
    default: true
  - model: amazon_bedrock/anthropic.claude-3-haiku-20240307-v1:0
    base_url: https://bedrock-runtime.eu-west-1.amazonaws.com
    access_key: configured-key
"""


def bedrock(env: Mapping[str, str]) -> list[Cluster]:
    return [c for c in build_clusters(load(CONFIG), env) if c.provider == "amazon_bedrock"]


SIGV4_ENV = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"}


def test_sigv4_from_environment_and_configured_key_wins() -> None:
    nova, claude = bedrock(SIGV4_ENV)
    assert nova.access_key is None and nova.signer is not None
    assert nova.signer.region == "eu-west-1"
    assert claude.access_key == "configured-key" and claude.signer is None
    url = nova.url(nova.row.chat_api, nova.model_id, False)
    headers = dict(
        nova.signer.headers(
            url, {"content-type": "application/json", "user-agent": "x"}, b"{}", datetime.now(UTC)
        )
    )
    assert (
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,"
        in (headers["authorization"])
    )
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/bedrock/aws4_request" in headers["authorization"]


def test_bearer_token_from_environment() -> None:
    nova, _ = bedrock({**SIGV4_ENV, "AWS_BEARER_TOKEN_BEDROCK": "bt"})
    assert nova.access_key == "bt" and nova.signer is None
    assert nova.auth(nova.row.chat_api, None) == (("authorization", "Bearer bt"),)


def test_no_credentials_at_all() -> None:
    nova, _ = bedrock({})
    assert nova.access_key is None and nova.signer is None
