from __future__ import annotations

import pytest

from plano.errors import ModelNotFound
from plano.providers.catalogue import runtime_row
from plano.providers.endpoints import origin
from plano.routing.resolve import ModelTable
from plano.upstream.clusters import Cluster


def cluster(
    provider: str, model_id: str, *, name: str | None = None, default: bool = False
) -> Cluster:
    row = runtime_row(provider, "openai")
    return Cluster(
        name=name or f"{provider}/{model_id}",
        provider=provider,
        model_id=model_id,
        row=row,
        origin=origin(row, "http://127.0.0.1:1"),
        access_key="k",
        passthrough_auth=False,
        host_header=None,
        extra_headers=(),
        default=default,
        internal=False,
        own_base_url=True,
        replaced_headers=frozenset(),
    )


def table(default: bool = True) -> ModelTable:
    return ModelTable(
        [
            cluster("openai", "gpt-4o", default=default),
            cluster("openai", "gpt-4o-mini", name="mini"),
            cluster("anthropic", "*"),
            cluster("gemini", "gemini-2.0-flash"),
            cluster("together_ai", "openai/gpt-oss-20b"),
        ],
        {"fast": "gpt-4o-mini", "claude": "anthropic/claude-sonnet-4-6"},
    )


@pytest.mark.parametrize(
    ("requested", "name", "model_id", "via"),
    [
        ("openai/gpt-4o", "openai/gpt-4o", "gpt-4o", "exact"),
        ("gpt-4o-mini", "openai/gpt-4o-mini", "gpt-4o-mini", "exact"),
        ("mini", "openai/gpt-4o-mini", "gpt-4o-mini", "exact"),
        ("fast", "openai/gpt-4o-mini", "gpt-4o-mini", "alias"),
        ("claude", "anthropic/claude-sonnet-4-6", "claude-sonnet-4-6", "alias"),
        ("anthropic/claude-opus-4", "anthropic/claude-opus-4", "claude-opus-4", "wildcard"),
        ("google/gemini-2.0-flash", "gemini/gemini-2.0-flash", "gemini-2.0-flash", "exact"),
        ("Google/gemini-2.0-flash", "gemini/gemini-2.0-flash", "gemini-2.0-flash", "exact"),
        (
            "together_ai/openai/gpt-oss-20b",
            "together_ai/openai/gpt-oss-20b",
            "openai/gpt-oss-20b",
            "exact",
        ),
        ("openai/gpt-oss-20b", "together_ai/openai/gpt-oss-20b", "openai/gpt-oss-20b", "exact"),
        ("claude-opus-4", "openai/gpt-4o", "gpt-4o", "default"),  # bare ids never hit wildcards
        (None, "openai/gpt-4o", "gpt-4o", "default"),
    ],
)
def test_resolution_order(requested: str | None, name: str, model_id: str, via: str) -> None:
    got = table().resolve(requested)
    assert (got.name, got.model_id, got.via) == (name, model_id, via)


def test_no_default_names_the_model() -> None:
    with pytest.raises(ModelNotFound, match="'mystery'"):
        table(default=False).resolve("mystery")
    with pytest.raises(ModelNotFound, match="names no model"):
        table(default=False).resolve(None)


def test_cache_returns_same_answer() -> None:
    t = table()
    assert t.resolve("fast") is t.resolve("fast")
