"""One console entry: what the web console shows of a finished request, as compact JSON-able data.

Built by `ConsoleRing.write` from the `RequestRecord` when the request's telemetry completes.
Short keys for the list's columns (the page polls them), fuller groups for the detail view:
`trace` (the request's spans from the record's timestamps), `routing`, `attempts`, `guards`,
`pii` and `signals` (with snippets: the console is on the admin listener only). Never header
values; the request body only when `PLANO_CONSOLE_BODIES` is on (and clipped).
"""

from __future__ import annotations

import time
from typing import Any, Final

import orjson

from plano.observability.record import RequestRecord

BODY_MAX: Final = 1024  # bytes of the request body an entry keeps (when bodies are on)
SNIPPET_MAX: Final = 160  # characters of a signal's snippet
_DETAIL: Final = ("trace", "routing", "attempts", "guards", "pii", "signals", "body")


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def entry(r: RequestRecord, entry_id: str, *, bodies: bool = False) -> dict[str, Any]:
    """The entry for finished record `r` (id `entry_id`, unique across the run's workers)."""
    end = r.end or time.perf_counter_ns()
    ttft = r.downstream_first_chunk - r.start if r.stream and r.downstream_first_chunk else 0
    out: dict[str, Any] = {
        "id": entry_id,
        "f": time.time_ns() // 1000,  # when it was recorded (µs): the `since` cursor
        "t": r.wall_start // 1_000_000,  # when it arrived (ms)
        "rid": r.request_id,
        "method": r.method,
        "path": r.path,
        "listener": r.listener,
        "handler": r.handler,
        "requested": r.requested_model,
        "model": r.model,
        "provider": r.provider,
        "status": r.status,
        "ms": _ms(end - r.start),
        "ttft": _ms(ttft) if ttft else None,
        "pt": r.prompt_tokens,
        "ct": r.completion_tokens,
        "cached": r.cached_tokens,
        "cost": r.cost_usd,
        "overhead": _ms(r.overhead_ns()),
        "flags": flags(r),
        "key": r.key_name,
        "team": r.team,
        "trace": trace(r, end),
        "routing": routing(r),
        "attempts": {
            "count": r.attempts,
            "continued": r.continued,
            "upstream_status": r.upstream_status or None,
            "error": r.error_kind,
            "billed": [list(b) for b in r.billed] if r.billed else None,
        },
    }
    if r.guards:
        out["guards"] = [
            [g.filter, g.verdict, g.source, round(g.score, 3), g.rule] for g in r.guards
        ]
    if r.pii_found:
        out["pii"] = [[*k, v] for k, v in r.pii_found.items()]
    note = r.signals
    if note is not None:
        out["signals"] = {
            **note.log_field(),
            "instances": [
                [kind, index, round(conf, 3), snippet[:SNIPPET_MAX]]
                for kind, index, conf, snippet, _ in note.instances
            ],
        }
    if bodies and r.request_body:
        out["body"] = r.request_body[:BODY_MAX].decode("utf-8", "replace")
    return out


def flags(r: RequestRecord) -> list[str]:
    """Short tags for the list: stream, error kind, continued, retried, guard verdicts that
    acted, a flagged conversation, a key past its alert threshold."""
    out: list[str] = []
    if r.stream:
        out.append("stream")
    if r.error_kind:
        out.append(r.error_kind)
    if r.attempts > 1:
        out.append("retried")
    if r.continued:
        out.append("continued")
    if r.guards:
        out.extend(
            f"guard:{g.verdict}" for g in r.guards if g.verdict in ("block", "flag", "redact")
        )
    if r.signals is not None and r.signals.flagged:
        out.append("signals")
    if r.key_budget_alert:
        out.append("budget_alert")
    return out


def trace(r: RequestRecord, end: int) -> list[list[Any]]:
    """The request's spans as `[name, depth, start ms, duration ms]` (offsets from its
    arrival), from the record's timestamps: the request, the gateway's work before the
    upstream call, routing, the upstream exchange (its headers and first chunk), the relay."""
    start = r.start
    spans: list[list[Any]] = [["request", 0, 0.0, _ms(end - start)]]
    note = r.router
    if r.upstream_sent:
        spans.append(["gateway: before upstream", 1, 0.0, _ms(r.upstream_sent - start)])
        if note is not None and note.duration_ns:
            routed = max(0, r.upstream_sent - start - note.duration_ns)
            spans.append([f"routing ({note.kind})", 2, _ms(routed), _ms(note.duration_ns)])
        done = r.upstream_done or end
        spans.append(["upstream", 1, _ms(r.upstream_sent - start), _ms(done - r.upstream_sent)])
        sent = _ms(r.upstream_sent - start)
        if r.upstream_headers:
            spans.append(["upstream headers", 2, sent, _ms(r.upstream_headers - r.upstream_sent)])
        if r.upstream_first_chunk:
            spans.append(["upstream first chunk", 2, sent, _ms(r.upstream_first_chunk - r.upstream_sent)])
        if r.downstream_first_chunk:
            first = r.downstream_first_chunk
            spans.append(["relay to client", 1, _ms(first - start), _ms(end - first)])
    elif note is not None and note.duration_ns:
        spans.append([f"routing ({note.kind})", 1, 0.0, _ms(note.duration_ns)])
    if r.traceparent:
        spans[0].append(r.traceparent.split("-")[1] if r.traceparent.count("-") == 3 else None)
    return spans


def routing(r: RequestRecord) -> dict[str, Any]:
    """How the model was chosen: the route kind, the preference-routing outcome and what the
    routing step noted (selected, fell back, skipped, session events, budget switch)."""
    out: dict[str, Any] = {"route": r.route, "outcome": r.routing, "session": r.session_id}
    note = r.router
    if note is not None:
        out.update(
            kind=note.kind,
            selected=note.selected,
            fallback=note.fallback,
            ms=_ms(note.duration_ns),
            skip=note.skip,
            session_events=note.session_events or None,
            switch=list(note.switch) if note.switch else None,
            decision=note.outcome,
            budget=note.span,
        )
    return out


def shrink(payload: bytes, room: int) -> bytes:
    """An entry too big for a slot: its detail groups dropped, marked `clipped`; when even
    that does not fit, the bare id and time."""
    doc = orjson.loads(payload)
    for key in _DETAIL:
        doc.pop(key, None)
    doc["clipped"] = True
    out = orjson.dumps(doc)
    if len(out) <= room:
        return out
    return orjson.dumps({"id": doc["id"], "f": doc["f"], "t": doc["t"], "clipped": True})
