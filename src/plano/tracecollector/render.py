"""Plain-text views of traces from the query API: a span tree, or one line per trace."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

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
_HIDDEN_ATTRIBUTES: Final = frozenset({"service.name.override"})


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


def _value(v: Any) -> str:
    if isinstance(v, str):
        return v if v and " " not in v else repr(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _span_lines(span: Mapping[str, Any], prefix: str, last: bool, style: Style) -> list[str]:
    branch = "└─ " if last else "├─ "
    child_prefix = prefix + ("   " if last else "│  ")
    failed = _failed(span)
    name = style(span["name"] or "(unnamed)", fg="red" if failed else None, bold=True)
    service = style(span["service"], fg=_SERVICE_COLOURS.get(span["service"], "white"))
    code = span["attributes"].get("http.status_code")
    parts = [name, service, _ms(span["start_ns"], span["end_ns"])]
    if code is not None:
        parts.append(style(str(code), fg="red" if failed else "green"))
    lines = [prefix + branch + "  ".join(parts)]
    if failed:
        why = span["status_message"] or span["attributes"].get("plano.error.kind") or "error"
        lines.append(child_prefix + "   " + style(f"ERROR: {why}", fg="red", bold=True))
    for key in sorted(span["attributes"]):
        if key not in _HIDDEN_ATTRIBUTES:
            shown = f"{key}={_value(span['attributes'][key])}"
            lines.append(child_prefix + "   " + style(shown, dim=True))
    for event in span["events"]:
        at = _ms(span["start_ns"], event["time_ns"])
        attrs = " ".join(f"{k}={_value(v)}" for k, v in sorted(event["attributes"].items()))
        lines.append(child_prefix + "   " + style(f"event {event['name']} at +{at} {attrs}"))
    return lines


def render_tree(trace: Mapping[str, Any], style: Style = plain) -> str:
    """The trace's header line, then its spans as a tree (children ordered by start time)."""
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
    lines = [header]

    def walk(span: Mapping[str, Any], prefix: str, last: bool, depth: int) -> None:
        lines.extend(_span_lines(span, prefix, last, style))
        kids = children.get(span["span_id"], [])
        next_prefix = prefix + ("   " if last else "│  ")
        for i, kid in enumerate(kids):
            if depth < 64:
                walk(kid, next_prefix, i == len(kids) - 1, depth + 1)

    for i, root in enumerate(roots):
        walk(root, "", i == len(roots) - 1, 0)
    return "\n".join(lines)


def render_list(traces: Sequence[Mapping[str, Any]], style: Style = plain) -> str:
    """One line per trace: short id, time, duration, spans, status, root span name."""
    lines = []
    for t in traces:
        failed = any(_failed(s) for s in t["spans"])
        codes = [
            s["attributes"]["http.status_code"]
            for s in t["spans"]
            if isinstance(s["attributes"].get("http.status_code"), int)
        ]
        status = str(codes[0]) if codes else ("error" if failed else "-")
        lines.append(
            "  ".join(
                [
                    style(t["trace_id"][:8], bold=True),
                    _clock(t["start_ns"]),
                    f"{_ms(t['start_ns'], t['end_ns']):>10}",
                    f"{t['span_count']:>3} spans",
                    style(f"{status:>5}", fg="red" if failed else "green"),
                    t["root"],
                ]
            )
        )
    return "\n".join(lines)
