"""The client dialect x upstream dialect variants the gateway serves, as data a benchmark can use.

Each variant names the client API path, a body maker (the same short conversation as
`loadgen.chat_body`, in the client's dialect) and the provider that carries that client API to the
wanted upstream dialect (the provider catalogue decides: `openai/` takes chat and Messages clients
to chat and Responses clients to Responses; `mistral/` takes every client to chat; `anthropic/`
every client to Messages; `chatgpt/` every client to Responses, always streamed upstream).

    from variants_table import VARIANTS, gateway_config, direct_body
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import orjson

import loadgen
import targets
from loadgen import SYSTEM_PROMPT, USER_PROMPT

CHAT_PATH: Final = "/v1/chat/completions"
MESSAGES_PATH: Final = "/v1/messages"
RESPONSES_PATH: Final = "/v1/responses"

# One provider per upstream route; `{upstream}` and `{key}` are filled in by `gateway_config`.
PROVIDERS: Final = """\
model_providers:
  - model: openai/gpt-4o
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
    default: true
  - model: mistral/mistral-large
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
  - model: anthropic/claude-sonnet-4-6
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
  - model: chatgpt/gpt-5
    base_url: http://127.0.0.1:{upstream}/v1
    access_key: {key}
"""

LISTENER: Final = targets.GATEWAY_CONFIG.split("model_providers:")[0]  # bench/run.py's listener


def chat_body(model: str, stream: bool) -> bytes:
    """bench/loadgen.py's chat body (a system and a user message, common options) for `model`."""
    return orjson.dumps({**orjson.loads(loadgen.chat_body(stream)), "model": model})


def _body(fields: dict[str, object], stream: bool) -> bytes:
    return orjson.dumps({**fields, "stream": True} if stream else fields)


def messages_body(model: str, stream: bool) -> bytes:
    """The same conversation as an Anthropic Messages request."""
    messages = [{"role": "user", "content": USER_PROMPT}]
    fields = {"model": model, "system": SYSTEM_PROMPT, "messages": messages, "max_tokens": 256}
    return _body({**fields, "temperature": 0.2, "metadata": {"user_id": "bench-user-0001"}}, stream)


def responses_body(model: str, stream: bool) -> bytes:
    """The same conversation as an OpenAI Responses request (not stored)."""
    fields = {"model": model, "instructions": SYSTEM_PROMPT, "max_output_tokens": 256}
    extra = {"temperature": 0.2, "user": "bench-user-0001", "store": False}
    return _body({**fields, "input": [{"role": "user", "content": USER_PROMPT}], **extra}, stream)


BODY_BY_PATH: Final[dict[str, Callable[[str, bool], bytes]]] = {
    CHAT_PATH: chat_body,
    MESSAGES_PATH: messages_body,
    RESPONSES_PATH: responses_body,
}


@dataclass(frozen=True, slots=True)
class Variant:
    """A client dialect reaching an upstream dialect through the gateway."""

    name: str  # "client->upstream"
    path: str  # the client API path on the gateway
    model: str  # picks the provider (and so the upstream dialect)
    upstream_path: str  # the path the fake upstream answers on (for the direct measurement)
    body: Callable[[str, bool], bytes]  # (model, stream) -> request body

    def client_body(self, stream: bool) -> bytes:
        return self.body(self.model, stream)

    @property
    def passthrough(self) -> bool:
        return self.path == self.upstream_path


def _v(name: str, path: str, model: str, upstream_path: str) -> Variant:
    return Variant(name, path, model, upstream_path, BODY_BY_PATH[path])


REFERENCE: Final = "chat->chat"
VARIANTS: Final[tuple[Variant, ...]] = (
    _v(REFERENCE, CHAT_PATH, "openai/gpt-4o", CHAT_PATH),
    _v("responses->responses", RESPONSES_PATH, "openai/gpt-4o", RESPONSES_PATH),
    _v("messages->messages", MESSAGES_PATH, "anthropic/claude-sonnet-4-6", MESSAGES_PATH),
    _v("messages->chat", MESSAGES_PATH, "openai/gpt-4o", CHAT_PATH),
    _v("chat->messages", CHAT_PATH, "anthropic/claude-sonnet-4-6", MESSAGES_PATH),
    _v("responses->chat", RESPONSES_PATH, "mistral/mistral-large", CHAT_PATH),
    _v("responses->messages", RESPONSES_PATH, "anthropic/claude-sonnet-4-6", MESSAGES_PATH),
    # chatgpt/ answers only streams: a non-stream client's request goes up streamed and is folded.
    _v("chat->responses", CHAT_PATH, "chatgpt/gpt-5", RESPONSES_PATH),
)


def by_name(names: str | None) -> tuple[Variant, ...]:
    """The variants named in a comma-separated list (all when None); the reference first."""
    if not names:
        return VARIANTS
    wanted = {n.strip() for n in names.split(",")} | {REFERENCE}
    unknown = wanted - {v.name for v in VARIANTS}
    if unknown:
        raise ValueError(f"unknown variants: {', '.join(sorted(unknown))}")
    return tuple(v for v in VARIANTS if v.name in wanted)


def gateway_config(port: int, upstream: int, key: str) -> str:
    return (LISTENER + PROVIDERS).format(port=port, upstream=upstream, key=key)


def direct_body(variant: Variant, stream: bool) -> bytes:
    """The body the fake upstream gets when measured directly: the upstream dialect's own."""
    return BODY_BY_PATH[variant.upstream_path]("gpt-4o", stream)
