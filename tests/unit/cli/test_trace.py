"""`plano trace` queries against a receiver on loopback (click's runner, in process)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from plano.cli.trace import trace
from plano.tracecollector.render import parse_since, render_list, render_tree
from plano.tracecollector.server import Collector

NOW = time.time_ns()


def span(trace_id: str, span_id: str, parent: str = "", **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "name": f"POST /v1/chat/completions {kw.get('model', 'gpt-4o')}",
        "kind": "server",
        "service": "plano(llm)",
        "start_ns": kw.get("start", NOW),
        "end_ns": kw.get("start", NOW) + 42_000_000,
        "status": kw.get("status", "unset"),
        "status_message": kw.get("message", ""),
        "attributes": {
            "llm.model": f"openai/{kw.get('model', 'gpt-4o')}",
            "http.status_code": kw.get("code", 200),
        },
        "events": [],
    }
    return base


OLD = "a" * 32
NEW = "b" * 32
BAD = "c" * 32


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector("127.0.0.1", 0, 0) as c:
        c.store.add([span(OLD, "1" * 16, start=NOW - 3600 * 10**9, model="gpt-4o-mini")])
        c.store.add(
            [
                span(
                    BAD,
                    "3" * 16,
                    start=NOW - 60 * 10**9,
                    code=502,
                    status="error",
                    message="upstream_status",
                )
            ]
        )
        c.store.add([span(NEW, "2" * 16, "f" * 16), span(NEW, "4" * 16, "2" * 16, start=NOW + 1)])
        yield c


def run(c: Collector | None, tmp_path: Path, *args: str, port: int | None = None) -> Result:
    env = {"PLANO_HOME": str(tmp_path), "PLANO_TRACE_PORT": str(port or (c.http_port if c else 0))}
    return CliRunner(env=env).invoke(trace, list(args), prog_name="plano trace")


def test_last_is_the_default(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"trace {NEW}")
    assert OLD not in result.output
    lines = result.output.splitlines()
    assert lines[1].startswith("└─ POST /v1/chat/completions gpt-4o  plano(llm)  42.0 ms  200")
    assert any(line.strip().startswith("└─ POST") and line.startswith("   ") for line in lines[2:])
    assert "llm.model=openai/gpt-4o" in result.output


def test_json(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, NEW, "--json")
    assert result.exit_code == 0, result.output
    (t,) = json.loads(result.output)["traces"]
    assert t["trace_id"] == NEW
    assert {s["parent_span_id"] for s in t["spans"]} == {"f" * 16, "2" * 16}


def test_short_id_and_explicit_show(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "show", "CCCCCCCC")
    assert result.exit_code == 0, result.output
    assert f"trace {BAD}" in result.output
    assert "ERROR: upstream_status" in result.output


def test_list_with_filters(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "any", "--list")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == [
        "bbbbbbbb",
        "cccccccc",
        "aaaaaaaa",
    ]
    result = run(collector, tmp_path, "any", "--list", "--since", "2h", "--status", "error")
    assert [line.split()[0] for line in result.output.splitlines()] == ["cccccccc"]
    result = run(collector, tmp_path, "any", "--json", "--model", "*mini")
    assert [t["trace_id"] for t in json.loads(result.output)["traces"]] == [OLD]
    result = run(collector, tmp_path, "any", "--json", "--limit", "1")
    assert [t["trace_id"] for t in json.loads(result.output)["traces"]] == [NEW]


def test_nothing_found_exits_1(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "--model", "claude-*")
    assert result.exit_code == 1
    assert "no matching traces" in result.output


@pytest.mark.parametrize(
    "args", [["nonsense"], ["1234567"], ["--since", "soon"], ["--status", "5xx"], ["--limit", "0"]]
)
def test_bad_arguments_are_usage_errors(
    collector: Collector, tmp_path: Path, args: list[str]
) -> None:
    result = run(collector, tmp_path, *args)
    assert result.exit_code == 2, result.output


def test_no_receiver(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        result = run(None, tmp_path, port=port)
    assert result.exit_code == 1
    assert "plano trace listen" in result.output


def test_down_when_not_running(tmp_path: Path) -> None:
    result = run(None, tmp_path, "down")
    assert result.exit_code == 0
    assert "not running" in result.output


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("1.5", 1.5)]
)
def test_parse_since(text: str, seconds: float) -> None:
    assert parse_since(text) == seconds


def test_render_shows_events_and_orphans_as_roots() -> None:
    s = span(NEW, "2" * 16, "f" * 16)
    s["events"] = [
        {
            "name": "llm.time_to_first_token",
            "time_ns": s["start_ns"] + 9_000_000,
            "attributes": {"llm.time_to_first_token": 9},
        }
    ]
    t = {
        "trace_id": NEW,
        "start_ns": s["start_ns"],
        "end_ns": s["end_ns"],
        "span_count": 1,
        "root": s["name"],
        "spans": [s],
        "dropped_spans": 2,
    }
    text = render_tree(t)
    assert "1 span (2 dropped)" in text
    assert "event llm.time_to_first_token at +9.0 ms llm.time_to_first_token=9" in text
    assert render_list([t]).split()[0] == "bbbbbbbb"


def test_where_keeps_traces_with_that_attribute_value(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "any", "--list", "--where", "llm.model=openai/gpt-4o-mini")
    assert result.exit_code == 0, result.output
    assert [line.split()[0] for line in result.output.splitlines()] == ["aaaaaaaa"]
    # Repeated: every condition holds (on some span each).
    both = ["--where", "http.status_code=502", "--where", " llm.model = openai/gpt-4o "]
    result = run(collector, tmp_path, "any", "--json", *both)
    assert [t["trace_id"] for t in json.loads(result.output)["traces"]] == [BAD]
    result = run(collector, tmp_path, "any", "--where", "http.status_code=502", "--where",
                 "llm.model=openai/gpt-4o-mini")  # fmt: skip
    assert result.exit_code == 1
    assert "no matching traces" in result.output


@pytest.mark.parametrize("bad", ["llm.model", "=x", "llm.model=", "bad key=1", "k*=v"])
def test_where_syntax_errors_are_usage_errors(
    collector: Collector, tmp_path: Path, bad: str
) -> None:
    result = run(collector, tmp_path, "--where", bad)
    assert result.exit_code == 2, result.output
    assert "--where" in result.output and "key=value" in result.output


def test_where_on_an_unknown_key_says_so(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "--where", "llm.modle=openai/gpt-4o")
    assert result.exit_code == 1
    assert "unknown where key(s): llm.modle" in result.output


def test_filter_limits_the_attributes_shown(collector: Collector, tmp_path: Path) -> None:
    s = span(NEW, "5" * 16, "2" * 16, start=NOW + 2)
    s["attributes"]["llm.usage.total_tokens"] = 9
    s["attributes"]["request_id"] = "r-1"
    collector.store.add([s])
    result = run(collector, tmp_path, NEW, "--filter", "llm.*")
    assert result.exit_code == 0, result.output
    assert "llm.model=openai/gpt-4o" in result.output
    assert "llm.usage.total_tokens=9" in result.output
    assert "http.status_code=" not in result.output and "request_id" not in result.output
    assert "42.0 ms  200" in result.output  # the span line still shows the status
    result = run(collector, tmp_path, NEW, "--filter", "llm.model", "--filter", "request_*")
    assert "llm.model=" in result.output and "request_id=r-1" in result.output
    assert "llm.usage" not in result.output
    result = run(collector, tmp_path, NEW, "--json", "--filter", "http.*,nothing.*")
    assert result.exit_code == 0, result.output
    assert "--filter: no attribute key of these traces matches nothing.*" in result.output
    traces = json.loads(result.output[result.output.index("{") :])["traces"]
    assert {k for s in traces[0]["spans"] for k in s["attributes"]} == {"http.status_code"}


def test_an_empty_filter_pattern_is_a_usage_error(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "--filter", "llm.*,")
    assert result.exit_code == 2
    assert "empty pattern" in result.output


def test_verbose_shows_every_attribute_uncut(collector: Collector, tmp_path: Path) -> None:
    trace_id = "d" * 32
    llm = span(trace_id, "6" * 16)
    llm["attributes"]["service.name.override"] = "plano(llm)"
    llm["attributes"]["llm.user_message_preview"] = "x" * 300
    edge = span(trace_id, "7" * 16, "6" * 16)
    edge["service"] = "plano(inbound)"
    edge["attributes"] = {"http.method": "POST", "upstream_cluster": "llm"}
    collector.store.add([llm, edge])
    brief = run(collector, tmp_path, trace_id)
    assert brief.exit_code == 0, brief.output
    assert "service.name.override" not in brief.output
    assert f"llm.user_message_preview={'x' * 119}…" in brief.output
    assert "http.method=POST" in brief.output
    assert "upstream_cluster" not in brief.output
    full = run(collector, tmp_path, trace_id, "-v", "--no-interactive")
    assert full.exit_code == 0, full.output
    assert "service.name.override=plano(llm)" in full.output
    assert f"llm.user_message_preview={'x' * 300}\n" in full.output
    assert "upstream_cluster=llm" in full.output
    assert run(collector, tmp_path, trace_id, "--verbose").output == full.output


def test_an_unknown_trace_id_is_an_error(collector: Collector, tmp_path: Path) -> None:
    for target in ("e" * 32, "eeeeeeee"):
        result = run(collector, tmp_path, target)
        assert result.exit_code == 1
        assert f"no trace {target} in the receiver" in result.output


def test_list_as_json_gives_the_ids(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "any", "--list", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"trace_ids": [NEW, BAD, OLD]}
