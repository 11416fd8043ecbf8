"""A functional check of each target before it is measured: a fast wrong answer is not a result."""

from __future__ import annotations

import http.client
from dataclasses import dataclass

import orjson

from loadgen import PATH, chat_body


@dataclass(slots=True)
class ProbeResult:
    ok: bool
    detail: str


def _post(port: int, stream: bool) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"content-type": "application/json", "authorization": "Bearer client-key"}
        conn.request("POST", PATH, body=chat_body(stream), headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.getheader("content-type", ""), resp.read()
    finally:
        conn.close()


def _stream_events(raw: bytes) -> tuple[int, bool]:
    """(number of JSON data events, whether the stream ended with [DONE])."""
    events, done = 0, False
    for line in raw.splitlines():
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            done = True
        else:
            orjson.loads(data)
            events += 1
    return events, done


def probe(port: int, min_events: int) -> ProbeResult:
    """POST one non-streaming and one streaming chat request and check both answers."""
    try:
        status, ctype, raw = _post(port, stream=False)
        if status != 200 or not ctype.startswith("application/json"):
            return ProbeResult(False, f"non-stream: HTTP {status} {ctype}: {raw[:300]!r}")
        reply = orjson.loads(raw)
        if not reply.get("choices"):
            return ProbeResult(False, f"non-stream: no choices in {raw[:300]!r}")
        status, ctype, raw = _post(port, stream=True)
        if status != 200 or not ctype.startswith("text/event-stream"):
            return ProbeResult(False, f"stream: HTTP {status} {ctype}: {raw[:300]!r}")
        events, done = _stream_events(raw)
    except (OSError, http.client.HTTPException, orjson.JSONDecodeError) as exc:
        return ProbeResult(False, f"{exc.__class__.__name__}: {exc}")
    if events < min_events or not done:
        return ProbeResult(False, f"stream: {events} JSON events, [DONE] seen: {done}")
    return ProbeResult(True, f"ok: JSON reply; stream of {events} events + [DONE]")
