"""Does the gateway's cost grow linearly with size? Prompts, stream lengths, idle streams.

    python bench/size_scaling.py [--quick] [--rounds 3] [--idle 10000] [--skip prompts,streams,idle]

One gateway worker (core 0) in front of the fake upstream (`plano mock-llm`, core 1, recording
nothing), driven from this process (core 1). Three parts, each printed as a table:

* **prompts**: non-streamed requests whose prompt is 10 KB, 100 KB or 1 MB (many text messages
  of ~1 KB and base64 PNG data URLs / image blocks, half the bytes each), through the chat
  passthrough and three translations (Messages client -> chat upstream, Responses -> chat,
  chat -> Messages). Gateway CPU per request (from /proc) and per KB of request body; the
  *marginal* column is (CPU at this size - CPU at the smallest) / (the extra bytes), which must
  stay flat if nothing is super-linear.
* **streams**: streamed replies of 100, 1,000 and 10,000 content chunks (`x-mock-chunks`), same
  four variants: CPU per request and per chunk, and the marginal CPU per chunk.
* **idle**: N streams held open at once (the upstream sends the head and two events, then
  nothing: `x-mock-fault: stall_mid_stream`); the gateway's RSS before and with them open gives
  memory per stream; meanwhile 200 ordinary requests are timed to show it stays responsive.
  The file-descriptor limit is raised here (the gateway inherits it) and the gateway's
  `server.max_connections` set above 2 N.

Rounds alternate the variants; the median round counts. CPU figures are per gateway process
(user + system), so they do not depend on how busy the load side is, but a shared machine still
moves them by a few per cent.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import socket
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

import procs
import targets

KB = 1024
OPENAI = "openai/gpt-4o"
ANTHROPIC = "anthropic/claude-sonnet-4-6"
CHAT_ONLY = "mistral/mistral-large"  # an OpenAI-compatible vendor: Responses clients get chat
CHAT_ONLY_PROVIDER = """\
  - model: mistral/mistral-large
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
"""
CHAT, MESSAGES, RESPONSES = "/v1/chat/completions", "/v1/messages", "/v1/responses"
# (name, client path, model): the client's dialect is the path's, the upstream's the model's.
VARIANTS = (
    ("chat -> chat (passthrough)", CHAT, OPENAI),
    ("messages -> chat", MESSAGES, OPENAI),
    ("responses -> chat", RESPONSES, CHAT_ONLY),
    ("chat -> messages", CHAT, ANTHROPIC),
)
HEADERS = {"content-type": "application/json", "authorization": "Bearer k", "x-api-key": "k"}
SHORT = {"x-mock-text": "A short answer."}  # the mock's default text is long (for the streams)
LONGEST = 10000  # chunks in the longest stream; the default text has a word for each
SERVER_LIMITS = """\
server:
  max_connections: {max_conns}
  keepalive_timeout: 600
"""


def _image(size: int) -> str:
    """Base64 of `size` random bytes after a PNG signature (nobody decodes the picture)."""
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(size)).decode()


def prompt_body(path: str, model: str, size: int) -> bytes:
    """A non-streamed request of about `size` bytes: ~1 KB text turns and ~32 KB images."""
    text = "The quick brown fox jumps over the lazy dog while the gateway relays it. " * 14
    image_bytes = min(32 * KB, max(size // 8, 256))
    turns: list[Any] = []
    used = 0
    i = 0
    while used < size:
        if i % 4 == 3 and used + image_bytes * 4 // 3 < size:
            b64 = _image(image_bytes)
            used += len(b64)
            if path == MESSAGES:
                source = {"type": "base64", "media_type": "image/png", "data": b64}
                content: Any = [{"type": "image", "source": source}]
            elif path == RESPONSES:
                content = [{"type": "input_image", "image_url": f"data:image/png;base64,{b64}"}]
            else:
                url = {"url": f"data:image/png;base64,{b64}"}
                content = [{"type": "image_url", "image_url": url}]
            turns.append({"role": "user", "content": content})
            turns.append({"role": "assistant", "content": "I see an image."})
        else:
            turns.append({"role": "user", "content": f"{i}: {text}"})
            turns.append({"role": "assistant", "content": f"Noted {i}."})
            used += len(text) + 40
        i += 1
    turns.append({"role": "user", "content": "Summarise all of that in one line."})
    doc: dict[str, Any] = {"model": model, "max_tokens": 64}
    if path == RESPONSES:
        del doc["max_tokens"]
        doc["input"] = turns
    else:
        doc["messages"] = turns
    return orjson.dumps(doc)


def stream_body(path: str, model: str) -> bytes:
    doc: dict[str, Any] = {"model": model, "stream": True}
    doc["max_output_tokens" if path == RESPONSES else "max_tokens"] = 8 * LONGEST
    turns = [{"role": "user", "content": "Tell me a long story."}]
    doc["input" if path == RESPONSES else "messages"] = turns
    return orjson.dumps(doc)


# --- a minimal HTTP/1.1 client (keep-alive, content-length and chunked bodies) -------------------


class Conn:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, path: str, body: bytes, extra: dict[str, str] | None = None) -> int:
        """POST; read the whole answer; returns its body size (asserts a 200)."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(
                "127.0.0.1", self.port, limit=1 << 22
            )
        assert self.reader is not None
        self.writer.write(_head(path, body, extra) + body)
        status, headers = await _read_head(self.reader)
        size = await _read_body(self.reader, headers)
        assert status == 200, f"{path}: status {status}"
        return size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _head(path: str, body: bytes, extra: dict[str, str] | None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in {**HEADERS, **(extra or {})}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    raw = await reader.readuntil(b"\r\n\r\n")
    first, *rest = raw.decode("latin-1").split("\r\n")
    headers = {}
    for line in rest:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return int(first.split()[1]), headers


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> int:
    if "content-length" in headers:
        return len(await reader.readexactly(int(headers["content-length"])))
    total = 0
    while True:
        size = int((await reader.readline()).split(b";")[0], 16)
        await reader.readexactly(size + 2)
        total += size
        if size == 0:
            return total


async def drive(port: int, jobs: list[tuple[str, bytes, dict[str, str]]], conns: int) -> None:
    queue = list(reversed(jobs))

    async def worker() -> None:
        conn = Conn(port)
        try:
            while queue:
                path, body, extra = queue.pop()
                await conn.request(path, body, extra)
        finally:
            conn.close()

    await asyncio.gather(*(worker() for _ in range(conns)))


def cpu_ns(pid: int) -> int:
    """CPU time of all the process's threads in ns (schedstat: finer than /proc/PID/stat)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return total


def cpu_us(pid: int, port: int, job: tuple[str, bytes, dict[str, str]], n: int) -> float:
    before = cpu_ns(pid)
    asyncio.run(drive(port, [job] * n, 2))
    return (cpu_ns(pid) - before) / n / 1e3


# --- the three parts ---------------------------------------------------------------------------


def part_prompts(pid: int, port: int, args: argparse.Namespace) -> None:
    sizes = [10 * KB, 100 * KB, 1024 * KB]
    budget = (16 if args.quick else 48) * 1024 * KB  # bytes sent per cell and round
    bodies = {(v, s): prompt_body(v[1], v[2], s) for v in VARIANTS for s in sizes}
    for (v, _), body in bodies.items():  # warm up, and check every body is accepted
        asyncio.run(drive(port, [(v[1], body, SHORT)] * 2, 1))
    results: dict[tuple[Any, int], list[float]] = {k: [] for k in bodies}
    for _ in range(args.rounds):
        for s in sizes:
            for v in VARIANTS:
                body = bodies[(v, s)]
                n = max(3, budget // len(body))
                results[(v, s)].append(cpu_us(pid, port, (v[1], body, SHORT), n))
    print("\nprompts (non-stream): gateway CPU per request; per KB of body; marginal per KB")
    head = f"{'variant':<28} {'size':>8} {'bytes':>9} {'µs/req':>10} {'µs/KB':>8}"
    print(f"{head} {'marg µs/KB':>11}")
    for v in VARIANTS:
        base = statistics.median(results[(v, sizes[0])])
        base_len = len(bodies[(v, sizes[0])])
        for s in sizes:
            us = statistics.median(results[(v, s)])
            size = len(bodies[(v, s)])
            marg = (us - base) / ((size - base_len) / KB) if size > base_len else float("nan")
            print(
                f"{v[0]:<28} {s // KB:>6}KB {size:>9} {us:>10.1f} "
                f"{us / (size / KB):>8.2f} {marg:>11.3f}"
            )


def part_streams(pid: int, port: int, args: argparse.Namespace) -> None:
    lengths = [100, 1000, 10000]
    budget = 60000 if args.quick else 200000  # chunks per cell and round
    for v in VARIANTS:  # warm up
        asyncio.run(drive(port, [(v[1], stream_body(v[1], v[2]), {"x-mock-chunks": "100"})] * 3, 1))
    results: dict[tuple[Any, int], list[float]] = {(v, n): [] for v in VARIANTS for n in lengths}
    for _ in range(args.rounds):
        for n in lengths:
            for v in VARIANTS:
                job = (v[1], stream_body(v[1], v[2]), {"x-mock-chunks": str(n)})
                results[(v, n)].append(cpu_us(pid, port, job, max(3, budget // n)))
    print("\nstreams: gateway CPU per request; per chunk; marginal per chunk (vs 100 chunks)")
    print(f"{'variant':<28} {'chunks':>7} {'µs/req':>10} {'µs/chunk':>9} {'marg µs/chunk':>14}")
    for v in VARIANTS:
        base = statistics.median(results[(v, lengths[0])])
        for n in lengths:
            us = statistics.median(results[(v, n)])
            marg = (us - base) / (n - lengths[0]) if n > lengths[0] else float("nan")
            print(f"{v[0]:<28} {n:>7} {us:>10.1f} {us / n:>9.2f} {marg:>14.3f}")


async def _hold(port: int, path: str, body: bytes, n: int) -> tuple[list[Any], list[str]]:
    """Open `n` streams and read each until its first events arrived; keep them open. Returns
    the open ones (their writers) and why the others failed."""
    held: list[asyncio.StreamWriter] = []
    failed: list[str] = []
    extra = {**SHORT, "x-mock-fault": "stall_mid_stream", "x-mock-fault-after-chunks": "2"}
    request = _head(path, body, extra) + body
    gate = asyncio.Semaphore(256)  # connect in waves: the listen backlog is finite

    async def one() -> None:
        async with gate:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(request)
            try:
                status, _ = await _read_head(reader)
                if status != 200:
                    raise OSError(f"status {status}")
                await reader.readuntil(b"\n\n")  # the first event
            except (OSError, asyncio.IncompleteReadError) as exc:
                failed.append(repr(exc))
                writer.close()
                return
            held.append(writer)

    await asyncio.gather(*(one() for _ in range(n)))
    return held, failed


async def _timed_requests(port: int, n: int) -> list[float]:
    conn = Conn(port)
    body = orjson.dumps({"model": OPENAI, "messages": [{"role": "user", "content": "hi"}]})
    out = []
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            await conn.request(CHAT, body, SHORT)
            out.append((time.perf_counter() - t0) * 1e3)
    finally:
        conn.close()
    return out


async def _idle_run(
    pid: int, port: int, path: str, model: str, n: int
) -> tuple[float, float, list[float], list[float], float, int]:
    """RSS before and with `n` streams held, latencies without and with them, CPU to open
    them, and how many opened."""
    await _timed_requests(port, 200)  # warm: pools, caches
    base = await _timed_requests(port, 200)
    before = procs.rss_mb(pid) or 0.0
    cpu0 = cpu_ns(pid)
    held, failed = await _hold(port, path, stream_body(path, model), n)
    cpu = (cpu_ns(pid) - cpu0) / 1e9
    if failed:
        print(f"  {len(failed)} streams failed to open, e.g. {failed[0]}")
    await asyncio.sleep(1.0)  # let the gateway settle (timers, GC)
    after = procs.rss_mb(pid) or 0.0
    latency = await _timed_requests(port, 200)
    for w in held:  # reset, not closed: no TIME_WAIT left to hold ports
        sock = w.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w.close()
    return before, after, base, latency, cpu, len(held)


def part_idle(log_dir: Path, up_port: int, args: argparse.Namespace) -> None:
    """Each variant in a fresh gateway, so memory freed by the one before is not reused."""
    print(f"\nidle streams: {args.idle} held open at once; RSS of the gateway worker; latency of")
    print("200 ordinary requests one at a time, with no stream held and then with them all held;")
    print("CPU s: the gateway's CPU time to open them all")
    print(f"{'variant':<28} {'RSS before':>11} {'RSS held':>9} {'KB/stream':>10} "
          f"{'p50 ms':>7} {'held p50':>9} {'held max':>9} {'CPU s':>6}")  # fmt: skip
    for name, path, model in (VARIANTS[0], VARIANTS[1]):
        with serving(log_dir, up_port, args) as (pid, port):
            run = _idle_run(pid, port, path, model, args.idle)
            before, after, base, lat, cpu, n = asyncio.run(run)
        per = (after - before) * 1024 / max(n, 1)
        print(
            f"{name:<28} {before:>9.1f}MB {after:>7.1f}MB {per:>10.1f} "
            f"{statistics.median(base):>7.2f} {statistics.median(lat):>9.2f} {max(lat):>9.2f} "
            f"{cpu:>6.2f}"
        )


@contextmanager
def serving(log_dir: Path, up_port: int, args: argparse.Namespace) -> Iterator[tuple[int, int]]:
    """One gateway worker on the proxy core: (its pid, its port)."""
    tail = SERVER_LIMITS.format(max_conns=2 * args.idle + 1024)
    providers = targets.ANTHROPIC_PROVIDER + CHAT_ONLY_PROVIDER
    gateway = targets.start_gateway(log_dir, up_port, providers, tail)
    assert gateway.service is not None
    try:
        yield procs.serving_pid(gateway.service.pid), gateway.port
    finally:
        procs.stop(gateway.service)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, 1 round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--idle", type=int, default=10000, help="streams held open at once")
    parser.add_argument("--skip", default="", help="comma-separated parts: prompts,streams,idle")
    parser.add_argument("--logs", help="keep the services' logs in this directory")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    skip = set(filter(None, args.skip.split(",")))
    fds = 4 * args.idle + 4096  # the gateway holds 2 per stream; everyone inherits this
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, fds), max(hard, fds)))
    except (ValueError, OSError):  # no CAP_SYS_RESOURCE: the hard limit is the ceiling
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        idle = max(1, min(args.idle, (hard - 1024) // 2))
        print(f"the fd limit is {hard} (could not raise it to {fds}): {idle} idle streams "
              f"instead of {args.idle} (the gateway holds 2 descriptors per stream)")  # fmt: skip
        args.idle = idle
    os.environ.setdefault("PLANO_ADMIN_PORT", "off")
    with tempfile.TemporaryDirectory() as tmp:
        log_dir = Path(args.logs or tmp)
        log_dir.mkdir(parents=True, exist_ok=True)
        mock = [
            sys.executable, "-m", "plano", "mock-llm", "--host", "127.0.0.1", "--port", "{port}",
            "--chunks", "20", "--max-recorded", "0", "--text", "{text}",
        ]  # fmt: skip
        command = " ".join(mock).replace("{text}", "-".join(["word"] * LONGEST))
        upstream, up_port = targets.start_upstream(log_dir, 20, command)
        os.sched_setaffinity(0, {targets.LOAD_CORE})
        try:
            print(f"rounds {args.rounds}, quick {args.quick}")
            if not {"prompts", "streams"} <= skip:
                with serving(log_dir, up_port, args) as (pid, port):
                    if "prompts" not in skip:
                        part_prompts(pid, port, args)
                    if "streams" not in skip:
                        part_streams(pid, port, args)
            if "idle" not in skip:
                part_idle(log_dir, up_port, args)
        finally:
            procs.stop(upstream)


if __name__ == "__main__":
    main()
