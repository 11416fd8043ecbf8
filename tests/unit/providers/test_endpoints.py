from __future__ import annotations

import pytest

from plano.providers.auth import auth_headers, client_credential
from plano.providers.catalogue import BY_PREFIX, Api, canonical_prefix, lookup, runtime_row
from plano.providers.endpoints import origin, path_for


def url(
    prefix: str,
    base_url: str | None,
    api: Api = Api.OPENAI_CHAT,
    model: str = "m",
    stream: bool = False,
    interface: str | None = None,
) -> str:
    row = runtime_row(prefix, interface)
    org = origin(row, base_url)
    return org.base + path_for(row, org, api, model, stream)


@pytest.mark.parametrize(
    ("prefix", "base_url", "expected"),
    [
        ("openai", None, "https://api.openai.com/v1/chat/completions"),
        ("groq", None, "https://api.groq.com/openai/v1/chat/completions"),
        ("zhipu", None, "https://open.bigmodel.cn/api/paas/v4/chat/completions"),
        (
            "zhipu",
            "https://api.z.ai/api/coding/paas/v4",
            "https://api.z.ai/api/coding/paas/v4/chat/completions",
        ),
        ("ollama", "http://localhost:11434", "http://localhost:11434/v1/chat/completions"),
        (
            "qwen",
            "https://dashscope.example",
            "https://dashscope.example/compatible-mode/v1/chat/completions",
        ),
        ("openrouter", None, "https://openrouter.ai/api/v1/chat/completions"),
        ("vercel", None, "https://ai-gateway.vercel.sh/v1/chat/completions"),
        ("openai", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/v1/chat/completions"),
        (
            "deepseek",
            "https://proxy.example:8443/deep",
            "https://proxy.example:8443/deep/chat/completions",
        ),
    ],
)
def test_chat_urls(prefix: str, base_url: str | None, expected: str) -> None:
    assert url(prefix, base_url) == expected


def test_azure_deployment_path() -> None:
    got = url("azure_openai", "https://res.openai.azure.com", model="gpt 5/x")
    assert got == (
        "https://res.openai.azure.com/openai/deployments/gpt%205%2Fx/chat/completions"
        "?api-version=2025-01-01-preview"
    )


def test_bedrock_paths_follow_the_stream_flag() -> None:
    base = "https://bedrock-runtime.us-west-2.amazonaws.com"
    assert url("amazon_bedrock", base, Api.BEDROCK_CONVERSE, "us.amazon.nova-pro-v1:0") == (
        f"{base}/model/us.amazon.nova-pro-v1%3A0/converse"
    )
    assert url("amazon_bedrock", base, Api.BEDROCK_CONVERSE, "a", stream=True).endswith(
        "/model/a/converse-stream"
    )


def test_gemini_native_paths() -> None:
    base = "https://generativelanguage.googleapis.com"
    assert url("gemini", None, Api.GEMINI, "gemini-2.5-flash") == (
        f"{base}/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert url("gemini", None, Api.GEMINI, "models/gemini-2.5-pro", stream=True) == (
        f"{base}/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert url("gemini", f"{base}/v1beta/openai/", Api.GEMINI, "g") == (
        f"{base}/v1beta/models/g:generateContent"
    )
    assert url("google", "http://127.0.0.1:9000", Api.GEMINI, "g") == (
        "http://127.0.0.1:9000/v1beta/models/g:generateContent"
    )
    row = runtime_row("gemini", None)
    assert {row.upstream_api(api) for api in Api} == {Api.GEMINI}
    assert auth_headers(row, Api.GEMINI, "k") == (("x-goog-api-key", "k"),)


def test_perplexity_is_unversioned_and_custom_uses_interface() -> None:
    assert url("perplexity", "https://api.perplexity.ai", interface="openai") == (
        "https://api.perplexity.ai/chat/completions"
    )
    assert url("custom", "http://localhost:11223", interface="openai") == (
        "http://localhost:11223/v1/chat/completions"
    )


def test_messages_and_responses_suffixes() -> None:
    assert url("anthropic", None, Api.ANTHROPIC_MESSAGES) == "https://api.anthropic.com/v1/messages"
    assert url("openai", None, Api.OPENAI_RESPONSES) == "https://api.openai.com/v1/responses"


def test_prefix_aliases_and_lookup() -> None:
    assert canonical_prefix("Google") == "gemini"
    assert canonical_prefix("amazon") == "amazon_bedrock"
    assert lookup("together") is BY_PREFIX["together_ai"]
    assert lookup("perplexity") is None  # not a config prefix
    assert lookup("nope") is None


def test_client_matrix() -> None:
    """The original's matrix, except that Anthropic is always reached over Messages."""
    anthropic, openai_row = BY_PREFIX["anthropic"], BY_PREFIX["openai"]
    for api in (Api.ANTHROPIC_MESSAGES, Api.OPENAI_CHAT, Api.OPENAI_RESPONSES):
        assert anthropic.upstream_api(api) is Api.ANTHROPIC_MESSAGES
    assert openai_row.upstream_api(Api.OPENAI_RESPONSES) is Api.OPENAI_RESPONSES
    assert openai_row.upstream_api(Api.ANTHROPIC_MESSAGES) is Api.OPENAI_CHAT
    assert BY_PREFIX["amazon_bedrock"].upstream_api(Api.OPENAI_CHAT) is Api.BEDROCK_CONVERSE


def test_auth_styles() -> None:
    anthropic, azure, openai_row = (
        BY_PREFIX["anthropic"],
        BY_PREFIX["azure_openai"],
        BY_PREFIX["openai"],
    )
    assert auth_headers(anthropic, Api.ANTHROPIC_MESSAGES, "k") == (
        ("x-api-key", "k"),
        ("anthropic-version", "2023-06-01"),
    )
    assert auth_headers(anthropic, Api.OPENAI_CHAT, "k") == (("authorization", "Bearer k"),)
    assert auth_headers(azure, Api.OPENAI_CHAT, "k") == (("api-key", "k"),)
    assert auth_headers(openai_row, Api.OPENAI_CHAT, None) == ()


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "expected"),
    [
        ("Bearer abc", None, "abc"),
        ("bearer  abc ", None, "abc"),
        ("Basic zz", None, "Basic zz"),
        (None, "k1", "k1"),
        (None, None, None),
        ("Bearer t", "k", "t"),
    ],
)
def test_client_credential(
    authorization: str | None, x_api_key: str | None, expected: str | None
) -> None:
    assert client_credential(authorization, x_api_key) == expected
