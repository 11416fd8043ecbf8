"""Mid-stream failover, the request side: the request that asks a fallback model to continue an
answer whose stream broke after part of it reached the client.

The continuation is the client's original request (its own dialect, so the listener's builder
encodes it for the fallback exactly as it would a failover before the first byte) with the text
already sent appended as the assistant's turn:

- a fallback whose provider row accepts a final assistant message as the start of its answer
  (`ProviderRow.prefill`: Anthropic's Messages API) gets that message as a **prefill** and
  writes only what follows it;
- any other fallback gets the assistant's partial turn and then a user turn with a
  **continuation instruction** asking for the rest, without repeating it.

Which fallbacks are tried, with which retries and breakers, is the exchange engine's
(`Exchange.continuation_targets`, `Exchange.resume`); the response side (stitching the fallback's
stream onto the client's) is `plano.listeners.model.continuation`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

from plano.upstream.clusters import Resolved
from plano.upstream.request import Upstream
from plano.wire.api import Api

CONTINUE_INSTRUCTION: Final = (
    "Your previous answer was cut off. Continue it from exactly where it stopped: write only "
    "the rest, without repeating any of it and without any preamble."
)
# Client APIs whose requests can carry the continuation (a `messages` list, Responses `input`).
CONTINUABLE: Final = frozenset({Api.OPENAI_CHAT, Api.ANTHROPIC_MESSAGES, Api.OPENAI_RESPONSES})


def continuation_doc(
    doc: dict[str, Any], text: str, *, prefill: bool, api: Api = Api.OPENAI_CHAT
) -> dict[str, Any]:
    """The client's request (chat or Messages shape, or a Responses request for `api`
    OPENAI_RESPONSES: its `input` as a list of items) asking for the rest of `text`.

    A prefill loses its trailing whitespace (Anthropic refuses a final assistant turn that ends
    with it); the model writes that whitespace itself."""
    key = "input" if api is Api.OPENAI_RESPONSES else "messages"
    messages = doc.get(key)
    turns: list[Any] = list(messages) if isinstance(messages, list) else []
    if isinstance(messages, str):  # Responses: `input` as one user message
        turns.append({"role": "user", "content": messages})
    if prefill:
        if text.rstrip():
            turns.append({"role": "assistant", "content": text.rstrip()})
    else:
        if text:
            turns.append({"role": "assistant", "content": text})
        turns.append({"role": "user", "content": CONTINUE_INSTRUCTION})
    out = dict(doc)
    out[key] = turns
    return out


def seed(up: Upstream, doc: dict[str, Any]) -> Upstream:
    """`up` with the continuation's document; the builder decodes and encodes it afresh for
    the fallback (no translation or body carried over)."""
    return replace(up, doc=doc, body=b"", translation=None)


def takes_prefill(resolved: Resolved, client_api: Api) -> bool:
    """Whether `resolved` is reached over an API that continues a final assistant turn."""
    row = resolved.cluster.row
    return row.prefill and row.upstream_api(client_api) is Api.ANTHROPIC_MESSAGES
