"""The orchestrator-LLM router: Plano-Orchestrator / Arch-Router's prompt and answer format.

The router model is an ordinary configured provider (its cluster), reached through the upstream
client, so the real models served by vLLM, Ollama or any OpenAI-compatible endpoint work as they
are. The prompt is built exactly as the original builds it (reference §4.3): the conversation
without system/developer/tool turns, the last 16 turns, cut to the context budget from the newest
turn backwards (an overflowing user turn is middle-trimmed), pretty-printed with 4-space indent.
The answer `{"route": [...]}` is parsed leniently (single quotes, literal `\\n`); for model routing
only the first known route counts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson

from plano.errors import PlanoError
from plano.providers.catalogue import Api
from plano.routing.conversation import Conversation, Turn
from plano.routing.decision import RouteChoice, RouterFailed, RouterUnreachable
from plano.routing.preferences import PreferenceSet
from plano.upstream.clusters import Cluster
from plano.upstream.transport import Limits, Transport, exchange

if TYPE_CHECKING:
    from plano.embedding.memo import EmbeddingMemo

log = logging.getLogger("plano.routing")

PROMPT_TEMPLATE: Final = """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{routes}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
{conversation}
</conversation>

## Instructions
1. Analyze the latest user intent from the conversation.
2. Compare it against the available routes to find which routes can help fulfill the request.
3. Respond only with the exact route names from <routes>.
4. If no routes can help or the intent is already fulfilled, return an empty list.

## Response Format
Return your answer strictly in JSON as follows:
{{"route": ["route_name_1", "route_name_2", "..."]}}
If no routes are needed, return an empty list for `route`.
"""
MAX_ROUTING_TURNS: Final = 16
TOKEN_DIVISOR: Final = 4  # bytes per token, the original's cheap estimate
TRIM_MARKER: Final = "…"
_SKIPPED_ROLES: Final = frozenset({"system", "developer", "tool"})
_TEMPLATE_TOKENS: Final = len(PROMPT_TEMPLATE.encode()) // TOKEN_DIVISOR


def trim_middle(text: str, max_bytes: int) -> str:
    """At most `max_bytes` UTF-8 bytes: ~60% head, the marker, the rest from the tail."""
    raw = text.encode()
    if len(raw) <= max_bytes:
        return text
    marker = TRIM_MARKER.encode()
    if max_bytes <= len(marker):
        return raw[:max_bytes].decode("utf-8", "ignore")
    available = max_bytes - len(marker)
    head_len = available * 3 // 5
    head = raw[:head_len].decode("utf-8", "ignore")
    tail_len = available - head_len
    tail = raw[len(raw) - tail_len :].decode("utf-8", "ignore") if tail_len else ""
    return head + TRIM_MARKER + tail


def select_turns(turns: Sequence[Turn], budget_tokens: int) -> list[tuple[str, str]]:
    """The (role, text) pairs the router sees, oldest first, within the token budget."""
    kept = [t for t in turns if t.role not in _SKIPPED_ROLES and t.text]
    kept = kept[-MAX_ROUTING_TURNS:]
    used = _TEMPLATE_TOKENS
    picked: list[tuple[str, str]] = []
    for turn in reversed(kept):
        size = len(turn.text.encode()) // TOKEN_DIVISOR
        if used + size > budget_tokens:
            remaining = max(budget_tokens - used, 0)
            if turn.role == "user" and remaining > 0:
                picked.append(("user", trim_middle(turn.text, remaining * TOKEN_DIVISOR)))
            break
        used += size
        picked.append((turn.role, turn.text))
    if not picked and kept:
        picked.append((kept[-1].role, kept[-1].text))
    picked.reverse()
    return picked


def build_prompt(prefs: PreferenceSet, conversation: Conversation, budget_tokens: int) -> str:
    turns = [{"role": r, "content": t} for r, t in select_turns(conversation.turns, budget_tokens)]
    rendered = json.dumps(turns, indent=4, ensure_ascii=False)
    return PROMPT_TEMPLATE.replace("{routes}", prefs.routes_text).replace(
        "{conversation}", rendered
    )


def parse_answer(content: str, prefs: PreferenceSet) -> tuple[str | None, list[str]]:
    """(first known route or None, every route name the model gave). Bad JSON raises."""
    if not content.strip():
        return None, []
    fixed = content.replace("'", '"').replace("\\n", "")
    try:
        answer = orjson.loads(fixed)
    except orjson.JSONDecodeError:
        raise RouterFailed("the router's answer is not JSON") from None
    names = answer.get("route") if isinstance(answer, dict) else None
    if names is None:
        return None, []
    if not isinstance(names, list):
        raise RouterFailed("the router's answer has no route list")
    given = [n for n in names if isinstance(n, str) and n]
    known = [n for n in given if n in prefs.by_name]
    return (known[0] if known else None), given


class OrchestratorRouter:
    """Ask the router model which route fits; `select` raises `RouterFailed` on any failure."""

    kind: Final = "orchestrator"

    def __init__(
        self,
        cluster: Cluster,
        transport: Transport,
        *,
        context_length: int,
        timeout: float,
    ) -> None:
        self._cluster = cluster
        self._transport = transport
        self._budget = context_length
        self._limits = Limits(total=timeout)
        self._url = cluster.url(Api.OPENAI_CHAT, cluster.model_id, False)
        self._headers: tuple[tuple[str, str], ...] = (
            ("content-type", "application/json"),
            ("model", "plano-orchestrator"),
            ("x-arch-llm-provider-hint", cluster.name),
            *cluster.extra_headers,
            *cluster.auth(Api.OPENAI_CHAT, None),
        )

    @property
    def model(self) -> str:
        return self._cluster.model_id

    def request_body(self, prefs: PreferenceSet, conversation: Conversation) -> bytes:
        prompt = build_prompt(prefs, conversation, self._budget)
        return orjson.dumps(
            {
                "model": self._cluster.model_id,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0.01,
            }
        )

    async def select(
        self,
        prefs: PreferenceSet,
        conversation: Conversation,
        headers: Sequence[tuple[str, str]] = (),
        memo: EmbeddingMemo | None = None,  # unused: the router model reads text
    ) -> RouteChoice:
        body = self.request_body(prefs, conversation)
        sent = (*self._headers, *headers)
        try:
            async with exchange(
                self._transport, b"POST", self._url, sent, body, self._limits
            ) as resp:
                data = await resp.read()
                status = resp.status
        except PlanoError as err:
            raise RouterUnreachable(f"router model unreachable: {err.message}") from None
        if status >= 300:
            raise RouterFailed(f"router model answered {status}: {_error_text(data)}")
        content = _content(data)
        route, given = parse_answer(content, prefs)
        if len(given) > 1:
            log.debug("router named several routes %s; using the first known one", given)
        return RouteChoice(route, f"orchestrator:{self.model}")


def _content(data: bytes) -> str:
    try:
        doc: Any = orjson.loads(data)
        content = doc["choices"][0]["message"]["content"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        raise RouterFailed("the router's reply is not a chat completion") from None
    return content if isinstance(content, str) else ""


def _error_text(data: bytes) -> str:
    try:
        err = orjson.loads(data)["error"]
        msg = str(err.get("message", ""))
        if err.get("param"):
            msg += f" (param={err['param']})"
        if err.get("type"):
            msg += f" [type={err['type']}]"
        return msg
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        return data[:512].decode("utf-8", "replace")
