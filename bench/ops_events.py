"""What an operations event costs under load: a reload (SIGHUP) and a `kill -9` of one worker.

    PYTHONPATH=src .venv/bin/python bench/ops_events.py [--seconds 12] [--json out.json]

Starts the fake upstream (`plano mock-llm`) and, for each event, a fresh gateway
(`plano up --foreground --workers 2`). It first measures the gateway's maximum throughput briefly
(wrk, closed loop, when wrk is installed; else this script's own loader, closed loop), then drives
non-streaming chat requests at half of it with a fixed-rate (open-loop) loader over keep-alive
connections, fires the event a third of the way in, and reports requests sent, failed (by kind;
the target is 0) and the p99 latency before the event (after a 1 s warm-up), during it (the 2 s
after) and after.
Latency counts from the time a request was due, so a stall shows even when no request fails.

A worker is a direct child of the supervisor: one whose command line names `plano.runtime.worker`
when the runtime starts workers that way, else a multiprocessing child that is not the resource
tracker. The kill event also reports when the supervisor had started a new worker process (it
serves a moment later, once it has loaded the config).
Not a test: nothing is asserted, and it takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import loadgen
import procs

DURING_S: Final = 2.0  # the window after the event that counts as "during"
WARMUP_S: Final = 1.0  # the first second of load (connections opening) is not "before"
CONNECTIONS: Final = 64  # the fixed-rate loader's keep-alive connections
WORKERS: Final = 2

CONFIG: Final = """\
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}, timeout: 30s}}
model_providers:
  - {{model: openai/gpt-4o, base_url: "http://127.0.0.1:{upstream}", access_key: k, default: true}}
"""


# ---- the gateway and its workers ------------------------------------------------------------


def start_gateway(log_dir: Path, upstream: int, name: str) -> tuple[procs.Service, int]:
    port = procs.free_port()
    cfg = log_dir / f"{name}.yaml"
    cfg.write_text(CONFIG.format(port=port, upstream=upstream))
    cmd = [sys.executable, "-m", "plano", "up", str(cfg), "--foreground"]
    cmd += ["--workers", str(WORKERS), "--admin-port", str(procs.free_port())]
    env = {"PLANO_ACCESS_LOG": "off", "PLANO_HOME": str(log_dir / f"home-{name}")}
    with open(log_dir / f"{name}.log", "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **env},
            start_new_session=True,
        )
    service = procs.Service(name, proc, log_dir / f"{name}.log")
    procs.wait_line(service, "plano ready", timeout=90)
    return service, port


def stop_gateway(service: procs.Service) -> None:
    procs.stop(service, grace=15)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGKILL)  # an orphaned worker, if the supervisor died


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return sorted(out)


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's worker processes (see the module docstring)."""
    kids = [(p, _cmdline(p)) for p in _children(supervisor)]
    named = [p for p, cmd in kids if "plano.runtime.worker" in cmd]
    if named:
        return named
    return [p for p, cmd in kids if "multiprocessing" in cmd and "resource_tracker" not in cmd]


# ---- load ----------------------------------------------------------------------------------


def request_bytes(port: int) -> bytes:
    body = loadgen.chat_body(stream=False)
    head = (
        f"POST {loadgen.PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\nAuthorization: Bearer client-key\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Sample:
    due: float  # when the request was due (loop time)
    latency: float  # seconds from due to the end of the response
    failure: str | None  # None, or the kind of failure


@dataclass
class Connection:
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    used: int = 0

    async def exchange(self, data: bytes) -> str | None:
        """One request; None when it got a 200, else the failure's kind."""
        if self.writer is None:
            try:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                return "connect refused"
            self.used = 0
        reused = self.used > 0
        self.used += 1
        assert self.reader is not None
        try:
            self.writer.write(data)
            await self.writer.drain()
            status_line = await self.reader.readuntil(b"\r\n")
            status = int(status_line.split()[1])
            length, close = 0, False
            while (line := await self.reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.partition(b":")
                key = name.strip().lower()
                if key == b"content-length":
                    length = int(value)
                elif key == b"connection" and value.strip().lower() == b"close":
                    close = True
            await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            self.close()
            return "reset on a reused connection" if reused else "reset"
        if close:
            self.close()
        return None if status == 200 else f"status {status}"

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


@dataclass
class Run:
    samples: list[Sample] = field(default_factory=list)
    started: float = 0.0
    event_at: float = 0.0
    event_note: str = ""


async def fixed_rate(port: int, rate: float, seconds: float, event: Any, event_after: float) -> Run:
    """Send at `rate` requests/s for `seconds`; call `event()` (in a thread) `event_after` s in."""
    loop = asyncio.get_running_loop()
    data = request_bytes(port)
    run = Run()
    due: asyncio.Queue[float | None] = asyncio.Queue()

    async def worker() -> None:
        conn = Connection(port)
        while (t := await due.get()) is not None:
            failure = await conn.exchange(data)
            run.samples.append(Sample(t, loop.time() - t, failure))
        conn.close()

    async def fire() -> None:
        await asyncio.sleep(event_after)
        run.event_at = loop.time()
        run.event_note = await asyncio.to_thread(event)

    tasks = [asyncio.create_task(worker()) for _ in range(CONNECTIONS)]
    firing = asyncio.create_task(fire())
    start = run.started = loop.time()
    n = int(rate * seconds)
    for i in range(n):
        t = start + i / rate
        delay = t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(t)
    for _ in tasks:
        due.put_nowait(None)
    await asyncio.gather(*tasks)
    await firing
    return run


async def closed_loop(port: int, seconds: float) -> float:
    """Requests/s with CONNECTIONS connections back to back (when wrk is not installed)."""
    loop = asyncio.get_running_loop()
    data = request_bytes(port)
    end = loop.time() + seconds
    done = 0

    async def worker() -> None:
        nonlocal done
        conn = Connection(port)
        while loop.time() < end:
            if await conn.exchange(data) is None:
                done += 1
        conn.close()

    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return done / seconds


def max_throughput(port: int, log_dir: Path, seconds: float = 3.0) -> tuple[float, str]:
    if loadgen.wrk_path() is not None:
        script = loadgen.write_lua(log_dir, stream=False)
        url = f"http://127.0.0.1:{port}{loadgen.PATH}"
        cmd = ["wrk", "-t", "1", "-c", str(CONNECTIONS), "-d", f"{seconds:g}s", "--latency"]
        out = subprocess.run(
            [*cmd, "-s", str(script), url], capture_output=True, text=True, timeout=60, check=False
        )
        return loadgen.parse(out.stdout).rps, "wrk"
    return asyncio.run(closed_loop(port, seconds)), "python loader"


# ---- report --------------------------------------------------------------------------------


def p99_ms(samples: list[Sample]) -> float | None:
    lat = sorted(s.latency for s in samples)
    if not lat:
        return None
    return lat[min(len(lat) - 1, int(0.99 * len(lat)))] * 1000


def summarise(name: str, run: Run) -> dict[str, Any]:
    warm = run.started + WARMUP_S
    before = [s for s in run.samples if warm <= s.due < run.event_at]
    during = [s for s in run.samples if run.event_at <= s.due < run.event_at + DURING_S]
    after = [s for s in run.samples if s.due >= run.event_at + DURING_S]
    kinds: dict[str, int] = {}
    for s in run.samples:
        if s.failure is not None:
            kinds[s.failure] = kinds.get(s.failure, 0) + 1
    return {
        "event": name,
        "note": run.event_note,
        "sent": len(run.samples),
        "failed": sum(kinds.values()),
        "failures": kinds,
        "p99_ms_before": p99_ms(before),
        "p99_ms_during": p99_ms(during),
        "p99_ms_after": p99_ms(after),
    }


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def print_table(max_rps: float, how: str, rate: float, rows: list[dict[str, Any]]) -> None:
    print(f"max throughput {max_rps:.0f} req/s ({how}); load at {rate:.0f} req/s")
    print(f"{'event':<10} {'sent':>6} {'failed':>6} {'p99 before':>11} {'during':>8} {'after':>8}")
    for r in rows:
        print(
            f"{r['event']:<10} {r['sent']:>6} {r['failed']:>6} {_ms(r['p99_ms_before']):>11} "
            f"{_ms(r['p99_ms_during']):>8} {_ms(r['p99_ms_after']):>8}  {r['note']}"
        )
        for kind, n in sorted(r["failures"].items()):
            print(f"{'':<10} {n:>6} x {kind}")


# ---- events --------------------------------------------------------------------------------


def reload_event(service: procs.Service) -> Any:
    def fire() -> str:
        service.proc.send_signal(signal.SIGHUP)
        try:
            code = service.proc.wait(3.0)
        except subprocess.TimeoutExpired:
            return "supervisor alive after SIGHUP"
        return f"supervisor EXITED on SIGHUP ({code}): no hot reload in this tree"

    return fire


def kill_event(service: procs.Service) -> Any:
    def fire() -> str:
        before = workers_of(service.pid)
        if not before:
            return "no worker found"
        victim = before[0]
        os.kill(victim, signal.SIGKILL)
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            now = workers_of(service.pid)
            if len(now) >= len(before) and victim not in now:
                took = time.monotonic() - t0
                return f"worker {victim} killed; a new one started after {took:.2f}s"
            time.sleep(0.02)
        return f"worker {victim} killed; not replaced within 30 s"

    return fire


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=12.0, help="load per event (default 12)")
    parser.add_argument("--rate", type=float, default=None, help="fixed rate (default: max / 2)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="plano-ops-") as tmp:
        log_dir = Path(tmp)
        upstream, up_port = start_upstream(log_dir)
        try:
            gw, port = start_gateway(log_dir, up_port, "probe")
            try:
                max_rps, how = max_throughput(port, log_dir)
            finally:
                stop_gateway(gw)
            rate = args.rate or max(10.0, max_rps / 2)
            rows = []
            for name, make in (("reload", reload_event), ("kill -9", kill_event)):
                gw, port = start_gateway(log_dir, up_port, name.replace(" ", ""))
                try:
                    run = asyncio.run(
                        fixed_rate(port, rate, args.seconds, make(gw), args.seconds / 3)
                    )
                finally:
                    stop_gateway(gw)
                rows.append(summarise(name, run))
        finally:
            procs.stop(upstream)
    print_table(max_rps, how, rate, rows)
    if args.json is not None:
        args.json.write_text(json.dumps({"max_rps": max_rps, "rate": rate, "events": rows}))
    return 0


def start_upstream(log_dir: Path) -> tuple[procs.Service, int]:
    port = procs.free_port()
    cmd = [sys.executable, "-m", "plano", "mock-llm", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_dir / "upstream.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    service = procs.Service("upstream", proc, log_dir / "upstream.log")
    procs.wait_port(service, port)
    return service, port


if __name__ == "__main__":
    sys.exit(main())
