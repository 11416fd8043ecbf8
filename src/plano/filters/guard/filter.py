"""The guard filter (`type: guard`): jailbreak and prompt-injection detection inside the gateway.

Per request: the body is decoded to the segments of the turn being sent (`segments`), the
pre-rules scan each one, the segments the rules alone do not decide are embedded (the request's
`EmbeddingMemo`, in a worker thread) and scored by the head; an uncertain score may go to the
second opinion. The worst segment's verdict is noted on the request record (span attributes,
metric, access log) and acted on: `block` ends the request with a 400 in the client's dialect
carrying the configured message, `flag` lets it go on, `redact` replaces each offending tool
result with a neutral placeholder (an offending user text is blocked: it cannot be redacted).
When the worker's embedding work is full (`embedding/gate.py`), nothing is queued: a rule hit
still blocks, otherwise `on_overload` passes the request unscored (verdict `skipped`, source
`overload`) or blocks it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import orjson

from plano.config.guards import GuardFilterConfig
from plano.embedding.gate import EmbeddingOverloaded
from plano.filters.guard.head import Head
from plano.filters.guard.rules import Rule, match
from plano.filters.guard.second_opinion import SecondOpinion, SecondOpinionFailed
from plano.filters.guard.segments import Segment, chunks, segments
from plano.filters.types import FilterContext, FilterRejected, Headers
from plano.observability import names as n
from plano.observability.record import GuardNote
from plano.wire import openai_chat

log = logging.getLogger("plano.guard")


class GuardBlocked(FilterRejected):
    """A guard blocked the request: 400 in the client's dialect with the configured message
    (an agent listener relays `body`, the OpenAI error object)."""

    code = "guard_blocked"

    def __init__(self, filter_id: str, message: str) -> None:
        super().__init__(filter_id, 400, b"")
        self.message = message
        self.args = (message,)
        self.body = openai_chat.error_envelope(self)

    def own_body(self) -> bytes | None:
        return None  # the client dialect's error envelope


@dataclass(slots=True)
class Finding:
    """The verdict on one segment: `score` in [0, 1], what decided it, the rule that matched."""

    segment: Segment
    score: float
    source: str
    rule: str | None = None
    attack: bool = False


class GuardFilter:
    """One compiled guard; shared by every chain that names it."""

    def __init__(
        self,
        config: GuardFilterConfig,
        head: Head,
        rules: tuple[Rule, ...],
        second: SecondOpinion | None = None,
    ) -> None:
        self.id = config.id
        self.span_name = n.SPAN_GUARD_FILTER.format(config.id)
        self._config = config
        self._head = head
        self._threshold = config.threshold if config.threshold is not None else head.threshold
        self._rules = rules
        self._second = second
        so = config.second_opinion
        self._band = (so.uncertain_from, so.uncertain_to) if so is not None else (1.0, 1.0)
        self._always = so is not None and so.when == "always"
        self._fail_closed = so is not None and so.on_failure == "closed"
        self._users = "user" in config.inspect
        self._tools = "tool_results" in config.inspect

    async def apply(self, body: bytes, path: str, headers: Headers, ctx: FilterContext) -> bytes:
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body  # not JSON: the listener answers that itself
        if not isinstance(doc, dict):
            return body
        found = [
            s
            for s in segments(doc, path)
            if (s.where == "user" and self._users) or (s.where == "tool" and self._tools)
        ]
        if not found:
            return body
        try:
            findings = await self._judge(found, ctx)
        except EmbeddingOverloaded:
            return self._overloaded(found, doc, body, ctx)
        return self._act(findings, doc, body, ctx)

    async def close(self) -> None:
        return None

    async def _judge(self, found: list[Segment], ctx: FilterContext) -> list[Finding]:
        findings = [self._by_rules(s) for s in found]
        undecided = [f for f in findings if not f.attack]
        if undecided:
            await self._score(undecided, ctx)
        if self._second is not None:
            for f in findings:
                if self._always or (not f.attack and self._band[0] <= f.score < self._band[1]):
                    await self._ask(f)
        return findings

    def _by_rules(self, s: Segment) -> Finding:
        hit = match(s.text, self._rules) if self._rules else None
        if hit is None:
            return Finding(s, 0.0, "head")
        if hit.weight >= 1.0:
            return Finding(s, 1.0, "rule", hit.rule, attack=True)
        return Finding(s, hit.weight, "head", hit.rule)  # added to the head's score

    def _overloaded(
        self, found: list[Segment], doc: object, body: bytes, ctx: FilterContext
    ) -> bytes:
        """The worker's embedding work is full, so some text goes unscored. `closed` blocks
        the request. `open` acts on the rules' verdicts as usual (they ran before any
        embedding: a rule hit still blocks or redacts) and lets the rest pass (`skipped`)."""
        findings = [self._by_rules(s) for s in found]
        hits = [f for f in findings if f.attack]
        if self._config.on_overload == "closed":
            self._note(ctx, "block", hits[0] if hits else Finding(found[0], 0.0, "overload"))
            raise GuardBlocked(self.id, self._config.message)
        if hits:
            return self._act(findings, doc, body, ctx)
        self._note(ctx, "skipped", Finding(found[0], 0.0, "overload"))
        return body

    def _note(self, ctx: FilterContext, verdict: str, f: Finding) -> None:
        if ctx.record is not None:
            ctx.record.note_guard(GuardNote(self.id, verdict, f.source, f.score, f.rule))

    async def _score(self, undecided: list[Finding], ctx: FilterContext) -> None:
        limit = self._config.max_chunks
        windows = [chunks(f.segment.text, limit) for f in undecided]
        texts = [t for w in windows for t in w]
        vectors = await ctx.embeddings.embed(texts)
        import numpy as np

        scores = self._head.scores(np.stack(vectors), texts)
        at = 0
        for f, w in zip(undecided, windows, strict=True):
            head = max(scores[at : at + len(w)])
            at += len(w)
            f.score = min(1.0, head + f.score)  # a light rule's weight tips the head's score
            f.attack = f.score >= self._threshold
            if f.attack and f.rule is not None and head < self._threshold:
                f.source = "rule"

    async def _ask(self, f: Finding) -> None:
        assert self._second is not None
        try:
            opinion = await self._second.ask(f.segment.text, f.segment.where)
        except SecondOpinionFailed as exc:
            log.warning("guard '%s': second opinion failed: %s", self.id, exc)
            f.source = "second_opinion_failed"
            if self._fail_closed:
                f.attack = True
            return
        f.source = "second_opinion"
        f.attack = opinion.unsafe
        if opinion.categories:
            f.rule = f.rule or ",".join(opinion.categories)

    def _act(self, findings: list[Finding], doc: object, body: bytes, ctx: FilterContext) -> bytes:
        hits = [f for f in findings if f.attack]
        worst = max(hits or findings, key=lambda f: f.score)
        action = self._config.action
        if not hits:
            verdict = "pass"
        elif action == "redact" and all(f.segment.where == "tool" for f in hits):
            verdict = "redact"
        elif action == "flag":
            verdict = "flag"
        else:
            verdict = "block"
        self._note(ctx, verdict, worst)
        if verdict == "block":
            raise GuardBlocked(self.id, self._config.message)
        if verdict != "redact":
            return body
        for f in hits:
            f.segment.owner[f.segment.key] = self._config.redacted
        return orjson.dumps(doc)
