"""A fake PostHog capture API on 127.0.0.1: records every POSTed batch, answers as scripted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


@dataclass
class Post:
    path: str
    content_type: str
    body: dict[str, Any]


class FakePosthog:
    """`statuses` answers the next POSTs in order (then 200). `wait_for(n)` blocks (bounded)
    until `n` events arrived."""

    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.url = f"http://127.0.0.1:{server.server_address[1]}"
        self.posts: list[Post] = []
        self.statuses: list[int] = []
        self.attempts = 0
        self._changed = threading.Condition()

    def received(self, post: Post) -> int:
        with self._changed:
            self.attempts += 1
            status = self.statuses.pop(0) if self.statuses else 200
            if status == 200:
                self.posts.append(post)
            self._changed.notify_all()
            return status

    def events(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._changed:
            return [
                e for p in self.posts if path is None or p.path == path for e in p.body["batch"]
            ]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 20.0) -> list[Any]:
        with self._changed:
            ok = self._changed.wait_for(lambda: len(self.events(path)) >= count, timeout)
        found = self.events(path)
        assert ok, f"expected {count} events, got {len(found)}: {found}"
        return found

    def wait_for_attempts(self, count: int, timeout: float = 20.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: self.attempts >= count, timeout), self.attempts


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        post = Post(self.path, self.headers.get("content-type") or "", orjson.loads(raw))
        status = self.server.fake.received(post)
        body = b'{"status": 1}' if status == 200 else b'{"error": "scripted"}'
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakePosthog


@contextmanager
def fake_posthog() -> Iterator[FakePosthog]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakePosthog(server)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield server.fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
