"""Plain-text views of traces from the query API (a span tree, or one line per trace), and the
parsing of the query filters that `plano trace` and the query API share."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from plano.observability.names import ATTR_SIGNALS_QUALITY

Style = Callable[..., str]  # click.style's shape: style(text, fg=..., bold=...)

_SINCE: Final = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNIT_SECONDS: Final = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_SERVICE_COLOURS: Final = {
    "plano(llm)": "cyan",
    "plano(routing)": "magenta",
    "plano(orchestrator)": "blue",
    "plano(filter)": "yellow",
    "plano(agent)": "green",
}
_QUALITY_COLOURS: Final = {
    "excellent": "green",
    "good": "green",
    "neutral": "white",
    "poor": "yellow",
    "severe": "red",
}
_HIDDEN_ATTRIBUTES: Final = frozenset({"service.name.override"})
# Envoy-style edge spans (`plano(inbound)`, `plano(outbound)`) show only these unless verbose.
_EDGE_ATTRIBUTES: Final = frozenset(
    {
        "http.method",
        "http.path",
        "http.target",
        "http.status_code",
        "url.scheme",
        "request_id",
        "guid:x-request-id",
        "request_size",
        "response_size",
    }
)
MAX_VALUE_CHARS: Final = 120  # longer attribute values are cut unless verbose
_WHERE_KEY: Final = re.compile(r"^[A-Za-z0-9_.:-]+$")


def parse_where(text: str) -> tuple[str, str]:
    """`key=value` (an attribute key, an equals sign, the value as text) -> (key, value)."""
    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not value or not _WHERE_KEY.match(key):
        raise ValueError(
            f"{text!r} is not key=value (an attribute key such as llm.model, an equals sign, "
            "a value)"
        )
    return key, value


def parse_since(text: str) -> float:
    """`30s`, `5m`, `2h`, `1d` (or bare seconds) -> seconds."""
    m = _SINCE.match(text)
    if m is None:
        raise ValueError(f"'{text}' is not a duration like 30s, 5m, 2h or 1d")
    return float(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def plain(text: str, **_: Any) -> str:
    return text


def _clock(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))
    return f"{stamp}.{rest // 1_000_000:03d}"


def _ms(start: int, end: int) -> str:
    return f"{max(end - start, 0) / 1e6:.1f} ms"


def _failed(span: Mapping[str, Any]) -> bool:
    code = span["attributes"].get("http.status_code")
    return bool(span["status"] == "error" or (isinstance(code, int) and code >= 500))


def _value(v: Any, verbose: bool = True) -> str:
    if isinstance(v, str):
        text = v if v and " " not in v else repr(v)
    elif isinstance(v, bool):
        text = "true" if v else "false"
    else:
        text = str(v)
    if not verbose and len(text) > MAX_VALUE_CHARS:
        return text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def key_matches(key: str, patterns: Sequence[str]) -> bool:
    """Whether an attribute key matches one of the `--filter` globs (case-sensitive)."""
    return any(fnmatch.fnmatchcase(key, p) for p in patterns)


def shown_attributes(
    span: Mapping[str, Any], verbose: bool, only: Sequence[str] = ()
) -> list[tuple[str, Any]]:
    """The attributes the tree shows, by key: those matching a glob of `only` (when given);
    then all of them when verbose, else without `service.name.override`, and only the request
    basics on edge (inbound/outbound) spans."""
    items = sorted(span["attributes"].items())
    if only:
        items = [(k, v) for k, v in items if key_matches(k, only)]
    if verbose:
        return items
    service = str(span["service"]).lower()
    edge = "inbound" in service or "outbound" in service
    return [
        (k, v)
        for k, v in items
        if k not in _HIDDEN_ATTRIBUTES and (not edge or k in _EDGE_ATTRIBUTES)
    ]


def _span_lines(
    span: Mapping[str, Any],
    prefix: str,
    last: bool,
    style: Style,
    verbose: bool,
    only: Sequence[str],
) -> list[str]:
    branch = "└─ " if last else "├─ "
    child_prefix = prefix + ("   " if last else "│  ")
    failed = _failed(span)
    name = style(span["name"] or "(unnamed)", fg="red" if failed else None, bold=True)
    service = style(span["service"], fg=_SERVICE_COLOURS.get(span["service"], "white"))
    code = span["attributes"].get("http.status_code")
    parts = [name, service, _ms(span["start_ns"], span["end_ns"])]
    if code is not None:
        parts.append(style(str(code), fg="red" if failed else "green"))
    quality = span["attributes"].get(ATTR_SIGNALS_QUALITY)
    if isinstance(quality, str):
        parts.append(_quality(quality, style))
    lines = [prefix + branch + "  ".join(parts)]
    if failed:
        why = span["status_message"] or span["attributes"].get("plano.error.kind") or "error"
        lines.append(child_prefix + "   " + style(f"ERROR: {why}", fg="red", bold=True))
    for key, value in shown_attributes(span, verbose, only):
        shown = f"{key}={_value(value, verbose)}"
        lines.append(child_prefix + "   " + style(shown, dim=True))
    for event in span["events"]:
        at = _ms(span["start_ns"], event["time_ns"])
        attrs = " ".join(
            f"{k}={_value(v, verbose)}" for k, v in sorted(event["attributes"].items())
        )
        lines.append(child_prefix + "   " + style(f"event {event['name']} at +{at} {attrs}"))
    return lines


def render_tree(
    trace: Mapping[str, Any],
    style: Style = plain,
    verbose: bool = False,
    only: Sequence[str] = (),
) -> str:
    """The trace's header line, then its spans as a tree (children ordered by start time).
    `verbose` shows every attribute, values uncut; `only` (globs) limits the attribute lines
    to matching keys (span lines, statuses and errors stay as they are)."""
    spans: Sequence[Mapping[str, Any]] = trace["spans"]
    ids = {s["span_id"] for s in spans}
    children: dict[str, list[Mapping[str, Any]]] = {}
    roots = []
    for s in spans:
        if s["parent_span_id"] and s["parent_span_id"] in ids:
            children.setdefault(s["parent_span_id"], []).append(s)
        else:
            roots.append(s)
    header = (
        f"trace {style(trace['trace_id'], bold=True)}  {_clock(trace['start_ns'])}  "
        f"{_ms(trace['start_ns'], trace['end_ns'])}  {trace['span_count']} span"
        f"{'' if trace['span_count'] == 1 else 's'}"
    )
    if trace.get("dropped_spans"):
        header += f" ({trace['dropped_spans']} dropped)"
    if trace.get("plano") is False:
        header += "  " + style(f"[not Plano: {trace.get('service') or '?'}]", fg="yellow")
    lines = [header]

    def walk(span: Mapping[str, Any], prefix: str, last: bool, depth: int) -> None:
        lines.extend(_span_lines(span, prefix, last, style, verbose, only))
        kids = children.get(span["span_id"], [])
        next_prefix = prefix + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            if depth < 64:
                walk(kid, next_prefix, i == len(kids) - 1, depth + 1)

    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1, 0)
    return "\n".join(lines)


def _quality(quality: str, style: Style) -> str:
    """`signals=poor`, coloured by the agentic-signals quality bucket."""
    return style(f"signals={quality}", fg=_QUALITY_COLOURS.get(quality, "white"))


def _foreign(trace: Mapping[str, Any], style: Style) -> list[str]:
    """`[not Plano: SERVICE]` for a trace none of whose spans Plano made."""
    if trace.get("plano") is not False:
        return []
    return [style(f"[not Plano: {trace.get('service') or '?'}]", fg="yellow")]


def render_list(traces: Sequence[Mapping[str, Any]], style: Style = plain) -> str:
    """One line per trace: short id, time, duration, spans, status, root span name (a flagged
    request's ends with 🚩) and its agentic-signals quality, when analysed."""
    lines = []
    for t in traces:
        failed = any(_failed(s) for s in t["spans"])
        codes = [
            s["attributes"]["http.status_code"]
            for s in t["spans"]
            if isinstance(s["attributes"].get("http.status_code"), int)
        ]
        status = str(codes[0]) if codes else ("error" if failed else "-")
        qualities = [
            q for s in t["spans"] if isinstance(q := s["attributes"].get(ATTR_SIGNALS_QUALITY), str)
        ]
        signals = [_quality(qualities[0], style)] if qualities else []
        lines.append(
            "  ".join(
                [
                    style(t["trace_id"][:8], bold=True),
                    _clock(t["start_ns"]),
                    f"{_ms(t['start_ns'], t['end_ns']):>10}",
                    f"{t['span_count']:>3} spans",
                    style(f"{status:>5}", fg="red" if failed else "green"),
                    t["root"],
                    *signals,
                    *_foreign(t, style),
                ]
            )
        )
    return "\n".join(lines)
