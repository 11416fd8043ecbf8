"""Gateway replicas behind HAProxy, as real processes: the parts of `tests/replicas`.

Each replica is `plano up --foreground --workers 1` with its own model port, admin port (whose
`/healthz` HAProxy checks) and `PLANO_HOME`, in its own process group (so a `kill -9` of the group
kills the replica, supervisor and worker). HAProxy runs in the foreground (`-db`) from a generated
config with L7 retries and redispatch; its stats page (CSV) tells when a server is up or down.
Readiness is always an observed state (a 200 from `/healthz`, a server UP in the stats), polled
within a generous bound, never a sleep.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

import plano

SRC = str(Path(plano.__file__).resolve().parents[1])
PLANO_UP = (sys.executable, "-m", "plano", "up")
ONE_WORKER = ("--foreground", "--workers", "1")
READY_S = 90.0  # generous: three replicas start at once on a shared 2-core machine


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except OSError:
        return 0, b""


def wait_until(what: str, check: Callable[[], bool], bound: float = READY_S) -> None:
    """Poll `check` until it holds; fail naming `what` past `bound` seconds."""
    end = time.monotonic() + bound
    while not check():
        if time.monotonic() > end:
            raise AssertionError(f"not within {bound:.0f}s: {what}")
        threading.Event().wait(0.05)


@dataclass
class Replica:
    name: str
    port: int
    admin: int
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, home: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.update(PYTHONPATH=SRC, PLANO_HOME=str(home), PLANO_ACCESS_LOG="off")
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*PLANO_UP, str(self.config), *ONE_WORKER, "--admin-port", str(self.admin)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches the worker
            )

    def healthy(self) -> bool:
        return (
            http_get(f"http://127.0.0.1:{self.admin}/healthz")[0] == 200
            and http_get(f"{self.url()}/v1/models")[0] == 200
        )

    def ready(self) -> bool:
        return self.alive() and self.healthy()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_9(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.proc.wait(20)
        with suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers of the group, if any
        self.proc.wait(30)

    def tail(self, n: int = 30) -> str:
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return f"--- {self.name} ({self.log}):\n" + "\n".join(lines[-n:])


HAPROXY_CFG = """global
    maxconn 4000

defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on all-retryable-errors
    option http-buffer-request

frontend gateway
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    http-response set-header X-Served-By %s
    default-server inter 250ms fall 2 rise 2
{servers}
listen stats
    bind 127.0.0.1:{stats}
    stats enable
    stats uri /stats
"""


def haproxy_config(port: int, stats: int, replicas: list[Replica]) -> str:
    servers = "".join(
        f"    server {r.name} 127.0.0.1:{r.port} check port {r.admin}\n" for r in replicas
    )
    return HAPROXY_CFG.format(port=port, stats=stats, servers=servers)


@dataclass
class Cluster:
    replicas: list[Replica]
    port: int
    stats: int
    home: Path
    haproxy: subprocess.Popen[bytes] | None = None
    clients: list[openai.OpenAI] = field(default_factory=list)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, base: str | None = None) -> openai.OpenAI:
        c = openai.OpenAI(
            base_url=f"{base or self.url()}/v1", api_key="client-key", max_retries=0, timeout=60
        )
        self.clients.append(c)
        return c

    def server_states(self) -> dict[str, str]:
        status, body = http_get(f"http://127.0.0.1:{self.stats}/stats;csv")
        if status != 200:
            return {}
        rows = csv.DictReader(io.StringIO(body.decode().lstrip("# ")))
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "replicas"}

    def wait_states(self, want: dict[str, str]) -> None:
        def holds() -> bool:
            states = self.server_states()
            return all(states.get(k, "").startswith(v) for k, v in want.items())

        try:
            wait_until(f"haproxy servers {want}", holds)
        except AssertionError:
            raise AssertionError(f"{self.server_states()}\n{self.tails()}") from None

    def tails(self) -> str:
        return "\n".join(r.tail() for r in self.replicas)


def replica_config(template: str, port: int) -> str:
    return template.replace("{port}", str(port))


@contextmanager
def cluster(tmp: Path, template: str, n: int = 3) -> Iterator[Cluster]:
    """`n` replicas of the config `template` (its `{port}` is each replica's model port)
    behind HAProxy, all ready; stopped (and HAProxy with them) on exit."""
    if shutil.which("haproxy") is None:
        raise AssertionError("haproxy is not installed (apt-get install -y haproxy; see .ci/run)")
    replicas = []
    for i in range(1, n + 1):
        port = free_port()
        cfg = tmp / f"r{i}.yaml"
        cfg.write_text(replica_config(template, port))
        replicas.append(Replica(f"r{i}", port, free_port(), cfg, tmp / f"r{i}.log"))
    c = Cluster(replicas, free_port(), free_port(), tmp)
    try:
        for r in replicas:
            r.start(tmp / f"home-{r.name}")
        for r in replicas:
            try:
                wait_until(f"replica {r.name} healthy", r.ready)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\n{c.tails()}") from None
        hcfg = tmp / "haproxy.cfg"
        hcfg.write_text(haproxy_config(c.port, c.stats, replicas))
        with (tmp / "haproxy.log").open("ab") as out:
            c.haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(hcfg)], stdout=out, stderr=subprocess.STDOUT
            )
        c.wait_states({r.name: "UP" for r in replicas})
        yield c
    finally:
        for client in c.clients:
            client.close()
        if c.haproxy is not None:
            c.haproxy.terminate()
            c.haproxy.wait(30)
        for r in replicas:
            r.stop()


@dataclass
class Load:
    """Closed-loop load: `threads` clients sending chat completions back to back until stopped;
    every failure is kept (type and message)."""

    make: Callable[[], openai.OpenAI]
    threads: int
    ok: int = 0
    failures: list[str] = field(default_factory=list)
    served: dict[str, int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self) -> None:
        c = self.make()
        while not self._stop.is_set():
            try:
                raw = c.chat.completions.with_raw_response.create(
                    model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
                )
                raw.parse()
                by = raw.headers.get("x-served-by", "direct")
                with self._lock:
                    self.ok += 1
                    self.served[by] = self.served.get(by, 0) + 1
            except Exception as exc:  # every client-visible failure counts
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Load:
        for _ in range(self.threads):
            t = threading.Thread(target=self._run, daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for t in self._workers:
            t.join(90)

    def wait_ok(self, n: int, what: str) -> None:
        wait_until(f"{what}: {n} successful requests (have {self.ok})", lambda: self.ok >= n)
