from __future__ import annotations

import io

import orjson

from plano.observability.access_log import AccessLog, Clock, text_line
from plano.observability.record import RequestRecord


def record() -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.status = 200
    r.model = "openai/gpt-4o"
    r.provider = "openai"
    r.request_id = "abc123"
    r.prompt_tokens, r.completion_tokens = 12, 3
    r.upstream_sent = r.start + 1_000_000
    r.upstream_done = r.start + 5_000_000
    r.end = r.start + 5_500_000
    return r


def test_overhead_excludes_upstream_wait() -> None:
    assert record().overhead_ns() == 1_500_000


def test_stream_overhead_is_added_time_to_first_chunk() -> None:
    r = record()
    r.stream = True
    r.upstream_first_chunk = r.start + 3_000_000
    r.downstream_first_chunk = r.start + 3_200_000
    assert r.overhead_ns() == 1_200_000


def test_text_line() -> None:
    line = text_line(record(), Clock())
    assert '"POST /v1/chat/completions" 200 llm' in line
    assert "model=openai/gpt-4o" in line and "tokens=12/3" in line
    assert "overhead_ms=1.5" in line and "request_id=abc123" in line


def test_json_lines_written_by_the_background_thread() -> None:
    out = io.StringIO()
    log = AccessLog("json", out)
    for _ in range(300):
        log.write(record())
    log.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 300
    doc = orjson.loads(lines[0])
    assert doc["status"] == 200 and doc["upstream_ms"] == 4.0 and doc["overhead_ms"] == 1.5
    assert doc["time"].endswith("Z")
