"""One console entry: what the web console shows of a finished request.

Two shapes. `raw` is what a worker writes into its ring (`console_ring`): a flat JSON array of
the record's values, as they are (nanosecond timestamps, the notes as tuples), cheap to make.
`expand` is what the console's API answers with, built by the admin listener from a raw entry
when it is asked for: short keys for the list's columns, fuller groups for the detail view:
`trace` (the request's spans from the record's timestamps), `routing`, `attempts`, `guards`,
`pii` and `signals` (with snippets: the console is on the admin listener only). Never header
values; the request body only when `PLANO_CONSOLE_BODIES` is on (and clipped).
"""

from __future__ import annotations

from typing import Any, Final

from plano.observability.record import RequestRecord

BODY_MAX: Final = 1024  # bytes of the request body an entry keeps (when bodies are on)
SNIPPET_MAX: Final = 160  # characters of a signal's snippet
DETAIL: Final = ("trace", "routing", "attempts", "guards", "pii", "signals", "body")


def raw(r: RequestRecord, entry_id: str, flushed_us: int, bodies: bool) -> list[Any]:
    """Finished record `r` as the ring keeps it (`expand` reads it back)."""
    note, sig = r.router, r.signals
    return [
        entry_id,
        flushed_us,
        r.wall_start,
        r.request_id,
        r.method,
        r.path,
        r.listener,
        r.handler,
        r.requested_model,
        r.model,
        r.provider,
        r.status,
        r.start,
        r.end,
        r.upstream_sent,
        r.upstream_headers,
        r.upstream_first_chunk,
        r.upstream_done,
        r.downstream_first_chunk,
        r.stream,
        r.prompt_tokens,
        r.completion_tokens,
        r.cached_tokens,
        r.cost_usd,
        r.overhead_ns(),
        r.key_name,
        r.team,
        r.route,
        r.routing,
        r.session_id,
        None
        if note is None
        else (
            note.kind,
            note.selected,
            note.fallback,
            note.duration_ns,
            note.skip,
            note.session_events,
            note.switch,
            note.outcome,
            note.span,
        ),
        r.attempts,
        r.continued,
        r.upstream_status,
        r.error_kind,
        r.billed,
        None
        if not r.guards
        else [(g.filter, g.verdict, g.source, g.score, g.rule) for g in r.guards],
        None if not r.pii_found else [(*k, v) for k, v in r.pii_found.items()],
        None
        if sig is None
        else (
            sig.quality,
            sig.score,
            sig.flagged,
            sig.turn_count,
            sig.categories,
            [(i[0], i[1], i[2], i[3][:SNIPPET_MAX]) for i in sig.instances],
        ),
        r.request_body[:BODY_MAX].decode("utf-8", "replace") if bodies and r.request_body else None,
        r.key_budget_alert,
        r.traceparent,
    ]


def _ms(ns: int) -> float:
    return round(ns / 1e6, 3)


def expand(e: list[Any], *, detail: bool = True) -> dict[str, Any]:
    """A raw entry as the console's API shows it: a row of the list plus `routing` (what the
    summaries group by), and with `detail` the trace, attempts, guards, PII, signals, body."""
    (
        entry_id, flushed, wall, rid, method, path, listener, handler, requested, model, provider,
        status, start, end, sent, headers, first, done, down_first, stream, pt, ct, cached, cost,
        overhead, key, team, route, outcome, session, note, attempts, continued, up_status,
        error, billed, guards, pii, sig, body, budget_alert, traceparent,
    ) = e  # fmt: skip
    ttft = down_first - start if stream and down_first else 0
    out: dict[str, Any] = {
        "id": entry_id,
        "f": flushed,  # when its worker wrote it to the ring (µs): the `since` cursor
        "t": wall // 1_000_000,  # when it arrived (ms)
        "rid": rid,
        "method": method,
        "path": path,
        "listener": listener,
        "handler": handler,
        "requested": requested,
        "model": model,
        "provider": provider,
        "status": status,
        "ms": _ms(end - start),
        "ttft": _ms(ttft) if ttft else None,
        "pt": pt,
        "ct": ct,
        "cached": cached,
        "cost": cost,
        "overhead": _ms(overhead),
        "flags": _flags(stream, error, attempts, continued, guards, sig, budget_alert),
        "key": key,
        "team": team,
        "routing": _routing(route, outcome, session, note),
    }
    if not detail:
        return out
    out["trace"] = _trace(start, end, sent, headers, first, done, down_first, note, traceparent)
    out["attempts"] = {
        "count": attempts,
        "continued": continued,
        "upstream_status": up_status or None,
        "error": error,
        "billed": billed,
    }
    if guards:
        out["guards"] = [[f, v, src, round(score, 3), rule] for f, v, src, score, rule in guards]
    if pii:
        out["pii"] = pii
    if sig is not None:
        quality, score, flagged, turns, categories, instances = sig
        out["signals"] = {
            "quality": quality,
            "score": score,
            "flagged": flagged,
            "turns": turns,
            "counts": {f"{layer}.{cat}": n for layer, cat, n, _ in categories},
            "instances": [[k, i, round(c, 3), s] for k, i, c, s in instances],
        }
    if body is not None:
        out["body"] = body
    return out


def _flags(
    stream: bool,
    error: str | None,
    attempts: int,
    continued: bool,
    guards: list[Any] | None,
    sig: list[Any] | None,
    budget_alert: bool,
) -> list[str]:
    """Short tags for the list: stream, error kind, retried, continued, guard verdicts that
    acted, a flagged conversation, a key past its alert threshold."""
    out: list[str] = []
    if stream:
        out.append("stream")
    if error:
        out.append(error)
    if attempts > 1:
        out.append("retried")
    if continued:
        out.append("continued")
    for g in guards or ():
        if g[1] in ("block", "flag", "redact"):
            out.append(f"guard:{g[1]}")
    if sig is not None and sig[2]:
        out.append("signals")
    if budget_alert:
        out.append("budget_alert")
    return out


def _trace(
    start: int,
    end: int,
    sent: int,
    headers: int,
    first: int,
    done: int,
    down_first: int,
    note: list[Any] | None,
    traceparent: str | None,
) -> list[list[Any]]:
    """The request's spans as `[name, depth, start ms, duration ms]` (offsets from its
    arrival), from the record's timestamps: the request, the gateway's work before the
    upstream call, routing, the upstream exchange (to its headers, to its first chunk), the
    relay. The request span ends with its trace id when tracing is on."""
    spans: list[list[Any]] = [["request", 0, 0.0, _ms(end - start)]]
    routed = note[3] if note is not None else 0
    if sent:
        spans.append(["gateway", 1, 0.0, _ms(sent - start)])
        if routed:
            spans.append(
                [
                    f"routing ({note and note[0]})",
                    2,
                    _ms(max(0, sent - start - routed)),
                    _ms(routed),
                ]
            )
        at = _ms(sent - start)
        spans.append(["upstream", 1, at, _ms((done or end) - sent)])
        if headers:
            spans.append(["upstream headers", 2, at, _ms(headers - sent)])
        if first:
            spans.append(["upstream first chunk", 2, at, _ms(first - sent)])
        if down_first:
            spans.append(["relay to client", 1, _ms(down_first - start), _ms(end - down_first)])
    elif routed:
        spans.append([f"routing ({note and note[0]})", 1, 0.0, _ms(routed)])
    if traceparent and traceparent.count("-") == 3:
        spans[0].append(traceparent.split("-")[1])
    return spans


def _routing(
    route: str | None, outcome: str | None, session: str | None, note: list[Any] | None
) -> dict[str, Any]:
    """How the model was chosen: the route kind, the preference-routing outcome and what the
    routing step noted (selected, fell back, skipped, session events, budget switch)."""
    out: dict[str, Any] = {"route": route, "outcome": outcome, "session": session}
    if note is not None:
        kind, selected, fallback, ns, skip, events, switch, decision, budget = note
        out.update(
            kind=kind,
            selected=selected,
            fallback=fallback,
            ms=_ms(ns),
            skip=skip,
            session_events=events or None,
            switch=switch,
            decision=decision,
            budget=budget,
        )
    return out


def clip(e: list[Any]) -> list[Any]:
    """A raw entry too big for its ring slot, made smaller: no body, no snippets, no guard or
    PII detail, no budget-gate attributes, client-chosen strings cut to 200 characters."""
    out = list(e)
    for i in (3, 5, 8):  # request id, path, requested model: the client's
        if isinstance(out[i], str):
            out[i] = out[i][:200]
    if out[30] is not None:
        out[30] = (*out[30][:8], None)
    out[36] = out[37] = out[39] = None
    if out[38] is not None:
        out[38] = (*out[38][:5], [])
    return out
