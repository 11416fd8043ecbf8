"""Gateway CPU per streamed request: same-dialect passthrough vs translated streams.

    python bench/translate_cost.py [--requests 2000] [--rounds 3] [--chunks 20] [--concurrency 8]

Starts the fake upstream (it speaks OpenAI chat and Anthropic Messages) and one gateway worker
(each pinned to its own core), then streams the same completion five ways, alternating rounds:
an OpenAI chat client (`/v1/chat/completions`, relayed untranslated); the same asking
`stream_options.include_usage` (the upstream bytes a translated request gets); an Anthropic
Messages client to the same OpenAI-chat provider (every chunk decoded to the IR and re-encoded as
Anthropic events); an OpenAI chat client reaching an Anthropic provider (each Anthropic event
re-encoded as a chat chunk); and an Anthropic client to that provider, untranslated (the same
upstream bytes). Prints the gateway's CPU time per request (from /proc, user + system) for each,
and the ratios; the median round counts.

Then, codec work alone (no I/O) per stream of the same length for three directions: upstream
decoder + client encoder, against the passthrough's usage scan.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

import procs
import targets
from plano.codec.sse import encode_event
from plano.observability.usage import StreamUsage
from plano.translate import client_codec, upstream_codec
from plano.wire.api import Api

CHAT = orjson.dumps(
    {
        "model": "openai/gpt-4o",
        "stream": True,
        "messages": [{"role": "user", "content": "Tell me a short story about a gateway."}],
    }
)
CHAT_USAGE = orjson.dumps(  # the same, asking for usage as the translated request does upstream
    {**orjson.loads(CHAT), "stream_options": {"include_usage": True}}
)
CHAT_TO_ANTHROPIC = orjson.dumps({**orjson.loads(CHAT), "model": "anthropic/claude-sonnet-4-6"})
MESSAGES_TO_ANTHROPIC = orjson.dumps(  # Anthropic client, Anthropic provider: passthrough
    {**orjson.loads(CHAT), "model": "anthropic/claude-sonnet-4-6", "max_tokens": 512}
)
MESSAGES = orjson.dumps(
    {
        "model": "openai/gpt-4o",
        "stream": True,
        "max_tokens": 512,
        "messages": [{"role": "user", "content": "Tell me a short story about a gateway."}],
    }
)


async def drive(url: str, body: bytes, requests: int, concurrency: int) -> int:
    """Send `requests` streamed requests, `concurrency` at a time; returns bytes received."""
    received = 0
    left = requests
    headers = {"content-type": "application/json", "x-api-key": "k", "authorization": "Bearer k"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, received
        while left > 0:
            left -= 1
            async with session.post(url, data=body, headers=headers) as resp:
                assert resp.status == 200, await resp.text()
                async for chunk in resp.content.iter_any():
                    received += len(chunk)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return received


def measure(pid: int, url: str, body: bytes, args: argparse.Namespace) -> float:
    before = procs.cpu_seconds(pid)
    asyncio.run(drive(url, body, args.requests, args.concurrency))
    return (procs.cpu_seconds(pid) - before) / args.requests * 1e6


def anthropic_stream(chunks: int) -> list[bytes]:
    """An Anthropic Messages text stream of `chunks` deltas, as the API frames it."""

    def ev(doc: dict[str, object]) -> bytes:
        return encode_event(orjson.dumps(doc), event=str(doc["type"]))

    usage = {"input_tokens": 12, "output_tokens": 1}
    msg = {"id": "msg_1", "type": "message", "role": "assistant", "content": [], "usage": usage}
    out = [ev({"type": "message_start", "message": {**msg, "model": "claude"}})]
    out.append(ev({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}))
    for i in range(chunks):
        delta = {"type": "text_delta", "text": f"word{i} and more "}
        out.append(ev({"type": "content_block_delta", "index": 0, "delta": delta}))
    out.append(ev({"type": "content_block_stop", "index": 0}))
    end = {"stop_reason": "end_turn", "stop_sequence": None}
    out.append(ev({"type": "message_delta", "delta": end, "usage": {"output_tokens": chunks}}))
    out.append(ev({"type": "message_stop"}))
    return out


def chat_stream(chunks: int) -> list[bytes]:
    def ev(delta: dict[str, object], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        doc = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": [choice]}
        return encode_event(orjson.dumps(doc))

    out = [ev({"role": "assistant", "content": ""})]
    out += [ev({"content": f"word{i} and more "}) for i in range(chunks)]
    return [*out, ev({}, "stop"), b"data: [DONE]\n\n"]


def codec_us(source: Api, client: Api, stream: list[bytes], n: int = 2000) -> float:
    up, cl = upstream_codec(source), client_codec(client)
    assert up is not None and cl is not None
    request = cl.parse_request({**orjson.loads(MESSAGES), "input": "hi"})
    t0 = time.process_time()
    for _ in range(n):
        dec, enc = up.stream_decoder(), cl.stream_encoder(request)
        for chunk in stream:
            enc.encode(dec.feed(chunk))
        enc.encode(dec.close())
    return (time.process_time() - t0) / n * 1e6


def scan_us(stream: list[bytes], n: int = 2000) -> float:
    t0 = time.process_time()
    for _ in range(n):
        usage = StreamUsage()
        for chunk in stream:
            usage.feed(chunk)
    return (time.process_time() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    os.environ.setdefault("PLANO_ADMIN_PORT", "off")  # never clash with another gateway's :9901
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        upstream, port = targets.start_upstream(log_dir, args.chunks, None)
        gateway = targets.start_gateway(log_dir, port, targets.ANTHROPIC_PROVIDER)
        assert gateway.service is not None
        base = f"http://127.0.0.1:{gateway.port}"
        try:
            asyncio.run(drive(f"{base}/v1/messages", MESSAGES, 50, 4))  # warm up both paths
            asyncio.run(drive(f"{base}/v1/chat/completions", CHAT, 50, 4))
            asyncio.run(drive(f"{base}/v1/chat/completions", CHAT_TO_ANTHROPIC, 50, 4))
            asyncio.run(drive(f"{base}/v1/messages", MESSAGES_TO_ANTHROPIC, 50, 4))
            passthrough, with_usage, translated, to_anthropic, anthropic_pass = [], [], [], [], []
            for _ in range(args.rounds):
                pid = procs.serving_pid(gateway.service.pid)
                passthrough.append(measure(pid, f"{base}/v1/chat/completions", CHAT, args))
                with_usage.append(measure(pid, f"{base}/v1/chat/completions", CHAT_USAGE, args))
                translated.append(measure(pid, f"{base}/v1/messages", MESSAGES, args))
                chat_url = f"{base}/v1/chat/completions"
                to_anthropic.append(measure(pid, chat_url, CHAT_TO_ANTHROPIC, args))
                messages_url = f"{base}/v1/messages"
                anthropic_pass.append(measure(pid, messages_url, MESSAGES_TO_ANTHROPIC, args))
        finally:
            procs.stop(gateway.service)
            procs.stop(upstream)
    p, t = statistics.median(passthrough), statistics.median(translated)
    u = statistics.median(with_usage)
    a = statistics.median(to_anthropic)
    ap = statistics.median(anthropic_pass)
    print(f"chunks per stream: {args.chunks}, requests per round: {args.requests}")
    print(f"passthrough (chat -> chat)              {p:8.1f} µs CPU per request")
    print(f"passthrough, include_usage (same bytes) {u:8.1f} µs CPU per request")
    print(f"translated  (messages -> chat)          {t:8.1f} µs CPU per request")
    print(f"ratio translated / passthrough          {t / p:8.2f}")
    print(f"ratio translated / passthrough w. usage {t / u:8.2f}")
    print(f"translated  (chat -> anthropic)         {a:8.1f} µs CPU per request")
    print(f"ratio chat->anthropic / passthrough     {a / p:8.2f}")
    print(f"passthrough (messages -> anthropic)     {ap:8.1f} µs CPU per request")
    print(f"ratio chat->anthropic / that            {a / ap:8.2f}  (same upstream bytes)")
    ant, chat = anthropic_stream(args.chunks), chat_stream(args.chunks)
    print("codec work per stream (no I/O):")
    rows = [
        ("passthrough usage scan (chat)", scan_us(chat)),
        ("anthropic -> openai chat client", codec_us(Api.ANTHROPIC_MESSAGES, Api.OPENAI_CHAT, ant)),
        (
            "openai chat -> anthropic client",
            codec_us(Api.OPENAI_CHAT, Api.ANTHROPIC_MESSAGES, chat),
        ),
        ("openai chat -> responses client", codec_us(Api.OPENAI_CHAT, Api.OPENAI_RESPONSES, chat)),
    ]
    for name, us in rows:
        print(f"  {name:<34} {us:8.1f} µs")


if __name__ == "__main__":
    main()
