"""Micro-benchmark: uvicorn (httptools) vs LeanServer serving a trivial ASGI app.

Each server runs in its own process pinned to core 0 (`taskset -c 0`) and answers every request
with `{"ok":true}`; `wrk -t1 -c64` loads it from core 1. Rounds are interleaved and the median
req/s per server is printed. Not a test: numbers on a shared machine are noisy, read the ratio.
With `--raw`, a third contender: a hand-rolled httptools protocol that answers from its parser
callback with no ASGI at all (the shape of `baseline_proxy.py`), the ceiling for the other two.

    python bench/server_compare.py [--rounds 3] [--duration 5] [--raw]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, MutableMapping
from typing import Any

BODY = b'{"ok":true}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
SERVERS = ("uvicorn", "lean", "raw")
RAW_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
    % (len(BODY), BODY)
)


async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def serve_raw(sock: socket.socket) -> None:
    import asyncio

    import httptools
    import uvloop

    class Raw(asyncio.Protocol):
        def __init__(self) -> None:
            self.parser = httptools.HttpRequestParser(self)
            self.transport: Any = None

        def connection_made(self, transport: Any) -> None:
            self.transport = transport

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            self.transport.write(RAW_RESPONSE)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        server = await loop.create_server(Raw, sock=sock, backlog=2048)
        await stop.wait()
        server.close()

    uvloop.run(main())


def serve(kind: str, port: int) -> None:
    import uvloop

    if kind == "uvicorn":
        import uvicorn

        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            http="httptools",
            loop="uvloop",
            lifespan="off",
            access_log=False,
            proxy_headers=False,
            server_header=False,
            date_header=False,
            log_level="warning",
        )
        return
    from plano.http.server import LeanServer

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(2048)
    sock.setblocking(False)
    if kind == "raw":
        serve_raw(sock)
        return
    server = LeanServer(app)
    signal.signal(signal.SIGTERM, server.handle_exit)
    signal.signal(signal.SIGINT, server.handle_exit)
    uvloop.run(server.serve([sock]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError("server did not start")


@contextlib.contextmanager
def server_process(kind: str, port: int) -> Iterator[None]:
    cmd = ["taskset", "-c", "0", sys.executable, __file__, "--serve", kind, "--port", str(port)]
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), "..", "src"))
    proc = subprocess.Popen(cmd, env=env)
    try:
        wait_ready(port, proc)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def load(port: int, duration: int) -> float:
    cmd = ["taskset", "-c", "1", "wrk", "-t1", "-c64", f"-d{duration}s", "--timeout", "10s"]
    out = subprocess.run(
        [*cmd, f"http://127.0.0.1:{port}/"], capture_output=True, text=True, check=True
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        print(f"  wrk reported: {errors.group(0)}", file=sys.stderr)
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--raw", action="store_true", help="also run the hand-rolled ceiling")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    kinds = SERVERS if args.raw else SERVERS[:2]
    results: dict[str, list[float]] = {kind: [] for kind in kinds}
    for rnd in range(args.rounds):
        order = kinds if rnd % 2 == 0 else kinds[::-1]
        for kind in order:
            port = free_port()
            with server_process(kind, port):
                load(port, 1)  # warm-up
                rps = load(port, args.duration)
            results[kind].append(rps)
            print(f"round {rnd + 1}: {kind:8s} {rps:10,.0f} req/s", flush=True)
    med = {kind: statistics.median(v) for kind, v in results.items()}
    for kind in kinds:
        print(f"median  {kind:8s} {med[kind]:10,.0f} req/s")
    print(f"lean / uvicorn = {med['lean'] / med['uvicorn']:.2f}")
    if args.raw:
        print(f"lean / raw     = {med['lean'] / med['raw']:.2f}")


if __name__ == "__main__":
    main()
