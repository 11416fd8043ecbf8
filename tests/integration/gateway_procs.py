"""Helpers for tests that run `plano up` as real processes: start, read the log, load, inspect."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

import plano as plano_pkg

SRC = str(Path(plano_pkg.__file__).resolve().parents[1])
WAIT = 90.0  # generous bound for anything a test waits for (a slow, shared CI host)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_env(home: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e.pop("PROMETHEUS_MULTIPROC_DIR", None)
    e["PLANO_HOME"] = str(home)
    e["PLANO_ADMIN_PORT"] = str(free_port())  # not the fixed default: tests may run side by side
    e["PLANO_ACCESS_LOG"] = "off"
    # Subprocesses import the same tree as the tests, whatever their working directory.
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, e.get("PYTHONPATH")]))
    return e


def config_text(upstream: Any, port: int, *, alias_target: str = "gpt-4o") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}}}
model_providers:
  - model: openai/gpt-4o
    access_key: $TEST_UPSTREAM_KEY
    base_url: {upstream.base_url}
    default: true
  - model: openai/gpt-4o-mini
    access_key: $TEST_UPSTREAM_KEY
    base_url: {upstream.base_url}
  - model: openai/gpt-4.1
    access_key: $TEST_UPSTREAM_KEY
    base_url: {upstream.base_url}
model_aliases:
  smart: {{target: {alias_target}}}
"""


def write_config(path: Path, upstream: Any, port: int, **kw: Any) -> Path:
    path.write_text(config_text(upstream, port, **kw))
    (path.parent / ".env").write_text("TEST_UPSTREAM_KEY=sk-test\n")
    return path


def plano(
    *args: str, env: dict[str, str], timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Gateway:
    """`plano up --foreground` in its own process group; its output is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "plano", "up", *args, "--foreground"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self.lines.append("")  # EOF marker
            self._cond.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        with self._cond:
            return "".join(self.lines)

    def wait_line(self, needle: str, count: int = 1, within: float = WAIT) -> str:
        """The `count`-th line containing `needle`, once it was printed."""

        def found() -> list[str]:
            return [line for line in self.lines if needle in line]

        with self._cond:
            ok = self._cond.wait_for(
                lambda: len(found()) >= count or (self.lines and self.lines[-1] == ""),
                timeout=within,
            )
            hits = found()
            if ok and len(hits) >= count:
                return hits[count - 1]
        raise AssertionError(f"no {count}x {needle!r} in the output:\n{self.output()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._reader.join(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def children(pid: int) -> list[int]:
    out = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True, check=False
    ).stdout
    return [int(p) for p in out.split()]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(cond: Callable[[], bool], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def chat(port: int, model: str = "gpt-4o", retries: int = 0, **kw: Any) -> Any:
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=retries, timeout=60
    ) as c:
        result = c.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hi"}], **kw
        )
        return list(result) if kw.get("stream") else result


def healthy(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return bool(resp.status == 200)


@dataclass
class Load:
    """Client threads calling `fn` in a loop (a new connection each time) until stopped."""

    fn: Callable[[], object]
    threads: int = 4
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.fn()
            except Exception as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
            else:
                with self._lock:
                    self.ok += 1

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def wait_ok(self, more: int, within: float = WAIT) -> None:
        """Until `more` further calls succeeded."""
        target = self.ok + more
        wait_until(lambda: self.ok >= target, f"{more} more successful calls", within)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(timeout=WAIT)


@dataclass
class Started:
    gateways: list[Gateway] = field(default_factory=list)

    def __call__(self, args: list[str], env: dict[str, str], ready: bool = True) -> Gateway:
        gw = Gateway(args, env)
        self.gateways.append(gw)
        if ready:
            gw.wait_line("plano ready")
        return gw


def started() -> Iterator[Started]:
    s = Started()
    yield s
    for gw in s.gateways:
        gw.stop()
