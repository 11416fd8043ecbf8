"""CPU cost of the SSE event-boundary scans on the streaming paths (no I/O), per stream.

    PYTHONPATH=src python bench/sse_scan_cost.py [--n 20000]

Four consumers of the shared scanner (`plano.codec.sse_scan`), each timed with `timeit` (best of 5)
over whole streams, in microseconds per stream:

* `StreamUsage.feed` (the passthrough usage scan, run on every chunk of every relayed stream) over a
  20-chunk OpenAI chat stream with `include_usage` (`"usage":null` on each chunk, the usage chunk,
  `[DONE]`), one event per chunk as OpenAI sends them; the same stream without usage; and the same
  bytes re-cut into 64-byte network pieces (events split across chunks);
* `JsonSse.feed` over a 20-event Anthropic Messages stream (`event:` + `data:` lines), one event
  per chunk and in 64-byte pieces;
* the stream guard's validating pass (`stream_guard._checked`) over the OpenAI stream.
"""

from __future__ import annotations

import argparse
import asyncio
import timeit
from collections.abc import AsyncIterator, Callable

import orjson

from plano.observability.usage import StreamUsage
from plano.translate.sse_json import JsonSse
from plano.upstream.stream_guard import _checked


def _event(doc: object, name: str | None = None) -> bytes:
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + orjson.dumps(doc) + b"\n\n"


def openai_chunks(usage: bool) -> list[bytes]:
    """20 chunks: 18 content deltas, the usage chunk, `[DONE]` (one event per chunk)."""
    base = {"id": "chatcmpl-9x8y7z", "object": "chat.completion.chunk", "created": 1718000000}
    base |= {"model": "gpt-4o-2024-08-06", "system_fingerprint": "fp_abc123"}
    chunks = []
    for i in range(18):
        doc = base | {"choices": [{"index": 0, "delta": {"content": f" word{i}"}}]}
        chunks.append(_event(doc | {"usage": None} if usage else doc))
    final = {"prompt_tokens": 42, "completion_tokens": 18, "total_tokens": 60}
    chunks.append(_event(base | {"choices": [], "usage": final if usage else None}))
    chunks.append(b"data: [DONE]\n\n")
    return chunks


def anthropic_chunks() -> list[bytes]:
    """20 events: message_start, a text block of 15 deltas, message_delta, message_stop."""
    start = {"type": "message_start", "message": {"id": "msg_01", "type": "message"}}
    start["message"] |= {"role": "assistant", "content": [], "model": "claude-sonnet-4-5"}
    start["message"] |= {"usage": {"input_tokens": 42, "output_tokens": 1}}
    events = [_event(start, "message_start")]
    block = {"type": "text", "text": ""}
    events.append(
        _event(
            {"type": "content_block_start", "index": 0, "content_block": block},
            "content_block_start",
        )
    )
    for i in range(15):
        delta = {"type": "content_block_delta", "index": 0}
        delta["delta"] = {"type": "text_delta", "text": f" word{i}"}
        events.append(_event(delta, "content_block_delta"))
    events.append(_event({"type": "content_block_stop", "index": 0}, "content_block_stop"))
    delta = {"type": "message_delta", "delta": {"stop_reason": "end_turn"}}
    events.append(_event(delta | {"usage": {"output_tokens": 18}}, "message_delta"))
    events.append(_event({"type": "message_stop"}, "message_stop"))
    return events


def recut(chunks: list[bytes], size: int = 64) -> list[bytes]:
    data = b"".join(chunks)
    return [data[i : i + size] for i in range(0, len(data), size)]


def usage_scan(chunks: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        usage = StreamUsage()
        for chunk in chunks:
            usage.feed(chunk)

    return run


def json_sse(chunks: list[bytes]) -> Callable[[], None]:
    def run() -> None:
        sse = JsonSse()
        for chunk in chunks:
            sse.feed(chunk)
        sse.close()

    return run


def guard(chunks: list[bytes], n: int) -> float:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    async def once() -> None:
        async for _ in _checked(source()):
            pass

    async def many() -> float:
        best = float("inf")
        for _ in range(5):
            t0 = asyncio.get_running_loop().time()
            for _ in range(n):
                await once()
            best = min(best, asyncio.get_running_loop().time() - t0)
        return best / n * 1e6

    return asyncio.run(many())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000, help="streams per timing")
    n = parser.parse_args().n
    openai, anthropic = openai_chunks(True), anthropic_chunks()
    big = recut([_event({"choices": [{"delta": {"content": "x" * (1 << 18)}}]})], 1024)
    cases: list[tuple[str, Callable[[], None], int]] = [
        ("usage scan, OpenAI include_usage, event per chunk", usage_scan(openai), n),
        ("usage scan, OpenAI no usage, event per chunk", usage_scan(openai_chunks(False)), n),
        ("usage scan, OpenAI include_usage, 64-byte pieces", usage_scan(recut(openai)), n),
        (
            "usage scan, OpenAI include_usage, whole stream at once",
            usage_scan([b"".join(openai)]),
            n,
        ),
        ("usage scan, one 256 KiB event in 1 KiB pieces", usage_scan(big), max(1, n // 100)),
        ("JsonSse, Anthropic, event per chunk", json_sse(anthropic), n),
        ("JsonSse, Anthropic, 64-byte pieces", json_sse(recut(anthropic)), n),
    ]
    for name, fn, number in cases:
        best = min(timeit.repeat(fn, number=number, repeat=5))
        print(f"{name:55s} {best / number * 1e6:9.2f} us/stream")
    for name, chunks in (
        ("guard, OpenAI include_usage, event per chunk", openai),
        ("guard, OpenAI include_usage, 64-byte pieces", recut(openai)),
    ):
        print(f"{name:55s} {guard(chunks, n // 4):9.2f} us/stream")


if __name__ == "__main__":
    main()
