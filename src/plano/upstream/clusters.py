"""Clusters: one per configured model provider, everything needed to reach it, built once.

A cluster (Envoy's word) knows its catalogue row, origin, credential policy and extra headers, so
the hot path only joins precomputed pieces.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from plano.config import Config, ModelProviderConfig
from plano.providers.auth import CREDENTIAL_HEADERS, auth_headers
from plano.providers.bedrock_auth import BedrockSigner, bedrock_credential
from plano.providers.catalogue import Api, Auth, ProviderRow, runtime_row
from plano.providers.endpoints import Origin, origin, path_for

_URL_CACHE_LIMIT: Final = 1024


@dataclass(frozen=True, slots=True)
class Cluster:
    name: str  # the provider's config name (defaults to its `model` string)
    provider: str  # canonical prefix as configured (e.g. "openai", "custom")
    model_id: str  # bare model id, "*" for a wildcard cluster
    row: ProviderRow
    origin: Origin
    access_key: str | None
    passthrough_auth: bool
    host_header: str | None
    extra_headers: tuple[tuple[str, str], ...]
    default: bool
    internal: bool
    own_base_url: bool  # the config gave a base_url (self-hosted or proxy endpoint)
    # Client header names never forwarded as they are: credentials, and the names this
    # provider sets itself (`headers:` entries and Host when `http_host` is set).
    replaced_headers: frozenset[bytes]
    # Bedrock with SigV4 credentials from the AWS environment: signs each request's final bytes.
    signer: BedrockSigner | None = None
    # URLs computed so far, by (api, model id, stream); bounded by _URL_CACHE_LIMIT.
    _urls: dict[tuple[Api, str, bool], str] = field(default_factory=dict, compare=False)
    # Credential headers per upstream API when the key is the configured one (not passthrough).
    _auth: dict[Api, tuple[tuple[str, str], ...]] = field(default_factory=dict, compare=False)

    @property
    def wildcard(self) -> bool:
        return self.model_id == "*"

    def url(self, api: Api, model_id: str, stream: bool) -> str:
        key = (api, model_id, stream)
        url = self._urls.get(key)
        if url is None:
            url = self.origin.base + path_for(self.row, self.origin, api, model_id, stream)
            if len(self._urls) < _URL_CACHE_LIMIT:
                self._urls[key] = url
        return url

    def auth(self, api: Api, client_credential: str | None) -> tuple[tuple[str, str], ...]:
        """Credential headers for this call; `None` credential with no key sends none."""
        if self.passthrough_auth:
            return auth_headers(self.row, api, client_credential)
        headers = self._auth.get(api)
        if headers is None:
            headers = self._auth[api] = auth_headers(self.row, api, self.access_key)
        return headers

    @property
    def needs_key(self) -> bool:
        """True when a call without any credential cannot work (no key, no passthrough)."""
        # As the original: a provider with its own base_url may go without a key (self-hosted).
        return (
            not self.passthrough_auth
            and not self.access_key
            and self.row.auth is not Auth.NONE
            and not self.own_base_url
        )


Via = Literal["exact", "alias", "wildcard", "default"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """A model name resolved to the cluster that serves it (`routing.resolve.ModelTable`)."""

    cluster: Cluster
    model_id: str  # the bare id sent upstream
    name: str  # canonical `provider/model_id`, reported in x-plano-model
    via: Via


def build_cluster(p: ModelProviderConfig, env: Mapping[str, str] | None = None) -> Cluster:
    row = runtime_row(p.provider, p.provider_interface)
    org = origin(row, p.base_url)
    access_key, signer = p.access_key or None, None
    if row.chat_api is Api.BEDROCK_CONVERSE and not p.passthrough_auth:
        access_key, signer = bedrock_credential(
            access_key, org.host, os.environ if env is None else env
        )
    extra = tuple((k.lower(), v) for k, v in dict(p.headers).items())
    replaced = {name.encode() for name in CREDENTIAL_HEADERS} | {k.encode() for k, _ in extra}
    if p.http_host:
        replaced.add(b"host")
    return Cluster(
        name=p.name,
        provider=p.provider,
        model_id=p.model_id,
        row=row,
        origin=org,
        access_key=access_key,
        passthrough_auth=p.passthrough_auth,
        host_header=p.http_host,
        extra_headers=extra,
        default=p.default,
        internal=p.internal,
        own_base_url=p.base_url is not None,
        replaced_headers=frozenset(replaced),
        signer=signer,
    )


def build_clusters(config: Config, env: Mapping[str, str] | None = None) -> tuple[Cluster, ...]:
    """`env` (default: the process environment) supplies Bedrock's AWS credentials."""
    return tuple(build_cluster(p, env) for p in config.model_providers)


def visible(clusters: Iterable[Cluster]) -> list[Cluster]:
    return [c for c in clusters if not c.internal]
